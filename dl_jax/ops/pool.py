"""Pooling exactly as the lecture computes it (slide "Pooling Layer"), in two forms.

``max_pool`` / ``avg_pool`` run on ``jax.lax.reduce_window`` (jit-able, differentiable);
``max_pool_reference`` / ``avg_pool_reference`` visit each window in float64 numpy, the way the
slides draw it. Inputs are ``(H, W, C)`` or ``(N, H, W, C)``; padding rules are in
``dl_jax.ops.shapes``.
"""

from __future__ import annotations

import jax.numpy as jnp
import numpy as np
from jax import lax

from dl_jax.ops import shapes


def _pool_args(x, window, stride, padding, reducer: str, name: str):
    """Validates pooling arguments; returns (batched x, added, window, strides, padding).

    An int padding of a max pool may be at most half the window (PyTorch's rule): with more, a
    border window can hold only padding, whose ``-inf`` would become an output value.
    """
    x, added = shapes.add_batch(x, 3, name)
    window = shapes.as_tuple(window, 2, "window")
    strides = window if stride is None else shapes.as_tuple(stride, 2, "stride")
    padding = shapes.check_padding(padding)
    if reducer == "max" and isinstance(padding, int) and any(padding > k // 2 for k in window):
        raise ValueError(f"{name}: padding {padding} must be at most half the window "
                         f"{tuple(window)} (a border window would hold only padding)")
    shapes.check_output_size(x.shape[1:3], window, strides, padding, name)
    return x, added, window, strides, padding


def _reduce_window_pool(x, window, stride, padding, reducer: str, name: str):
    """Max or sum over 2D windows of an NHWC / HWC array with lax.reduce_window."""
    x = jnp.asarray(x)
    x, added, window, strides, padding = _pool_args(x, window, stride, padding, reducer, name)
    x = x.astype(shapes.float_dtype(x))
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
        padding: Int (at most half the window), 'SAME' or 'VALID'; padded cells hold
            ``-inf`` and so never win.

    Returns:
        Array of shape ``(H_out, W_out, C)`` or ``(N, H_out, W_out, C)``.

    Raises:
        ValueError: On a wrong rank, window/stride/padding that does not fit, or an int padding
            larger than half the window.
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
    x, added, window, strides, padding = _pool_args(x, window, stride, padding, reducer, name)
    pads = shapes.pad_pairs(x.shape[1:3], window, strides, padding)
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
        padding: Int (at most half the window), 'SAME' or 'VALID'.

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
