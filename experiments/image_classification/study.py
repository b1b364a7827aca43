"""Image classification with any model of the zoo: dataset preparation + the shared trainer.

Also the engine of ``experiments.lenet5``. The config's image fields (``image_config``):
``image_size`` (0 keeps the native size), ``lenet_input`` (bring grey digits to LeNet-5's 32x32
field, ``dl_jax.data.image.to_lenet_input``), ``standardize`` (per-channel mean/std of the
training set) and ``augment`` with ``augment_kwargs`` (``none``, ``affine`` distortions as LeCun
et al. 1998, ``crop_flip`` as He et al. 2016; ``dl_jax.data.augment``).
"""

from __future__ import annotations

from dl_jax.data import Dataset, load_dataset
from dl_jax.data import augment as augment_lib
from dl_jax.data import image as image_lib
from dl_jax.errors import UserError
from dl_jax.training.trainer import TrainResult, train_and_evaluate


def prepare(config) -> Dataset:
    """Loads ``config.dataset`` and applies the configured resizing and standardisation."""
    dataset = load_dataset(config.dataset, data_dir=config.data_dir or None)
    if len(dataset.input_shape) != 3:
        raise UserError(f"dataset {config.dataset!r} is not an image dataset "
                        f"(example shape {dataset.input_shape})")
    if config.lenet_input:
        dataset = image_lib.to_lenet_input(dataset)
    elif config.image_size:
        dataset = image_lib.resize(dataset, config.image_size)
    if config.standardize:
        dataset, _, _ = image_lib.standardize(dataset)
    return dataset


def augmentation(config):
    """The configured per-example augmentation function, or None."""
    if config.augment not in augment_lib.AUGMENTATIONS:
        raise UserError(f"unknown augment {config.augment!r}: choose one of "
                        f"{', '.join(augment_lib.AUGMENTATIONS)}")
    factory = augment_lib.AUGMENTATIONS[config.augment]
    return None if factory is None else factory(**config.augment_kwargs.to_dict())


def train(config, workdir: str) -> TrainResult:
    """Prepares the data and trains ``config.model`` with the shared trainer."""
    augment_fn = augmentation(config)
    dataset = prepare(config)
    return train_and_evaluate(config, workdir, dataset=dataset, augment_fn=augment_fn,
                              extra_summary={"input_shape": list(dataset.input_shape)})


def run(config, workdir: str) -> dict:
    """Trains and evaluates ``config.model`` on ``config.dataset``.

    Returns:
      The summary (``test_accuracy``, ``input_shape`` ...), or ``{}`` if the run stopped early.
    """
    return train(config, workdir).summary
