"""Variable-length batches: validity masks, per-sequence reversal, the last valid output.

With ``seq_lengths`` a recurrent layer freezes its carry and zeroes its outputs past each
sequence's length, so the final carry is the carry at each sequence's true end (the lecture's
sequences have different lengths; a batch pads them to one).
"""

from __future__ import annotations

from typing import Any

import jax
import jax.numpy as jnp

Array = jax.Array
Carry = Any


def time_mask(seq_lengths: Array | None, length: int) -> Array | None:
    """Time-major validity mask ``(time, batch, 1)`` (1.0 where ``t < seq_lengths[b]``) or None."""
    if seq_lengths is None:
        return None
    steps = jnp.arange(length)[:, None]
    return (steps < jnp.asarray(seq_lengths)[None, :]).astype(jnp.float32)[..., None]


def reverse_sequences(x: Array, seq_lengths: Array | None) -> Array:
    """Reverses each sequence of a batch-major ``(batch, time, ...)`` array within its length.

    Position ``t < L_b`` receives element ``L_b - 1 - t``; padding positions stay where they are,
    so applying the function twice is the identity.

    Args:
      x: batch-major array.
      seq_lengths: ``(batch,)`` valid lengths, or None (reverse the whole time axis).

    Returns:
      Array of the same shape.
    """
    if seq_lengths is None:
        return jnp.flip(x, axis=1)
    length = x.shape[1]
    steps = jnp.arange(length)[None, :]
    lengths = jnp.asarray(seq_lengths)[:, None]
    source = jnp.where(steps < lengths, lengths - 1 - steps, steps)
    source = source.reshape(source.shape + (1,) * (x.ndim - 2))
    return jnp.take_along_axis(x, source, axis=1)


def last_valid(outputs: Array, seq_lengths: Array | None) -> Array:
    """Output at each sequence's last valid step: ``outputs[b, seq_lengths[b] - 1]``.

    Args:
      outputs: ``(batch, time, features)``.
      seq_lengths: ``(batch,)`` valid lengths, or None (take the final step).

    Returns:
      ``(batch, features)``; zeros for a sequence of length 0.
    """
    if seq_lengths is None:
        return outputs[:, -1]
    lengths = jnp.asarray(seq_lengths)
    index = jnp.maximum(lengths - 1, 0)[:, None, None]
    picked = jnp.take_along_axis(outputs, index, axis=1)[:, 0]
    return jnp.where((lengths > 0)[:, None], picked, 0.0)


def freeze(mask: Array | None, new: Carry, old: Carry) -> Carry:
    """``mask * new + (1 - mask) * old`` on every carry leaf (``new`` if there is no mask)."""
    if mask is None:
        return new
    return jax.tree.map(lambda n, o: mask * n + (1.0 - mask) * o, new, old)


__all__ = ["freeze", "last_valid", "reverse_sequences", "time_mask"]
