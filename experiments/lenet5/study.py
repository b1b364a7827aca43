"""LeNet-5 (LeCun et al. 1998) with the image-classification study's data path and trainer."""

from __future__ import annotations

import jax

from dl_jax.errors import UserError
from dl_jax.models.cnn import fastest_conv_form
from experiments.image_classification import study as image_study
from experiments.lenet5.config import AUTO_CONV_FORM


def resolve_conv_form(config):
    """A copy of ``config`` whose ``model_kwargs.conv_form`` names a form, not ``'auto'``.

    Runs once at the start of the run, outside any trace (the model never reads the backend).
    """
    config = config.copy_and_resolve_references()
    if config.model_kwargs.get("conv_form") == AUTO_CONV_FORM:
        config.model_kwargs.conv_form = fastest_conv_form(jax.default_backend())
    return config


def run(config, workdir: str) -> dict:
    """Trains and evaluates LeNet-5 on ``config.dataset`` (digits brought to 32x32 by default).

    Returns:
      The summary (``test_accuracy``, ``input_shape`` ...), or ``{}`` if the run stopped early.

    Raises:
      UserError: ``config.model`` is not ``lenet5`` (experiments.image_classification trains
        the other models).
    """
    if config.model != "lenet5":
        raise UserError(f"the lenet5 study trains model 'lenet5' only, got {config.model!r}: "
                        "choose lenet5, or run experiments.image_classification for other models")
    return image_study.run(resolve_conv_form(config), workdir)
