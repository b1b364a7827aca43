"""Convolution exactly as the lecture computes it: cross-correlation, three ways.

The lecture's "convolution" is cross-correlation: the kernel is laid over the input without
flipping, the products are summed, the bias is added, and the kernel slides on by the stride
(slides "Convolution Layer - The Kernel", "a multi-input channel convolution kernel",
"1D Convolutions", "2D Convolutions", "Stride", "Padding").

* ``conv1d_reference`` / ``conv2d_reference``: a transparent numpy form that visits each output
  position and sums the window, the way the slides draw it. Slow; exists to be read and to test
  against.
* ``conv1d`` / ``conv2d``: the fast form on ``jax.lax.conv_general_dilated``, jit-able and
  differentiable.
* ``conv2d_toeplitz``: the same sum written as one matrix product with a banded
  (block-Toeplitz) matrix built from the kernel; the faster form on CPU for small images such as
  LeNet-5's (see its docstring).

Inputs are channels-last (``NLC`` / ``NHWC``, the batch axis optional) and kernels are
``(k, C_in, C_out)`` / ``(kh, kw, C_in, C_out)``; padding rules are in ``dl_jax.ops.shapes``.
"""

from __future__ import annotations

import jax.numpy as jnp
import numpy as np
from jax import lax

from dl_jax.ops import shapes


def _checked_conv_inputs(x, kernel, bias, stride, padding, n_spatial: int, name: str):
    """Validates a convolution's arguments; returns them normalised.

    Returns:
      ``(x with a batch axis, kernel, whether the batch axis was added, strides, padding,
      compute dtype)``.
    """
    x = jnp.asarray(x)
    kernel = jnp.asarray(kernel)
    x, added = shapes.add_batch(x, n_spatial + 1, name)
    shapes.check_conv_args(
        x.shape, kernel.shape, None if bias is None else jnp.shape(bias), n_spatial, name
    )
    strides = shapes.as_tuple(stride, n_spatial, "stride")
    padding = shapes.check_padding(padding)
    shapes.check_output_size(x.shape[1:-1], kernel.shape[:-2], strides, padding, name)
    return x, kernel, added, strides, padding, shapes.float_dtype(x, kernel)


def _conv_nd(x, kernel, bias, stride, padding, n_spatial: int, name: str):
    """Cross-correlation over ``n_spatial`` axes with lax.conv_general_dilated."""
    x, kernel, added, strides, padding, dtype = _checked_conv_inputs(
        x, kernel, bias, stride, padding, n_spatial, name)
    spatial = "HW" if n_spatial == 2 else "W"
    out = lax.conv_general_dilated(
        x.astype(dtype),
        kernel.astype(dtype),
        window_strides=strides,
        padding=padding if isinstance(padding, str) else [(padding, padding)] * n_spatial,
        dimension_numbers=(f"N{spatial}C", f"{spatial}IO", f"N{spatial}C"),
    )
    if bias is not None:
        out = out + jnp.asarray(bias, dtype)
    return out[0] if added else out


def conv1d(x, kernel, bias=None, *, stride=1, padding=0):
    """1D convolution (cross-correlation) of a channels-last sequence.

    With ``C == 1`` this is the lecture's "1D convolution"; with ``C > 1`` the kernel spans the
    whole second axis of a 2D input and slides only along the first ("1D convolution with 2D
    input"), so each filter yields a 1D output.

    Args:
        x: Input of shape ``(L, C)`` or ``(N, L, C)``.
        kernel: Filters of shape ``(k, C_in, C_out)`` with ``C_in == C``.
        bias: Optional per-filter bias of shape ``(C_out,)``.
        stride: Step of the kernel along the sequence.
        padding: Zeros added on both ends (int), or 'SAME' / 'VALID'.

    Returns:
        Array of shape ``(L_out, C_out)`` or ``(N, L_out, C_out)``.

    Raises:
        ValueError: On a wrong rank, a channel mismatch, a bias of the wrong length, a bad
            stride/padding, or a kernel larger than the padded input.
    """
    return _conv_nd(x, kernel, bias, stride, padding, 1, "conv1d")


def conv2d(x, kernel, bias=None, *, stride=1, padding=0):
    """2D convolution (cross-correlation) of a channels-last image, as in the lecture.

    Output pixel ``(i, j)`` of filter ``o`` is
    ``sum_{u,v,c} x_pad[i*s + u, j*s + v, c] * kernel[u, v, c, o] + bias[o]``: the slide's
    "multiply the overlapping numbers and add them up", summed over all input channels.

    Args:
        x: Input of shape ``(H, W, C)`` or ``(N, H, W, C)``.
        kernel: Filters of shape ``(kh, kw, C_in, C_out)`` with ``C_in == C``.
        bias: Optional per-filter bias of shape ``(C_out,)``.
        stride: Step of the kernel, an int or ``(sh, sw)``.
        padding: Zeros added on every side (int), or 'SAME' / 'VALID'.

    Returns:
        Array of shape ``(H_out, W_out, C_out)`` or ``(N, H_out, W_out, C_out)``.

    Raises:
        ValueError: On a wrong rank, a channel mismatch, a bias of the wrong length, a bad
            stride/padding, or a kernel larger than the padded input.
    """
    return _conv_nd(x, kernel, bias, stride, padding, 2, "conv2d")


def _toeplitz_block(w_out: int, kw: int) -> int:
    """The 'auto' band width: the divisor of ``w_out`` nearest ``kw - 1`` (the larger on a tie).

    A divisor wastes no padded output column; near ``kw - 1`` the band spends at most about twice
    the direct sum's multiply-adds while its matmul stays wide enough to run fast (measured on
    LeNet-5: blocks of 4 and 5 columns for C1 and C3 beat one band by ~25 %).
    """
    divisors = [d for d in range(1, w_out + 1) if w_out % d == 0]
    return min(divisors, key=lambda d: (abs(d - (kw - 1)), -d))


def conv2d_toeplitz(x, kernel, bias=None, *, stride=1, padding=0, block=None):
    """``conv2d`` computed as matrix products with a banded (block-Toeplitz) matrix.

    A convolution is linear in its input, so it is a matrix product. Gather, for every output
    row ``i``, the ``kh`` input rows its windows cover (rows ``i*sh + u``, ``u < kh``), each
    flattened over width and channels. The kernel becomes a matrix whose block for kernel row
    ``u`` holds ``kernel[u, col - j*sw, c, o]`` at input column ``col`` and output column ``j``
    where ``0 <= col - j*sw < kw``, zero elsewhere: the kernel sliding along a row, one shifted
    copy per output column (a Toeplitz band). One matmul then gives every output pixel, and the
    gradients are matmuls too.

    With ``block=None`` the band spans the whole row: ``(kh*W*C, W_out*C_out)``, spending about
    ``W / kw`` times the direct sum's multiply-adds on zeros. With ``block=b`` the output columns
    are cut into groups of ``b`` that share one small band of ``((b - 1)*sw + kw)`` input columns
    (the band is the same for every group, since the convolution is shift-invariant), so the
    waste drops to about ``(b - 1 + kw) / kw``; ``'auto'`` picks ``b`` (see ``_toeplitz_block``).
    The matrices grow with the image width: a form for small images. For LeNet-5 on XLA:CPU,
    whose convolutions with 1 and 6 input channels run far below its matmul rate, it makes a
    training step about twice as fast (``benchmarks/lenet5_cpu``); on GPUs ``conv2d`` (cuDNN) is
    the right one. Results equal ``conv2d`` up to float rounding (the sums run in another order).

    Args:
        x: Input of shape ``(H, W, C)`` or ``(N, H, W, C)``.
        kernel: Filters of shape ``(kh, kw, C_in, C_out)`` with ``C_in == C``.
        bias: Optional per-filter bias of shape ``(C_out,)``.
        stride: Step of the kernel, an int or ``(sh, sw)``.
        padding: Zeros added on every side (int), or 'SAME' / 'VALID'.
        block: Output columns per band: ``None`` (one band for the whole row), a positive int,
            or ``'auto'``.

    Returns:
        Array of shape ``(H_out, W_out, C_out)`` or ``(N, H_out, W_out, C_out)``.

    Raises:
        ValueError: As ``conv2d``, or for a ``block`` that is not None, 'auto' or a positive int.
    """
    name = "conv2d_toeplitz"
    x, kernel, added, (sh, sw), padding, dtype = _checked_conv_inputs(
        x, kernel, bias, stride, padding, 2, name)
    kh, kw, channels, c_out = kernel.shape
    pairs = shapes.pad_pairs(x.shape[1:3], (kh, kw), (sh, sw), padding)
    x = jnp.pad(x.astype(dtype), [(0, 0), *pairs, (0, 0)])
    n, h, w, _ = x.shape
    h_out, w_out = (h - kh) // sh + 1, (w - kw) // sw + 1
    if block is None:
        block = w_out
    elif block == "auto":
        block = _toeplitz_block(w_out, kw)
    elif not isinstance(block, int | np.integer) or isinstance(block, bool) or block < 1:
        raise ValueError(f"{name}: block must be None, 'auto' or a positive int, got {block!r}")
    block = min(int(block), w_out)
    groups = -(-w_out // block)
    band_width = (block - 1) * sw + kw  # input columns one group of output columns reads
    needed = (groups * block - 1) * sw + kw
    if needed > w:  # the last group runs past the image: zero columns, outputs dropped below
        x = jnp.pad(x, [(0, 0), (0, 0), (0, needed - w), (0, 0)])
    # rows: (N, H_out, groups, kh*band_width*C). Reshapes merge only trailing axes, so a batch
    # sharded over devices stays sharded without data movement.
    per_kernel_row = []
    for u in range(kh):
        x_u = x[:, u: u + sh * (h_out - 1) + 1: sh]
        windows = [x_u[:, :, g * block * sw: g * block * sw + band_width] for g in range(groups)]
        per_kernel_row.append(
            jnp.stack(windows, axis=2).reshape(n, h_out, groups, band_width * channels))
    rows = jnp.concatenate(per_kernel_row, axis=3)
    # offset[col, j]: which kernel column input column ``col`` meets in output column ``j``.
    offset = np.arange(band_width)[:, None] - sw * np.arange(block)[None, :]
    inside = (offset >= 0) & (offset < kw)
    band = kernel.astype(dtype)[:, np.clip(offset, 0, kw - 1)]  # (kh, cols, block, C, C_out)
    band = jnp.where(inside[None, :, :, None, None], band, jnp.zeros((), dtype))
    matrix = band.transpose(0, 1, 3, 2, 4).reshape(kh * band_width * channels, block * c_out)
    # Split the last axis, then merge (groups, block): each reshape is a pure split or merge of
    # unsharded axes, which explicitly sharded batches allow (a one-step reshape is refused).
    out = (rows @ matrix).reshape(n, h_out, groups, block, c_out)
    out = out.reshape(n, h_out, groups * block, c_out)[:, :, :w_out]
    if bias is not None:
        out = out + jnp.asarray(bias, dtype)
    return out[0] if added else out


def _conv_reference_nd(x, kernel, bias, stride, padding, n_spatial: int, name: str):
    """Window-by-window cross-correlation in float64 numpy."""
    x = np.asarray(x, dtype=np.float64)
    kernel = np.asarray(kernel, dtype=np.float64)
    x, added = shapes.add_batch(x, n_spatial + 1, name)
    shapes.check_conv_args(
        x.shape, kernel.shape, None if bias is None else np.shape(bias), n_spatial, name
    )
    strides = shapes.as_tuple(stride, n_spatial, "stride")
    padding = shapes.check_padding(padding)
    window = kernel.shape[:n_spatial]
    in_sizes = x.shape[1:-1]
    shapes.check_output_size(in_sizes, window, strides, padding, name)
    pads = shapes.pad_pairs(in_sizes, window, strides, padding)
    x_pad = np.pad(x, [(0, 0), *pads, (0, 0)])
    out_sizes = [
        (size + low + high - k) // s + 1
        for size, (low, high), k, s in zip(in_sizes, pads, window, strides, strict=True)
    ]
    out = np.zeros((x.shape[0], *out_sizes, kernel.shape[-1]))
    for position in np.ndindex(*out_sizes):
        # The patch of the padded input under the kernel at this output position.
        patch = x_pad[
            (slice(None),)
            + tuple(
                slice(p * s, p * s + k) for p, s, k in zip(position, strides, window, strict=True)
            )
        ]
        # Multiply element-wise with each filter and add everything up (all channels too).
        out[(slice(None), *position)] = np.tensordot(patch, kernel, axes=n_spatial + 1)
    if bias is not None:
        out = out + np.asarray(bias, dtype=np.float64)
    return out[0] if added else out


def conv1d_reference(x, kernel, bias=None, *, stride=1, padding=0) -> np.ndarray:
    """Transparent numpy form of :func:`conv1d` (explicit window sums, float64).

    Args:
        x: Input of shape ``(L, C)`` or ``(N, L, C)``.
        kernel: Filters of shape ``(k, C_in, C_out)``.
        bias: Optional bias of shape ``(C_out,)``.
        stride: Step of the kernel.
        padding: Int, 'SAME' or 'VALID'.

    Returns:
        float64 numpy array with the same shape as :func:`conv1d`'s result.
    """
    return _conv_reference_nd(x, kernel, bias, stride, padding, 1, "conv1d_reference")


def conv2d_reference(x, kernel, bias=None, *, stride=1, padding=0) -> np.ndarray:
    """Transparent numpy form of :func:`conv2d` (explicit window sums, float64).

    Args:
        x: Input of shape ``(H, W, C)`` or ``(N, H, W, C)``.
        kernel: Filters of shape ``(kh, kw, C_in, C_out)``.
        bias: Optional bias of shape ``(C_out,)``.
        stride: Int or ``(sh, sw)``.
        padding: Int, 'SAME' or 'VALID'.

    Returns:
        float64 numpy array with the same shape as :func:`conv2d`'s result.
    """
    return _conv_reference_nd(x, kernel, bias, stride, padding, 2, "conv2d_reference")
