"""Shapes and arguments shared by the convolution and pooling forms of ``dl_jax.ops``.

Padding is an int (that many zeros on every side of every spatial axis), ``'VALID'`` (none) or
``'SAME'`` (output size ``ceil(input / stride)``, the extra zero going to the high side, as in
XLA and TensorFlow). ``conv_output_size`` is the lecture's ``(n + 2p - f) / s + 1``.
"""

from __future__ import annotations

import math
from collections.abc import Sequence

import jax.numpy as jnp
import numpy as np

Padding = int | str


def as_tuple(value: int | Sequence[int], n: int, name: str) -> tuple[int, ...]:
    """Broadcasts an int to ``n`` spatial axes and checks every entry is a positive int."""
    if isinstance(value, int | np.integer):
        values = (int(value),) * n
    else:
        values = tuple(int(v) for v in value)
    if len(values) != n or any(v < 1 for v in values):
        raise ValueError(f"{name} must be a positive int or {n} positive ints, got {value!r}")
    return values


def check_padding(padding: Padding) -> Padding:
    """Returns the padding normalised to a non-negative int, 'SAME' or 'VALID'."""
    if isinstance(padding, str):
        upper = padding.upper()
        if upper not in ("SAME", "VALID"):
            raise ValueError(f"padding string must be 'SAME' or 'VALID', got {padding!r}")
        return upper
    if isinstance(padding, int | np.integer) and padding >= 0:
        return int(padding)
    raise ValueError(f"padding must be a non-negative int, 'SAME' or 'VALID', got {padding!r}")


def pad_pairs(
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
    ((low, high),) = pad_pairs([size], [window], [stride], check_padding(padding))
    return (size + low + high - window) // stride + 1


def add_batch(x, rank_unbatched: int, name: str):
    """Adds a leading batch axis when ``x`` has none; returns (batched x, whether added)."""
    if x.ndim == rank_unbatched:
        return x[None], True
    if x.ndim == rank_unbatched + 1:
        return x, False
    raise ValueError(
        f"{name} expects an input of rank {rank_unbatched} (unbatched) or "
        f"{rank_unbatched + 1} (batched), got shape {tuple(x.shape)}"
    )


def check_conv_args(x_shape, kernel_shape, bias_shape, n_spatial: int, name: str) -> None:
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


def check_output_size(in_sizes, window, strides, padding, name: str) -> None:
    """Raises ValueError when the window does not fit into the padded input."""
    for size, (low, high), k in zip(
        in_sizes, pad_pairs(in_sizes, window, strides, padding), window, strict=True
    ):
        if size + low + high < k:
            raise ValueError(
                f"{name}: window {tuple(window)} is larger than the padded input "
                f"{tuple(in_sizes)} (padding {padding!r})"
            )


def float_dtype(*arrays):
    """Common dtype of the arrays, promoted to floating point (lax convolutions need floats)."""
    dtype = jnp.result_type(*arrays)
    return dtype if jnp.issubdtype(dtype, jnp.floating) else jnp.dtype(jnp.float32)
