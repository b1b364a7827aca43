"""The model registry: every model a study trains is built here, by name, from ``config.model``.

All models share one call, ``model.apply(variables, x, train=bool) -> outputs``; batch-norm
statistics live in the ``batch_stats`` collection and dropout draws from the ``'dropout'`` rng
stream (``dl_jax.models.layers``), so the one trainer serves them all. Classes are imported lazily
by name so that importing the registry stays cheap.

Families (module -> lecture):
  mnist1d      logistic, mlp, conv1d (alias: cnn) — Greydanus (2020)'s MNIST-1D baselines
  sequence     rnn, gru, lstm — recurrent nets over sequences (chapter 3); their read-out
               (all outputs flattened, last output, every output) is a model_kwarg
  cnn          lenet5 … resnet56 — the CNN family (chapter 2)
  digits_cnn   digits_cnn — the small CNN of the classic-vs-deep comparison (chapter 1)
  autoencoder  dense_autoencoder — Hinton & Salakhutdinov (2006), scaled down (chapter 1)
  dbn          dbn_classifier — a sigmoid net initialised from a greedy RBM stack (chapter 1)
  seq2seq      seq2seq — encoder–decoder LSTMs with optional attention, translation (chapter 4)
"""

from __future__ import annotations

import dataclasses
import importlib

from dl_jax.errors import UserError

# name -> (module, class, fixed keyword arguments)
_REGISTRY: dict[str, tuple[str, str, dict]] = {}
# old name -> registered name (kept so earlier commands keep working)
_ALIASES: dict[str, str] = {"cnn": "conv1d"}


def register(name: str, module: str, attribute: str, **fixed_kwargs) -> None:
    """Adds ``module.attribute`` (a linen Module class) to the registry as ``name``."""
    if name in _REGISTRY or name in _ALIASES:
        raise ValueError(f"model name {name!r} is already registered")
    _REGISTRY[name] = (module, attribute, fixed_kwargs)


register("logistic", "dl_jax.models.mnist1d", "LogisticRegression")
register("mlp", "dl_jax.models.mnist1d", "MLP")
register("conv1d", "dl_jax.models.mnist1d", "Conv1DNet")
for _cell in ("rnn", "gru", "lstm"):
    register(_cell, "dl_jax.models.sequence", "RecurrentNet", cell=_cell)
for _name, _cls in (
    ("lenet5", "LeNet5"), ("alexnet", "AlexNet"), ("zfnet", "ZFNet"),
    ("vgg11", "VGG11"), ("vgg13", "VGG13"), ("vgg16", "VGG16"), ("vgg19", "VGG19"),
    ("googlenet", "GoogLeNet"), ("resnet18", "ResNet18"), ("resnet34", "ResNet34"),
    ("resnet50", "ResNet50"), ("resnet20", "ResNet20"), ("resnet32", "ResNet32"),
    ("resnet44", "ResNet44"), ("resnet56", "ResNet56"),
):
    register(_name, "dl_jax.models.cnn", _cls)
register("digits_cnn", "dl_jax.models.digits_cnn", "DigitsCNN")
register("dense_autoencoder", "dl_jax.models.autoencoder", "DenseAutoencoder")
register("dbn_classifier", "dl_jax.models.dbn", "DBNClassifier")
register("seq2seq", "dl_jax.models.seq2seq", "Seq2Seq")


def model_names() -> tuple[str, ...]:
    """All registered model names, sorted (aliases not included)."""
    return tuple(sorted(_REGISTRY))


def canonical_name(name: str) -> str:
    """The registered name behind ``name`` (an alias or itself); UserError if unknown."""
    name = _ALIASES.get(name, name)
    if name not in _REGISTRY:
        raise UserError(f"unknown model {name!r}: choose one of {', '.join(model_names())}")
    return name


def model_class(name: str):
    """The linen Module class registered as ``name`` (or its alias)."""
    module, attribute, _ = _REGISTRY[canonical_name(name)]
    return getattr(importlib.import_module(module), attribute)


def get_model(name: str, num_classes: int | None = None, **kwargs):
    """Builds a registered model.

    Args:
      name: registered model name (see ``model_names()``) or an alias.
      num_classes: size of the logits; passed only to models that declare it.
      **kwargs: constructor arguments (from the config's ``model_kwargs``).

    Returns:
      A Flax linen module.

    Raises:
      UserError: unknown name (the message lists the valid ones), or constructor arguments the
        model rejects (unknown keyword, invalid value checked at construction).
    """
    cls = model_class(name)
    _, _, fixed = _REGISTRY[canonical_name(name)]
    fields = {f.name for f in dataclasses.fields(cls)}
    if num_classes is not None and "num_classes" in fields:
        kwargs = {"num_classes": num_classes, **kwargs}
    unknown = sorted(set(kwargs) - fields)
    if unknown:
        valid = sorted(fields - {"parent", "name", *fixed})
        raise UserError(f"model {name!r} has no argument {unknown[0]!r}: model_kwargs may set "
                        f"{', '.join(valid)}")
    try:
        return cls(**{**fixed, **kwargs})
    except (TypeError, ValueError) as error:  # an invalid model_kwargs value
        raise UserError(f"model {name!r}: {error}") from error
