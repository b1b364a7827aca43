"""Convolution, pooling and ReLU exactly as the lecture computes them.

The lecture's "convolution" is cross-correlation: the kernel is laid over the input without
flipping, the products are summed, the bias is added, and the kernel slides on by the stride
(slides "Convolution Layer - The Kernel", "a multi-input channel convolution kernel",
"1D Convolutions", "2D Convolutions", "Stride", "Padding", "Pooling Layer", "ReLU").

Layouts follow Flax and TensorFlow: inputs are channels-last (``NLC`` for 1D, ``NHWC`` for 2D)
and kernels are ``(k, C_in, C_out)`` / ``(kh, kw, C_in, C_out)``.  The batch axis ``N`` is
optional everywhere: an unbatched input gets one added for the computation and removed again.

Every operation comes twice:

* ``*_reference``: a transparent numpy form that visits each output position and sums the
  window, the way the slides draw it.  It is slow and exists to be read and to test against.
* the public fast form built on ``jax.lax.conv_general_dilated`` / ``jax.lax.reduce_window``,
  which is jit-able and differentiable.

``conv2d_toeplitz`` is a third form of the 2D convolution: the same sum written as one matrix
product with a banded (block-Toeplitz) matrix built from the kernel. It is the faster form on
CPU for small images such as LeNet-5's (see its docstring).

Padding is an int (that many zeros on every side of every spatial axis), ``'VALID'`` (none) or
``'SAME'`` (output size ``ceil(input / stride)``, the extra zero going to the high side, as in
XLA and TensorFlow).
"""

from __future__ import annotations

import math
from collections.abc import Sequence

import jax.numpy as jnp
import numpy as np
from jax import lax

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

Padding = int | str


# ----------------------------------------------------------------------------------------------
# Argument checking shared by both forms
# ----------------------------------------------------------------------------------------------


def _as_tuple(value: int | Sequence[int], n: int, name: str) -> tuple[int, ...]:
    """Broadcasts an int to ``n`` spatial axes and checks every entry is a positive int."""
    if isinstance(value, int | np.integer):
        values = (int(value),) * n
    else:
        values = tuple(int(v) for v in value)
    if len(values) != n or any(v < 1 for v in values):
        raise ValueError(f"{name} must be a positive int or {n} positive ints, got {value!r}")
    return values


def _check_padding(padding: Padding) -> Padding:
    """Returns the padding normalised to a non-negative int, 'SAME' or 'VALID'."""
    if isinstance(padding, str):
        upper = padding.upper()
        if upper not in ("SAME", "VALID"):
            raise ValueError(f"padding string must be 'SAME' or 'VALID', got {padding!r}")
        return upper
    if isinstance(padding, int | np.integer) and padding >= 0:
        return int(padding)
    raise ValueError(f"padding must be a non-negative int, 'SAME' or 'VALID', got {padding!r}")


def _pad_pairs(
    in_sizes: Sequence[int], window: Sequence[int], strides: Sequence[int], padding: Padding
) -> list[tuple[int, int]]:
    """Explicit (low, high) padding per spatial axis for an int, 'SAME' or 'VALID' padding."""
    if padding == "VALID":
        return [(0, 0)] * len(in_sizes)
    if padding == "SAME":
        pairs = []
        for size, k, s in zip(in_sizes, window, strides, strict=True):
            total = max((math.ceil(size / s) - 1) * s + k - size, 0)
            pairs.append((total // 2, total - total // 2))
        return pairs
    return [(padding, padding)] * len(in_sizes)


def conv_output_size(size: int, window: int, stride: int = 1, padding: Padding = 0) -> int:
    """Spatial output size of a convolution or pooling along one axis.

    ``floor((size + pad_low + pad_high - window) / stride) + 1``: the lecture's
    ``(n + 2p - f) / s + 1`` for an int padding ``p``.

    Args:
        size: Input size along the axis.
        window: Kernel or pooling window size along the axis.
        stride: Step between neighbouring windows.
        padding: Int, 'SAME' or 'VALID'.

    Returns:
        The number of window positions along the axis.
    """
    ((low, high),) = _pad_pairs([size], [window], [stride], _check_padding(padding))
    return (size + low + high - window) // stride + 1


def _add_batch(x, rank_unbatched: int, name: str):
    """Adds a leading batch axis when ``x`` has none; returns (batched x, whether added)."""
    if x.ndim == rank_unbatched:
        return x[None], True
    if x.ndim == rank_unbatched + 1:
        return x, False
    raise ValueError(
        f"{name} expects an input of rank {rank_unbatched} (unbatched) or "
        f"{rank_unbatched + 1} (batched), got shape {tuple(x.shape)}"
    )


def _check_conv_args(x_shape, kernel_shape, bias_shape, n_spatial: int, name: str) -> None:
    """Raises ValueError when kernel rank, channel counts or bias length do not fit."""
    if len(kernel_shape) != n_spatial + 2:
        raise ValueError(
            f"{name} expects a kernel of rank {n_spatial + 2} "
            f"({'kh, kw, ' if n_spatial == 2 else 'k, '}C_in, C_out), got shape {kernel_shape}"
        )
    if kernel_shape[-2] != x_shape[-1]:
        raise ValueError(
            f"{name}: input has {x_shape[-1]} channels but the kernel expects "
            f"C_in={kernel_shape[-2]} (input shape {x_shape}, kernel shape {kernel_shape})"
        )
    if bias_shape is not None and tuple(bias_shape) not in ((kernel_shape[-1],), ()):
        raise ValueError(
            f"{name}: bias must have shape ({kernel_shape[-1]},) to match C_out, "
            f"got {tuple(bias_shape)}"
        )


def _check_output_size(in_sizes, window, strides, padding, name: str) -> None:
    """Raises ValueError when the window does not fit into the padded input."""
    for size, (low, high), k in zip(
        in_sizes, _pad_pairs(in_sizes, window, strides, padding), window, strict=True
    ):
        if size + low + high < k:
            raise ValueError(
                f"{name}: window {tuple(window)} is larger than the padded input "
                f"{tuple(in_sizes)} (padding {padding!r})"
            )


def _float_dtype(*arrays):
    """Common dtype of the arrays, promoted to floating point (lax convolutions need floats)."""
    dtype = jnp.result_type(*arrays)
    return dtype if jnp.issubdtype(dtype, jnp.floating) else jnp.dtype(jnp.float32)


# ----------------------------------------------------------------------------------------------
# Convolution
# ----------------------------------------------------------------------------------------------


def _checked_conv_inputs(x, kernel, bias, stride, padding, n_spatial: int, name: str):
    """Validates a convolution's arguments; returns them normalised.

    Returns:
      ``(x with a batch axis, kernel, whether the batch axis was added, strides, padding,
      compute dtype)``.
    """
    x = jnp.asarray(x)
    kernel = jnp.asarray(kernel)
    x, added = _add_batch(x, n_spatial + 1, name)
    _check_conv_args(
        x.shape, kernel.shape, None if bias is None else jnp.shape(bias), n_spatial, name
    )
    strides = _as_tuple(stride, n_spatial, "stride")
    padding = _check_padding(padding)
    _check_output_size(x.shape[1:-1], kernel.shape[:-2], strides, padding, name)
    return x, kernel, added, strides, padding, _float_dtype(x, kernel)


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
    pairs = _pad_pairs(x.shape[1:3], (kh, kw), (sh, sw), padding)
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
    x, added = _add_batch(x, n_spatial + 1, name)
    _check_conv_args(
        x.shape, kernel.shape, None if bias is None else np.shape(bias), n_spatial, name
    )
    strides = _as_tuple(stride, n_spatial, "stride")
    padding = _check_padding(padding)
    window = kernel.shape[:n_spatial]
    in_sizes = x.shape[1:-1]
    _check_output_size(in_sizes, window, strides, padding, name)
    pads = _pad_pairs(in_sizes, window, strides, padding)
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


# ----------------------------------------------------------------------------------------------
# Pooling and ReLU
# ----------------------------------------------------------------------------------------------


def _pool_args(x, window, stride, padding, name: str):
    """Validates pooling arguments; returns (batched x, added, window, strides, padding)."""
    x, added = _add_batch(x, 3, name)
    window = _as_tuple(window, 2, "window")
    strides = window if stride is None else _as_tuple(stride, 2, "stride")
    padding = _check_padding(padding)
    _check_output_size(x.shape[1:3], window, strides, padding, name)
    return x, added, window, strides, padding


def _reduce_window_pool(x, window, stride, padding, reducer: str, name: str):
    """Max or sum over 2D windows of an NHWC / HWC array with lax.reduce_window."""
    x = jnp.asarray(x)
    x, added, window, strides, padding = _pool_args(x, window, stride, padding, name)
    x = x.astype(_float_dtype(x))
    # A padding string applies to all four axes, where window and stride 1 make it a no-op.
    pads = (
        padding
        if isinstance(padding, str)
        else [(0, 0), (padding, padding), (padding, padding), (0, 0)]
    )
    if reducer == "max":
        # Padding for the max must never win, hence -inf rather than zero.
        out = lax.reduce_window(x, -jnp.inf, lax.max, (1, *window, 1), (1, *strides, 1), pads)
    else:
        summed = lax.reduce_window(x, 0.0, lax.add, (1, *window, 1), (1, *strides, 1), pads)
        out = summed / (window[0] * window[1])
    return out[0] if added else out


def max_pool(x, window, *, stride=None, padding=0):
    """Max pooling: the largest value of each window ("dominant feature"), per channel.

    Args:
        x: Input of shape ``(H, W, C)`` or ``(N, H, W, C)``.
        window: Window size, an int or ``(wh, ww)``.
        stride: Step between windows; defaults to ``window`` (non-overlapping windows).
        padding: Int, 'SAME' or 'VALID'; padded cells hold ``-inf`` and so never win.

    Returns:
        Array of shape ``(H_out, W_out, C)`` or ``(N, H_out, W_out, C)``.

    Raises:
        ValueError: On a wrong rank or window/stride/padding that does not fit.
    """
    return _reduce_window_pool(x, window, stride, padding, "max", "max_pool")


def avg_pool(x, window, *, stride=None, padding=0):
    """Average pooling: the mean of each window, per channel.

    Padded cells are zeros that count in the divisor (every window is divided by
    ``wh * ww``), as in PyTorch's default ``count_include_pad=True``.

    Args:
        x: Input of shape ``(H, W, C)`` or ``(N, H, W, C)``.
        window: Window size, an int or ``(wh, ww)``.
        stride: Step between windows; defaults to ``window`` (non-overlapping windows).
        padding: Int, 'SAME' or 'VALID'.

    Returns:
        Array of shape ``(H_out, W_out, C)`` or ``(N, H_out, W_out, C)``.

    Raises:
        ValueError: On a wrong rank or window/stride/padding that does not fit.
    """
    return _reduce_window_pool(x, window, stride, padding, "avg", "avg_pool")


def _pool_reference(x, window, stride, padding, reducer: str, name: str) -> np.ndarray:
    """Window-by-window pooling in float64 numpy."""
    x = np.asarray(x, dtype=np.float64)
    x, added, window, strides, padding = _pool_args(x, window, stride, padding, name)
    pads = _pad_pairs(x.shape[1:3], window, strides, padding)
    fill = -np.inf if reducer == "max" else 0.0
    x_pad = np.pad(x, [(0, 0), *pads, (0, 0)], constant_values=fill)
    out_h = (x_pad.shape[1] - window[0]) // strides[0] + 1
    out_w = (x_pad.shape[2] - window[1]) // strides[1] + 1
    out = np.zeros((x.shape[0], out_h, out_w, x.shape[3]))
    for i in range(out_h):
        for j in range(out_w):
            patch = x_pad[
                :,
                i * strides[0] : i * strides[0] + window[0],
                j * strides[1] : j * strides[1] + window[1],
                :,
            ]
            out[:, i, j, :] = (
                patch.max(axis=(1, 2)) if reducer == "max" else patch.mean(axis=(1, 2))
            )
    return out[0] if added else out


def max_pool_reference(x, window, *, stride=None, padding=0) -> np.ndarray:
    """Transparent numpy form of :func:`max_pool` (explicit windows, float64).

    Args:
        x: Input of shape ``(H, W, C)`` or ``(N, H, W, C)``.
        window: Int or ``(wh, ww)``.
        stride: Defaults to ``window``.
        padding: Int, 'SAME' or 'VALID'.

    Returns:
        float64 numpy array with the same shape as :func:`max_pool`'s result.
    """
    return _pool_reference(x, window, stride, padding, "max", "max_pool_reference")


def avg_pool_reference(x, window, *, stride=None, padding=0) -> np.ndarray:
    """Transparent numpy form of :func:`avg_pool` (explicit windows, float64).

    Args:
        x: Input of shape ``(H, W, C)`` or ``(N, H, W, C)``.
        window: Int or ``(wh, ww)``.
        stride: Defaults to ``window``.
        padding: Int, 'SAME' or 'VALID'; padded zeros count in the mean.

    Returns:
        float64 numpy array with the same shape as :func:`avg_pool`'s result.
    """
    return _pool_reference(x, window, stride, padding, "avg", "avg_pool_reference")


def relu(x):
    """Rectified linear unit ``max(0, x)``, element-wise (the lecture's ``h = max(0, sum ...)``).

    Args:
        x: Array of any shape.

    Returns:
        Array of the same shape and dtype with negative entries replaced by zero.
    """
    x = jnp.asarray(x)
    return jnp.maximum(x, jnp.zeros((), x.dtype))


def relu_reference(x) -> np.ndarray:
    """Transparent numpy form of :func:`relu`.

    Args:
        x: Array of any shape.

    Returns:
        float64 numpy array, ``x`` where positive and 0 elsewhere.
    """
    x = np.asarray(x, dtype=np.float64)
    return np.where(x > 0, x, 0.0)
