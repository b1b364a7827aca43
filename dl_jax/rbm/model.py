"""The RBM itself: parameters, energies, free energies and the two conditionals.

Bernoulli visible units by default; ``visible="gaussian"`` selects unit-variance Gaussian visible
units (see the package docstring for the energies).
"""

from __future__ import annotations

from typing import Any

import jax
import jax.numpy as jnp

Params = dict[str, jax.Array]


def init(
    key: jax.Array,
    n_visible: int,
    n_hidden: int,
    *,
    scale: float = 0.01,
    visible_mean: Any = None,
    dtype: Any = jnp.float32,
    visible: str = "bernoulli",
) -> Params:
    """Initialises RBM parameters following Hinton's practical guide.

    W ~ N(0, scale²), b_h = 0, and b_v = log(p / (1 - p)) where p is the per-unit data mean
    (clipped to [1e-3, 1 - 1e-3] so always-off pixels get a finite bias), or b_v = 0 when no mean
    is given. With these biases the model's visible marginals match the data at the start. For
    Gaussian visible units b_v is the data mean itself (zero without one).

    Args:
        key: PRNG key for the weights.
        n_visible: Number of visible units.
        n_hidden: Number of hidden units.
        scale: Standard deviation of the initial weights.
        visible_mean: Optional (n_visible,) mean of the training data.
        dtype: Parameter dtype.
        visible: ``"bernoulli"`` or ``"gaussian"`` visible units.

    Returns:
        Params dict with ``W`` (n_visible, n_hidden), ``b_v`` (n_visible,), ``b_h`` (n_hidden,).
    """
    _check_visible(visible)
    weights = scale * jax.random.normal(key, (n_visible, n_hidden), dtype)
    if visible_mean is None:
        visible_bias = jnp.zeros((n_visible,), dtype)
    else:
        mean = jnp.asarray(visible_mean, dtype)
        if mean.shape != (n_visible,):
            raise ValueError(f"visible_mean has shape {mean.shape}, expected ({n_visible},)")
        if visible == "gaussian":
            visible_bias = mean
        else:
            p = jnp.clip(mean, 1e-3, 1.0 - 1e-3)
            visible_bias = jnp.log(p) - jnp.log1p(-p)
    return {"W": weights, "b_v": visible_bias, "b_h": jnp.zeros((n_hidden,), dtype)}



VISIBLE_UNITS = ("bernoulli", "gaussian")


def _check_visible(visible: str) -> None:
    if visible not in VISIBLE_UNITS:
        raise ValueError(f"visible must be one of {VISIBLE_UNITS}, got {visible!r}")


def _visible_energy(params: Params, v: jax.Array, visible: str) -> jax.Array:
    # The visible units' own term of the energy: -b_vᵀv (binary) or ½‖v − b_v‖² (Gaussian).
    _check_visible(visible)
    if visible == "gaussian":
        return 0.5 * jnp.sum(jnp.square(v - params["b_v"]), axis=-1)
    return -(v @ params["b_v"])


def energy(params: Params, v: jax.Array, h: jax.Array, *, visible: str = "bernoulli") -> jax.Array:
    """Energy E(v, h) = -b_vᵀv - b_hᵀh - vᵀWh (Gaussian units: ½‖v − b_v‖² - b_hᵀh - vᵀWh).

    Args:
        params: RBM parameters.
        v: Visible states (..., n_visible).
        h: Hidden states (..., n_hidden); leading axes broadcast against ``v``'s.
        visible: ``"bernoulli"`` or ``"gaussian"`` visible units.

    Returns:
        Energies with the broadcast leading shape.
    """
    interaction = jnp.sum((v @ params["W"]) * h, axis=-1)
    return _visible_energy(params, v, visible) - (h @ params["b_h"]) - interaction


def free_energy(params: Params, v: jax.Array, *, visible: str = "bernoulli") -> jax.Array:
    """Free energy F(v) = -log Σ_h exp(-E(v, h)) = -b_vᵀv - Σ_j softplus(b_h_j + (vᵀW)_j).

    For Gaussian visible units the first term is ½‖v − b_v‖² instead of -b_vᵀv.

    Args:
        params: RBM parameters.
        v: Visible states (..., n_visible).
        visible: ``"bernoulli"`` or ``"gaussian"`` visible units.

    Returns:
        Free energies (...,).
    """
    hidden_input = v @ params["W"] + params["b_h"]
    return _visible_energy(params, v, visible) - jnp.sum(jax.nn.softplus(hidden_input), axis=-1)


def hidden_probs(params: Params, v: jax.Array) -> jax.Array:
    """Hidden conditionals p(h_j = 1 | v) = σ(b_h_j + (vᵀW)_j).

    Args:
        params: RBM parameters.
        v: Visible states (..., n_visible).

    Returns:
        Probabilities (..., n_hidden).
    """
    return jax.nn.sigmoid(v @ params["W"] + params["b_h"])


def visible_probs(params: Params, h: jax.Array) -> jax.Array:
    """Visible conditionals p(v_i = 1 | h) = σ(b_v_i + (W h)_i).

    Args:
        params: RBM parameters.
        h: Hidden states (..., n_hidden).

    Returns:
        Probabilities (..., n_visible).
    """
    return jax.nn.sigmoid(h @ params["W"].T + params["b_v"])


def visible_mean(params: Params, h: jax.Array, *, visible: str = "bernoulli") -> jax.Array:
    """E[v | h]: σ(b_v + W h) for binary visible units (visible_probs), b_v + W h for Gaussian.

    Args:
        params: RBM parameters.
        h: Hidden states (..., n_hidden).
        visible: ``"bernoulli"`` or ``"gaussian"`` visible units.

    Returns:
        Conditional means (..., n_visible).
    """
    _check_visible(visible)
    if visible == "gaussian":
        return h @ params["W"].T + params["b_v"]
    return visible_probs(params, h)
