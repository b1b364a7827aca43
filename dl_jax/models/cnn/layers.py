"""Building blocks shared by the CNN family: pools, normalisation, the classifier head.

* ``adaptive_avg_pool``: PyTorch's ``AdaptiveAvgPool2d`` bins (AlexNet, ZFNet, VGG, GoogLeNet's
  auxiliary heads run on any input size through it).
* ``local_response_norm``: Krizhevsky et al. (2012)'s normalisation across channels.
* ``max_pool_ceil``: Caffe's ceil-rounded max pooling (ZFNet, GoogLeNet).
* ``Classifier``: the two dropout-regularised 4096-unit layers of AlexNet, ZFNet and VGG.
* ``ToeplitzConv``: a convolution layer computed as one banded matmul (LeNet-5 on CPU).
"""

from __future__ import annotations

import math
from typing import Any

import flax.linen as nn
import jax.numpy as jnp
import numpy as np
from jax import lax

from dl_jax import ops
from dl_jax.models import layers

Array = Any


def _averaging_matrix(in_size: int, out_size: int, dtype: Any) -> np.ndarray:
    """(out, in) matrix whose row i averages PyTorch's adaptive bin i of an axis of length in.

    Built in ``dtype`` (the input's), so a float64 computation averages with float64 weights.
    """
    matrix = np.zeros((out_size, in_size), dtype)
    for i in range(out_size):
        start = (i * in_size) // out_size
        end = math.ceil((i + 1) * in_size / out_size)
        matrix[i, start:end] = 1.0 / (end - start)
    return matrix


def adaptive_avg_pool(x: Array, output_size: tuple[int, int]) -> Array:
    """Adaptive average pooling of an NHWC array to a fixed spatial grid.

    Bin ``i`` along an axis of length ``n`` averages ``[floor(i n / m), ceil((i + 1) n / m))``,
    the bins of PyTorch's ``AdaptiveAvgPool2d``. When ``n`` is a multiple of ``m`` this is plain
    average pooling; when ``n < m`` values are repeated. It is written as two small averaging
    matrices so XLA lowers it to dot products.

    Args:
        x: Array of shape ``(N, H, W, C)``.
        output_size: Target ``(H_out, W_out)``.

    Returns:
        Array of shape ``(N, H_out, W_out, C)``.
    """
    out_h, out_w = output_size
    if x.shape[1:3] == (out_h, out_w):
        return x
    rows = jnp.asarray(_averaging_matrix(x.shape[1], out_h, x.dtype))
    cols = jnp.asarray(_averaging_matrix(x.shape[2], out_w, x.dtype))
    return jnp.einsum("ph,nhwc,qw->npqc", rows, x, cols)


def local_response_norm(
    x: Array, size: int = 5, alpha: float = 1e-4, beta: float = 0.75, k: float = 2.0
) -> Array:
    """Local response normalisation across channels (Krizhevsky et al. 2012, section 3.3).

    ``b_c = a_c / (k + alpha / size * sum_{c' near c} a_{c'}^2) ** beta`` with ``size``
    neighbouring channels centred on ``c`` (PyTorch's ``LocalResponseNorm`` scaling).

    Args:
        x: NHWC array.
        size: Number of neighbouring channels in the sum.
        alpha: Scale of the sum of squares.
        beta: Exponent.
        k: Additive constant.

    Returns:
        Array of the same shape as ``x``.
    """
    squares = lax.reduce_window(
        x * x,
        0.0,
        lax.add,
        (1, 1, 1, size),
        (1, 1, 1, 1),
        [(0, 0), (0, 0), (0, 0), (size // 2, (size - 1) // 2)],
    )
    return x / (k + alpha / size * squares) ** beta


def max_pool_ceil(x: Array, window: int, stride: int) -> Array:
    """Max pooling with Caffe's / PyTorch's ``ceil_mode=True`` output size and no padding.

    The output has ``ceil((n - window) / stride) + 1`` positions, the last window being allowed
    to hang over the high edge (it is padded with -inf so only real values compete).
    """
    pads = []
    for size in x.shape[1:3]:
        out = -(-(size - window) // stride) + 1
        if (out - 1) * stride >= size:  # the last window must start inside the input
            out -= 1
        pads.append((0, max((out - 1) * stride + window - size, 0)))
    return nn.max_pool(x, (window, window), (stride, stride), padding=pads)


class Classifier(nn.Module):
    """The AlexNet/VGG/ZFNet head: two dropout-regularised 4096-unit ReLU layers and logits.

    Attributes:
        num_classes: Number of output logits.
        hidden: Width of the two hidden layers.
        dropout_first: Put dropout before each hidden layer (AlexNet) instead of after (VGG).
        rate: Dropout rate.
    """

    num_classes: int
    hidden: int = 4096
    dropout_first: bool = False
    rate: float = 0.5

    @nn.compact
    def __call__(self, x: Array, *, train: bool) -> Array:
        """Logits for features ``(N, ...)`` (flattened); ``train`` enables dropout."""
        x = x.reshape(x.shape[0], -1)
        for _ in range(2):
            if self.dropout_first:
                x = layers.Dropout(self.rate, deterministic=not train)(x)
            x = nn.relu(nn.Dense(self.hidden)(x))
            if not self.dropout_first:
                x = layers.Dropout(self.rate, deterministic=not train)(x)
        return nn.Dense(self.num_classes, name="logits")(x)


class ToeplitzConv(nn.Module):
    """A VALID, stride-1 2D convolution computed by ``ops.conv2d_toeplitz`` (one banded matmul).

    Its parameters are those of ``nn.Conv(features, kernel_size, padding="VALID")``: the same
    names (``kernel`` ``(kh, kw, C_in, C_out)``, ``bias``) and initialisers, so a parameter tree
    trained with one runs with the other and the same seed initialises both alike.

    Attributes:
        features: Number of filters ``C_out``.
        kernel_size: ``(kh, kw)``.
        block: Output columns per band (``ops.conv2d_toeplitz``): ``'auto'``, an int or None.
    """

    features: int
    kernel_size: tuple[int, int]
    block: int | str | None = "auto"

    @nn.compact
    def __call__(self, x: Array) -> Array:
        """Convolves NHWC ``x``; returns ``(N, H - kh + 1, W - kw + 1, features)``."""
        kernel = self.param(
            "kernel", nn.initializers.lecun_normal(),
            (*self.kernel_size, x.shape[-1], self.features),
        )
        bias = self.param("bias", nn.initializers.zeros_init(), (self.features,))
        return ops.conv2d_toeplitz(x, kernel, bias, block=self.block)
