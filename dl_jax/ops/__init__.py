"""Convolution, pooling and ReLU exactly as the lecture computes them (chapter 2).

Every operation comes twice: a ``*_reference`` numpy form that visits each output position and
sums the window the way the slides draw it (slow, there to be read and to test against), and a
fast jit-able, differentiable form on ``jax.lax``. ``conv2d_toeplitz`` is a third form of the 2D
convolution: one matrix product with a banded (block-Toeplitz) matrix, faster on CPU for small
images.

Modules (each against one part of the lecture):
  shapes      padding rules ('VALID', 'SAME', int) and ``conv_output_size``, (n + 2p - f) / s + 1
  conv        ``conv1d``, ``conv2d``, ``conv2d_toeplitz`` and their references
  pool        ``max_pool``, ``avg_pool`` and their references
  activation  ``relu`` and its reference

Layouts follow Flax and TensorFlow: inputs are channels-last (``NLC`` for 1D, ``NHWC`` for 2D)
and kernels are ``(k, C_in, C_out)`` / ``(kh, kw, C_in, C_out)``. The batch axis ``N`` is
optional everywhere: an unbatched input gets one added for the computation and removed again.
"""

from dl_jax.ops.activation import relu, relu_reference
from dl_jax.ops.conv import conv1d, conv1d_reference, conv2d, conv2d_reference, conv2d_toeplitz
from dl_jax.ops.pool import avg_pool, avg_pool_reference, max_pool, max_pool_reference
from dl_jax.ops.shapes import conv_output_size

__all__ = [
    "avg_pool",
    "avg_pool_reference",
    "conv1d",
    "conv1d_reference",
    "conv2d",
    "conv2d_reference",
    "conv2d_toeplitz",
    "conv_output_size",
    "max_pool",
    "max_pool_reference",
    "relu",
    "relu_reference",
]
