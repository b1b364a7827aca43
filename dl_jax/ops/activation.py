"""The rectified linear unit of the lecture (slide "ReLU"), fast and reference forms."""

from __future__ import annotations

import jax.numpy as jnp
import numpy as np


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
