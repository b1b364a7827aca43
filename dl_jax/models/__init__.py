"""Model registry: every classifier is built as ``get_model(name, num_classes, **kwargs)``.

All classifiers share one call, ``model.apply(variables, x, train=bool, ...) -> logits``; batch
norm statistics live in the ``batch_stats`` collection and dropout draws from the ``'dropout'``
rng stream, so the one trainer serves them all. Modules are imported lazily by name so that
importing the registry stays cheap.
"""

from __future__ import annotations

import importlib

from dl_jax.errors import UserError

# name -> (module, attribute, fixed keyword arguments)
_REGISTRY: dict[str, tuple[str, str, dict]] = {
    "logistic": ("dl_jax.models.mlp", "LogisticRegression", {}),
    "mlp": ("dl_jax.models.mlp", "MLP", {}),
    "cnn": ("dl_jax.models.mlp", "Conv1DNet", {}),
    # MNIST-1D's recurrent baselines (bidirectional, all outputs read out, as the paper).
    "rnn": ("dl_jax.models.sequence", "FlattenedRecurrent", {"cell": "rnn"}),
    "gru": ("dl_jax.models.sequence", "FlattenedRecurrent", {"cell": "gru"}),
    "lstm": ("dl_jax.models.sequence", "FlattenedRecurrent", {"cell": "lstm"}),
    # The lecture's CNN family (dl_jax.models.cnn).
    **{
        name: ("dl_jax.models.cnn", cls, {})
        for name, cls in (
            ("lenet5", "LeNet5"), ("alexnet", "AlexNet"), ("zfnet", "ZFNet"),
            ("vgg11", "VGG11"), ("vgg13", "VGG13"), ("vgg16", "VGG16"), ("vgg19", "VGG19"),
            ("googlenet", "GoogLeNet"), ("resnet18", "ResNet18"), ("resnet34", "ResNet34"),
            ("resnet50", "ResNet50"), ("resnet20", "ResNet20"), ("resnet32", "ResNet32"),
            ("resnet44", "ResNet44"), ("resnet56", "ResNet56"),
        )
    },
}


def register(name: str, module: str, attribute: str, **fixed_kwargs) -> None:
    """Adds a model to the registry (used by the zoo modules below)."""
    _REGISTRY[name] = (module, attribute, fixed_kwargs)


def model_names() -> tuple[str, ...]:
    """All registered model names, sorted."""
    return tuple(sorted(_REGISTRY))


def get_model(name: str, num_classes: int, **kwargs):
    """Builds a registered classifier.

    Args:
      name: registered model name (see ``model_names()``).
      num_classes: size of the logits.
      **kwargs: extra constructor arguments (from the config's ``model_kwargs``).

    Returns:
      A Flax linen module.

    Raises:
      UserError: unknown name (the message lists the valid ones), or constructor arguments the
        model rejects (unknown keyword, invalid value checked at construction).
    """
    if name not in _REGISTRY:
        raise UserError(f"unknown model {name!r}: choose one of {', '.join(model_names())}")
    module, attribute, fixed = _REGISTRY[name]
    cls = getattr(importlib.import_module(module), attribute)
    try:
        return cls(num_classes=num_classes, **{**fixed, **kwargs})
    except (TypeError, ValueError) as error:  # an unknown or invalid model_kwargs entry
        raise UserError(f"model {name!r}: {error}") from error
