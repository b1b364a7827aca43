"""Image preprocessing for the CNN experiments: resizing, padding, per-channel standardisation.

These run once on the in-memory numpy splits (not per step), so they may use jax.image freely.
"""

from __future__ import annotations

import dataclasses

import jax
import numpy as np

from dl_jax.data import Dataset, Split


def _map_inputs(dataset: Dataset, fn) -> Dataset:
    return dataclasses.replace(
        dataset,
        train=Split(fn(dataset.train.inputs), dataset.train.labels),
        test=Split(fn(dataset.test.inputs), dataset.test.labels),
    )


def resize(dataset: Dataset, size: int, *, method: str = "bilinear") -> Dataset:
    """Resizes every image (N, H, W, C) to (N, size, size, C)."""

    def fn(images):
        n, _, _, c = images.shape
        return np.asarray(jax.image.resize(images, (n, size, size, c), method=method))

    return _map_inputs(dataset, fn)


def pad(dataset: Dataset, border: int) -> Dataset:
    """Zero-pads every image by ``border`` pixels on each side (LeNet's 28 -> 32)."""
    widths = ((0, 0), (border, border), (border, border), (0, 0))
    return _map_inputs(dataset, lambda images: np.pad(images, widths))


def to_lenet_input(dataset: Dataset) -> Dataset:
    """Brings a grey-level digit dataset to LeNet-5's 32x32x1 input.

    LeCun et al. (1998) centre the 20x20 MNIST digit in a 28x28 field and pad it to 32x32 so
    that stroke end-points can reach the centre of the top feature detectors. We do the same:
    28x28 images (MNIST) are padded by 2; any other size (scikit-learn's 8x8 digits) is resized
    bilinearly to 20x20 — the digit box of MNIST — and padded by 6.
    """
    height = dataset.input_shape[0]
    if height == 28:
        return pad(dataset, 2)
    if height == 32:
        return dataset
    return pad(resize(dataset, 20), 6)


def standardize(dataset: Dataset) -> tuple[Dataset, np.ndarray, np.ndarray]:
    """Subtracts the training set's per-channel mean and divides by its std.

    Returns:
      The standardised dataset, the mean and the std (for reporting or inverse transforms).
    """
    axes = tuple(range(dataset.train.inputs.ndim - 1))
    mean = dataset.train.inputs.mean(axis=axes, dtype=np.float64).astype(np.float32)
    std = dataset.train.inputs.std(axis=axes, dtype=np.float64).astype(np.float32) + 1e-6
    return _map_inputs(dataset, lambda images: (images - mean) / std), mean, std
