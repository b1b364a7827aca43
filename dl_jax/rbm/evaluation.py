"""Evaluation: reconstruction error, pseudo-log-likelihood, log Z (AIS or exact), log p(v).

log Z by annealed importance sampling (Salakhutdinov & Murray 2008) or, for small models, by exact
enumeration; the average log-likelihood given log Z.
"""

from __future__ import annotations

import functools
import math
from typing import Any

import jax
import jax.numpy as jnp

from dl_jax.rbm.model import Params, _check_visible, free_energy, hidden_probs, visible_mean
from dl_jax.rbm.sampling import _bernoulli, _sample_visible_units

# Largest number of units exact_log_partition will enumerate (2**30 states is already minutes).
_MAX_ENUMERATED_UNITS = 30
# States enumerated per scan step of exact_log_partition, bounding its memory.
_ENUMERATION_CHUNK_BITS = 14


@functools.partial(jax.jit, static_argnames=("visible",))
def reconstruction_error(params: Params, v: jax.Array, *, visible: str = "bernoulli") -> jax.Array:
    """Mean squared error of one deterministic up-down pass, mean((v − E[v | p(h|v)])²).

    Args:
        params: RBM parameters.
        v: Data (..., n_visible).
        visible: ``"bernoulli"`` or ``"gaussian"`` visible units.

    Returns:
        Scalar mean over rows and units.
    """
    reconstruction = visible_mean(params, hidden_probs(params, v), visible=visible)
    return jnp.mean(jnp.square(v - reconstruction))


def _on_logit(params: Params, v: jax.Array, hidden_input: jax.Array, unit: jax.Array) -> jax.Array:
    # F(v with v_i = 0) − F(v with v_i = 1) = log p(v_i=1 | v_−i) / p(v_i=0 | v_−i).
    # `unit` holds one visible index per row (leading shape of v).
    weights_i = params["W"][unit]
    value_i = jnp.take_along_axis(v, unit[..., None], axis=-1)
    input_off = hidden_input - value_i * weights_i
    input_on = input_off + weights_i
    return params["b_v"][unit] + jnp.sum(
        jax.nn.softplus(input_on) - jax.nn.softplus(input_off), axis=-1
    )


def _log_conditional(logit: jax.Array, value: jax.Array) -> jax.Array:
    # Cross-entropy form: equals log p(v_i | v_−i) for binary v_i and is its expectation when v_i
    # in [0, 1] is read as the probability of the unit being on.
    return value * jax.nn.log_sigmoid(logit) + (1.0 - value) * jax.nn.log_sigmoid(-logit)


@jax.jit
def pseudo_log_likelihood(params: Params, v: jax.Array, key: jax.Array | None = None) -> jax.Array:
    """Average pseudo-log-likelihood PL(v) = Σ_i log p(v_i | v_−i) over the rows of ``v``.

    Binary (Bernoulli) visible units only.

    Each conditional comes from a free-energy difference,
    p(v_i = 1 | v_−i) = σ(F(v|v_i=0) − F(v|v_i=1)), which costs O(n_hidden) per unit given the
    hidden input vᵀW + b_h. Without a key the sum over all visible units is exact; with a key one
    random unit i per row gives the unbiased estimate n_visible · log p(v_i | v_−i) (as
    scikit-learn's ``score_samples``). For v_i in [0, 1] the term is the cross-entropy
    v_i log p(1|·) + (1 − v_i) log p(0|·) with the unit set to 0 and 1 (scikit-learn instead flips
    v_i → 1 − v_i; both agree on binary data).

    Args:
        params: RBM parameters.
        v: Data (N, n_visible).
        key: Optional PRNG key selecting the stochastic one-unit estimate.

    Returns:
        Scalar mean over rows of PL(v) (in nats; higher is better).
    """
    num_rows, num_visible = v.shape
    hidden_input = v @ params["W"] + params["b_h"]
    if key is not None:
        unit = jax.random.randint(key, (num_rows,), 0, num_visible)
        value = jnp.take_along_axis(v, unit[:, None], axis=1)[:, 0]
        logit = _on_logit(params, v, hidden_input, unit)
        return num_visible * jnp.mean(_log_conditional(logit, value))

    # Loop over units so memory stays O(N · n_hidden) rather than O(N · n_visible · n_hidden).
    def unit_term(i):
        unit = jnp.full((num_rows,), i)
        return _log_conditional(_on_logit(params, v, hidden_input, unit), v[:, i])

    terms = jax.lax.map(unit_term, jnp.arange(num_visible))
    return jnp.mean(jnp.sum(terms, axis=0))


@functools.partial(jax.jit, static_argnames=("num_chains", "num_betas", "visible"))
def ais_log_partition(
    params: Params,
    key: jax.Array,
    *,
    num_chains: int = 100,
    num_betas: int = 1000,
    betas: jax.Array | None = None,
    base_visible_bias: jax.Array | None = None,
    visible: str = "bernoulli",
) -> tuple[jax.Array, jax.Array]:
    """Estimates log Z by annealed importance sampling (Salakhutdinov & Murray 2008).

    The base model A has W = 0, b_h = 0 and visible biases b_A (the model's own b_v by default, or
    e.g. zeros or the data's log-odds), so log Z_A = n_hidden log 2 + Σ_i softplus(b_A_i) and it
    is sampled exactly. Intermediate distributions for β ∈ [0, 1] have the unnormalised marginal

        log p*_β(v) = (1 − β) b_Aᵀv + β b_vᵀv + Σ_j softplus(β (b_h_j + (vᵀW)_j)),

    which is the RBM with energy (1−β)E_A + βE scaled; each β_k is visited with one block Gibbs
    transition that leaves p_β_k invariant. For Gaussian visible units the base model is
    N(b_A, I) with log Z_A = n_hidden log 2 + (n_visible / 2) log 2π, and

        log p*_β(v) = −½‖v‖² + vᵀm_β − ½((1 − β)‖b_A‖² + β‖b_v‖²) + Σ_j softplus(β (b_h_j +
        (vᵀW)_j)),   m_β = (1 − β) b_A + β b_v,

    with Gibbs steps h ~ σ(β (b_h + vᵀW)), v ~ N(m_β + β W h, I). Per chain,
    log w = Σ_k log p*_β_k(v_{k−1}) − log p*_β_{k−1}(v_{k−1}), and Ẑ_B = Z_A · mean(w). The loop
    over β is a ``lax.scan``.

    Args:
        params: RBM parameters.
        key: PRNG key.
        num_chains: Number of independent AIS runs (static).
        num_betas: Length of the default linear schedule 0 = β_0 < … < β_K = 1 (static).
        betas: Optional increasing schedule from 0 to 1 (overrides ``num_betas``); Salakhutdinov &
            Murray use ~14,500 values, denser near 1.
        base_visible_bias: Optional (n_visible,) visible biases of the base-rate model (its mean
            for Gaussian units).
        visible: ``"bernoulli"`` or ``"gaussian"`` visible units (static).

    Returns:
        ``(log_z, log_z_std)``: the estimate log Ẑ (a stochastic lower bound in expectation) and
        the delta-method standard error std(w) / (√num_chains · mean(w)).
    """
    weights, visible_bias, hidden_bias = params["W"], params["b_v"], params["b_h"]
    num_visible, num_hidden = weights.shape
    dtype = weights.dtype
    if betas is None:
        betas = jnp.linspace(0.0, 1.0, num_betas, dtype=dtype)
    betas = jnp.asarray(betas, dtype)
    _check_visible(visible)
    gaussian = visible == "gaussian"
    base_bias = visible_bias if base_visible_bias is None else jnp.asarray(base_visible_bias, dtype)
    if gaussian:
        log_z_base = num_hidden * math.log(2.0) + 0.5 * num_visible * math.log(2.0 * math.pi)
        # The β-dependent constant of log p*_β, ½((1 − β)‖b_A‖² + β‖b_v‖²), changes by
        # (β' − β) · half_norm_shift between neighbouring β.
        half_norm_shift = 0.5 * (jnp.sum(jnp.square(visible_bias)) - jnp.sum(jnp.square(base_bias)))
    else:
        log_z_base = num_hidden * math.log(2.0) + jnp.sum(jax.nn.softplus(base_bias))
        half_norm_shift = 0.0

    init_key, anneal_key = jax.random.split(key)
    base_mean = jnp.broadcast_to(
        base_bias if gaussian else jax.nn.sigmoid(base_bias), (num_chains, num_visible)
    )
    v0 = _sample_visible_units(init_key, base_mean, visible)
    bias_shift = visible_bias - base_bias

    def anneal(carry, inputs):
        v, log_weight = carry
        beta_prev, beta_next, step_key = inputs
        hidden_input = v @ weights + hidden_bias
        log_weight = log_weight + (
            (beta_next - beta_prev) * (v @ bias_shift - half_norm_shift)
            + jnp.sum(
                jax.nn.softplus(beta_next * hidden_input)
                - jax.nn.softplus(beta_prev * hidden_input),
                axis=-1,
            )
        )
        hidden_key, visible_key = jax.random.split(step_key)
        h = _bernoulli(hidden_key, jax.nn.sigmoid(beta_next * hidden_input))
        visible_input = (1.0 - beta_next) * base_bias + beta_next * (h @ weights.T + visible_bias)
        mean = visible_input if gaussian else jax.nn.sigmoid(visible_input)
        v = _sample_visible_units(visible_key, mean, visible)
        return (v, log_weight), None

    step_keys = jax.random.split(anneal_key, betas.shape[0] - 1)
    (_, log_weight), _ = jax.lax.scan(
        anneal, (v0, jnp.zeros((num_chains,), dtype)), (betas[:-1], betas[1:], step_keys)
    )
    log_mean_weight = jax.nn.logsumexp(log_weight) - math.log(num_chains)
    relative_weight = jnp.exp(log_weight - log_mean_weight)
    log_z_std = jnp.std(relative_weight) / math.sqrt(num_chains)
    return log_z_base + log_mean_weight, log_z_std


def _bits(index: jax.Array, num_bits: int, dtype: Any) -> jax.Array:
    return ((index[..., None] >> jnp.arange(num_bits)) & 1).astype(dtype)


@functools.partial(jax.jit, static_argnames=("visible",))
def exact_log_partition(params: Params, *, visible: str = "bernoulli") -> jax.Array:
    """Exact log Z by enumerating the smaller layer and summing out the other analytically.

    With hidden units enumerated, log Z = logsumexp_h [b_hᵀh + Σ_i softplus(b_v_i + (W h)_i)];
    with visible units enumerated, log Z = logsumexp_v [−F(v)]. The 2^n states are visited in
    chunks of 2^14 inside a ``lax.scan`` so memory stays bounded; cost is O(2^n · n_v · n_h).
    Gaussian visible units are integrated out in closed form, so the hidden layer is enumerated:
    log Z = (n_v / 2) log 2π + logsumexp_h [b_hᵀh + ½‖b_v + W h‖² − ½‖b_v‖²].

    Args:
        params: RBM parameters with min(n_visible, n_hidden) <= 30 (n_hidden <= 30 for
            Gaussian visible units).
        visible: ``"bernoulli"`` or ``"gaussian"`` visible units (static).

    Returns:
        Scalar log Z.
    """
    _check_visible(visible)
    weights = params["W"]
    gaussian = visible == "gaussian"
    if gaussian or weights.shape[1] <= weights.shape[0]:
        # Enumerate hidden units: the RBM is symmetric under swapping the layers.
        enum_bias, other_bias, coupling = params["b_h"], params["b_v"], weights.T
    else:
        enum_bias, other_bias, coupling = params["b_v"], params["b_h"], weights
    num_enumerated = enum_bias.shape[0]
    if num_enumerated > _MAX_ENUMERATED_UNITS:
        layer = "hidden layer" if gaussian else "smaller layer"
        raise ValueError(
            f"exact_log_partition enumerates 2^{num_enumerated} states; "
            f"use at most {_MAX_ENUMERATED_UNITS} units in the {layer} or AIS"
        )
    dtype = weights.dtype
    low_bits = min(num_enumerated, _ENUMERATION_CHUNK_BITS)
    high_bits = num_enumerated - low_bits
    low_states = _bits(jnp.arange(2**low_bits), low_bits, dtype)

    def chunk_log_sum(_, chunk):
        high_state = jnp.broadcast_to(_bits(chunk, high_bits, dtype), (2**low_bits, high_bits))
        states = jnp.concatenate([low_states, high_state], axis=1)
        other_input = states @ coupling + other_bias
        if gaussian:
            other_term = 0.5 * jnp.sum(jnp.square(other_input), axis=-1)
        else:
            other_term = jnp.sum(jax.nn.softplus(other_input), axis=-1)
        return None, jax.nn.logsumexp(states @ enum_bias + other_term)

    _, chunk_sums = jax.lax.scan(chunk_log_sum, None, jnp.arange(2**high_bits))
    log_z = jax.nn.logsumexp(chunk_sums)
    if gaussian:
        num_visible = weights.shape[0]
        log_z += 0.5 * num_visible * math.log(2.0 * math.pi) - 0.5 * jnp.sum(
            jnp.square(params["b_v"])
        )
    return log_z


def log_likelihood(
    params: Params, v: jax.Array, log_z: jax.Array, *, visible: str = "bernoulli"
) -> jax.Array:
    """Average log-likelihood mean_n log p(v_n) = mean_n(−F(v_n)) − log Z.

    Args:
        params: RBM parameters.
        v: Data (..., n_visible).
        log_z: log partition function (exact_log_partition or ais_log_partition).
        visible: ``"bernoulli"`` or ``"gaussian"`` visible units (a log density for Gaussian).

    Returns:
        Scalar average log-likelihood in nats.
    """
    return jnp.mean(-free_energy(params, v, visible=visible)) - log_z
