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
      UserError: unknown name (the message lists the valid ones).
    """
    if name not in _REGISTRY:
        raise UserError(f"unknown model {name!r}: choose one of {', '.join(model_names())}")
    module, attribute, fixed = _REGISTRY[name]
    cls = getattr(importlib.import_module(module), attribute)
    return cls(num_classes=num_classes, **{**fixed, **kwargs})
