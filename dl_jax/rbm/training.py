"""Bernoulli–Bernoulli restricted Boltzmann machine as pure functions over a params pytree.

The model has binary visible units ``v`` (n_visible) and binary hidden units ``h`` (n_hidden),
parameters ``{'W': (n_visible, n_hidden), 'b_v': (n_visible,), 'b_h': (n_hidden,)}`` and

    E(v, h) = -b_vᵀv - b_hᵀh - vᵀWh,            p(v, h) = exp(-E(v, h)) / Z,
    F(v)    = -log Σ_h exp(-E(v, h)) = -b_vᵀv - Σ_j softplus(b_h_j + (vᵀW)_j),
    p(h_j = 1 | v) = σ(b_h_j + (vᵀW)_j),        p(v_i = 1 | h) = σ(b_v_i + (W h)_i).

Training follows Hinton's "A Practical Guide to Training Restricted Boltzmann Machines" (2010):
contrastive divergence CD-k (Hinton 2002) or persistent CD (PCD, Tieleman 2008) with momentum
and L2 weight decay on ``W``; hidden statistics use probabilities, the negative-phase visible
states are binary samples (so the persistent chain is a proper Markov chain). One epoch is a single
jit-compiled ``lax.scan`` over shuffled minibatches. Training samples with ``jax.random`` by
default; ``sampler="hash"`` swaps in a counter-based integer-hash stream (seeded from the key, so
still a pure function of it) that is ~10x cheaper than threefry on CPU, where sampling otherwise
costs about as much as the matmuls.

Gaussian–Bernoulli RBM: every function that depends on the visible units takes
``visible="gaussian"`` for real-valued data, with unit-variance Gaussian visible units

    E(v, h) = ½‖v − b_v‖² − b_hᵀh − vᵀWh,       p(v | h) = N(b_v + W h, I),
    F(v)    = ½‖v − b_v‖² − Σ_j softplus(b_h_j + (vᵀW)_j),

so the data should be standardised per unit (zero mean, unit variance) first, and learning rates
be 1–2 orders of magnitude smaller than for binary units (Hinton's guide, §13.2). Variances are
fixed at 1 rather than learned: learned σ make CD unstable (Cho, Ilin & Raiko 2011) and the
guide recommends standardising instead. The pseudo-log-likelihood is for binary units only.

Evaluation: reconstruction error, the exact (or one-unit stochastic) pseudo-log-likelihood,
log Z by annealed importance sampling (Salakhutdinov & Murray 2008) or, for small models, by exact
enumeration, and the average log-likelihood given log Z.

Functions accept a single vector or a batch (leading axes) for ``v``/``h`` unless stated
otherwise. Real values in [0, 1] are accepted as visible "probabilities" (e.g. greyscale digits).
"""

from __future__ import annotations

import functools
import math
from collections.abc import Callable, Mapping
from typing import Any

import jax
import jax.numpy as jnp
import numpy as np

Params = dict[str, jax.Array]

# Largest number of units exact_log_partition will enumerate (2**30 states is already minutes).
_MAX_ENUMERATED_UNITS = 30
# States enumerated per scan step of exact_log_partition, bounding its memory.
_ENUMERATION_CHUNK_BITS = 14


# ---------------------------------------------------------------------------------------------
# Model
# ---------------------------------------------------------------------------------------------


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


def _lowbias32(x: jax.Array) -> jax.Array:
    # Wellons' "lowbias32" integer hash: a bijection on uint32 with near-ideal avalanche.
    x = x ^ (x >> 16)
    x = x * jnp.uint32(0x7FEB352D)
    x = x ^ (x >> 15)
    x = x * jnp.uint32(0x846CA68B)
    return x ^ (x >> 16)


SAMPLERS = ("threefry", "hash")


def _check_sampler(sampler: str) -> None:
    if sampler not in SAMPLERS:
        raise ValueError(f"sampler must be one of {SAMPLERS}, got {sampler!r}")


def _draw_randomness(key: jax.Array, leading_shape: tuple[int, ...], sampler: str) -> jax.Array:
    # Randomness for many Bernoulli draws at once, indexed by leading_shape: typed keys for
    # threefry, or a pair of uint32 seeds for the hash stream. Drawing it in one call keeps the
    # small key-derivation kernels out of the training scan's body.
    if sampler == "threefry":
        return jax.random.split(key, math.prod(leading_shape)).reshape(leading_shape)
    return jax.random.bits(key, (*leading_shape, 2), jnp.uint32)


def _uniform(
    randomness: jax.Array,
    shape: tuple[int, ...],
    dtype: Any,
    sampler: str,
    row_offset: int | jax.Array = 0,
) -> jax.Array:
    if sampler == "threefry":
        return jax.random.uniform(randomness, shape, dtype)
    # Counter-based stream: the element index goes through two rounds of the integer hash, each
    # keyed by one 32-bit seed, so two draws share a stream only if both seeds collide (2^-64).
    # row_offset shifts the counter to where these rows sit in a larger (row-major) draw, so a
    # device holding rows [r, r + B) of a batch draws exactly the uniforms a single device would.
    counter = jax.lax.iota(jnp.uint32, math.prod(shape)).reshape(shape)
    counter = counter + jnp.asarray(row_offset, jnp.uint32) * jnp.uint32(shape[-1])
    mixed = _lowbias32(_lowbias32(counter ^ randomness[0]) + randomness[1])
    return (mixed >> 8).astype(dtype) * (1.0 / (1 << 24))


def _hash_permutation(seeds: jax.Array, size: int) -> jax.Array:
    """A pseudo-random permutation of range(size) from two uint32 seeds, without sorting.

    A balanced Feistel network over 2b-bit integers (2^2b >= size) is a bijection of [0, 2^2b);
    "cycle walking" (re-applying it to the indices that land at or above ``size``) restricts it
    to a bijection of [0, size). Round functions are the lowbias32 hash keyed by the seeds and
    the round. Luby and Rackoff's 4 rounds suffice asymptotically, but on tiny domains (2-bit
    halves for 8 rows) 4 or 6 rounds measurably favour some orders (chi-square of rows vs
    positions 162 and 90 for 49 degrees of freedom); 8 rounds give 49, as uniform as the
    test in tests/test_rbm.py can tell. On CPU this costs well under a millisecond for
    tens of thousands of rows where ``jax.random.permutation``'s sorts cost ~12 ms (35,940 rows),
    a sixth of a whole CD-1 epoch.
    """
    half_bits = max(1, (max(size - 1, 1).bit_length() + 1) // 2)
    mask = jnp.uint32((1 << half_bits) - 1)

    def feistel(index):
        left, right = index >> half_bits, index & mask
        for round_index in range(8):
            round_key = seeds[round_index % 2] + jnp.uint32(0x9E3779B9 * (round_index + 1) % 2**32)
            left, right = right, left ^ (_lowbias32(right ^ round_key) & mask)
        return (left << half_bits) | right

    def walk(index):
        return jnp.where(index >= size, feistel(index), index)

    index = feistel(jax.lax.iota(jnp.uint32, size))
    index = jax.lax.while_loop(lambda index: jnp.any(index >= size), walk, index)
    return index.astype(jnp.int32)


def _bernoulli(
    randomness: jax.Array,
    probs: jax.Array,
    sampler: str = "threefry",
    row_offset: int | jax.Array = 0,
) -> jax.Array:
    # Same dtype as the probabilities so samples feed straight into the next matmul.
    uniforms = _uniform(randomness, probs.shape, probs.dtype, sampler, row_offset)
    return (uniforms < probs).astype(probs.dtype)


# Re-keys the hash stream for the second uniform of a Box–Muller pair (any odd constant works).
_SECOND_STREAM = 0x9E3779B9


def _normal(
    randomness: jax.Array,
    shape: tuple[int, ...],
    dtype: Any,
    sampler: str = "threefry",
    row_offset: int | jax.Array = 0,
) -> jax.Array:
    # Standard normal draws: jax.random.normal under threefry; under the hash sampler the
    # Box–Muller transform of two hashed uniform streams (the second re-keyed), so, as for the
    # Bernoulli draws, a device holding rows [r, r + B) draws what a single device would.
    if sampler == "threefry":
        return jax.random.normal(randomness, shape, dtype)
    radius_uniform = 1.0 - _uniform(randomness, shape, dtype, sampler, row_offset)  # in (0, 1]
    angle_uniform = _uniform(randomness ^ jnp.uint32(_SECOND_STREAM), shape, dtype, sampler,
                             row_offset)
    return jnp.sqrt(-2.0 * jnp.log(radius_uniform)) * jnp.cos((2.0 * math.pi) * angle_uniform)


def _sample_visible_units(
    randomness: jax.Array,
    mean: jax.Array,
    visible: str,
    sampler: str = "threefry",
    row_offset: int | jax.Array = 0,
) -> jax.Array:
    # v ~ p(v | h) given its mean: Bernoulli(mean), or N(mean, 1) for Gaussian units.
    if visible == "gaussian":
        return mean + _normal(randomness, mean.shape, mean.dtype, sampler, row_offset)
    return _bernoulli(randomness, mean, sampler, row_offset)


def sample_hidden(params: Params, key: jax.Array, v: jax.Array) -> jax.Array:
    """Draws binary h ~ p(h | v), each h_j independently Bernoulli(σ(b_h_j + (vᵀW)_j)).

    Args:
        params: RBM parameters.
        key: PRNG key.
        v: Visible states (..., n_visible).

    Returns:
        Binary hidden states (..., n_hidden) in the parameters' float dtype.
    """
    return _bernoulli(key, hidden_probs(params, v))


def sample_visible(
    params: Params, key: jax.Array, h: jax.Array, *, visible: str = "bernoulli"
) -> jax.Array:
    """Draws v ~ p(v | h): each v_i Bernoulli(σ(b_v_i + (W h)_i)), or N(b_v_i + (W h)_i, 1).

    Args:
        params: RBM parameters.
        key: PRNG key.
        h: Hidden states (..., n_hidden).
        visible: ``"bernoulli"`` or ``"gaussian"`` visible units.

    Returns:
        Visible states (..., n_visible): binary, or real for Gaussian units.
    """
    return _sample_visible_units(key, visible_mean(params, h, visible=visible), visible)


def _gibbs_chain(
    params: Params,
    v0: jax.Array,
    step_randomness: jax.Array,
    sampler: str,
    row_offset: int | jax.Array = 0,
    first_hidden_probs: jax.Array | None = None,
    visible: str = "bernoulli",
) -> tuple[jax.Array, jax.Array]:
    # step_randomness: (num_steps, 2) draws, one for h|v and one for v|h per step. Returns the
    # final visible states and E[v | h] of the first step (CD's reconstruction).
    # first_hidden_probs, when the caller already holds p(h | v0), saves recomputing it.
    if first_hidden_probs is None:
        first_hidden_probs = hidden_probs(params, v0)
    h = _bernoulli(step_randomness[0, 0], first_hidden_probs, sampler, row_offset)
    first_visible_mean = visible_mean(params, h, visible=visible)
    v = _sample_visible_units(step_randomness[0, 1], first_visible_mean, visible, sampler,
                              row_offset)

    def step(v, randomness):
        h = _bernoulli(randomness[0], hidden_probs(params, v), sampler, row_offset)
        mean = visible_mean(params, h, visible=visible)
        return _sample_visible_units(randomness[1], mean, visible, sampler, row_offset), None

    # Short chains are fully unrolled so CD-k inside the epoch scan has no nested while loop;
    # long ones stay rolled to keep compilation cheap.
    num_steps = step_randomness.shape[0] - 1
    if num_steps:
        unroll = num_steps if num_steps <= 4 else 1
        v, _ = jax.lax.scan(step, v, step_randomness[1:], unroll=unroll)
    return v, first_visible_mean


@functools.partial(jax.jit, static_argnames=("num_steps", "sampler", "visible"))
def gibbs_sample(
    params: Params,
    key: jax.Array,
    v0: jax.Array,
    num_steps: int,
    *,
    sampler: str = "threefry",
    visible: str = "bernoulli",
) -> jax.Array:
    """Runs ``num_steps`` of block Gibbs sampling v → h ~ p(h|v) → v ~ p(v|h).

    Each step resamples all hidden units given v, then all visible units given h; the chain
    leaves p(v, h) invariant. The loop is a ``lax.scan`` over per-step randomness.

    Args:
        params: RBM parameters.
        key: PRNG key.
        v0: Initial visible states (..., n_visible); real values in [0, 1] are fine.
        num_steps: Number of full v → h → v steps (static).
        sampler: ``"threefry"`` or ``"hash"`` (see cd_update).
        visible: ``"bernoulli"`` or ``"gaussian"`` visible units.

    Returns:
        Visible states after ``num_steps`` steps (``v0`` itself when ``num_steps`` is 0).
    """
    _check_sampler(sampler)
    _check_visible(visible)
    if num_steps == 0:
        return v0
    randomness = _draw_randomness(key, (num_steps, 2), sampler)
    return _gibbs_chain(params, v0, randomness, sampler, visible=visible)[0]


# ---------------------------------------------------------------------------------------------
# Training
# ---------------------------------------------------------------------------------------------


def init_persistent_chain(
    params: Params, key: jax.Array, num_chains: int, *, visible: str = "bernoulli"
) -> jax.Array:
    """Starting states for PCD fantasy particles: v ~ Bernoulli(σ(b_v)) (Gaussian: N(b_v, I)).

    That is a Gibbs step from all-off hidden units (as scikit-learn's BernoulliRBM starts), so with
    data-initialised visible biases the chains start at the data's base rates.

    Args:
        params: RBM parameters.
        key: PRNG key.
        num_chains: Number of persistent chains (usually the batch size).
        visible: ``"bernoulli"`` or ``"gaussian"`` visible units.

    Returns:
        Visible states (num_chains, n_visible).
    """
    mean = visible_mean(params, jnp.zeros((num_chains, params["b_h"].shape[0])), visible=visible)
    return _sample_visible_units(key, mean, visible)


@functools.partial(jax.jit, static_argnames=("k", "sampler", "visible"))
def cd_update(
    params: Params,
    velocity: Params,
    batch: jax.Array,
    key: jax.Array,
    *,
    k: int = 1,
    learning_rate: float | jax.Array,
    momentum: float | jax.Array = 0.0,
    weight_decay: float | jax.Array = 0.0,
    persistent_chain: jax.Array | None = None,
    sampler: str = "threefry",
    visible: str = "bernoulli",
) -> tuple[Params, Params, jax.Array, dict[str, jax.Array]]:
    """One CD-k (or PCD-k) step with momentum and L2 weight decay on W.

    The log-likelihood gradient ∂ log p(v)/∂W = <v hᵀ>_data − <v hᵀ>_model is estimated with

        ΔW  ∝ vᵀ p(h|v) / B − ṽᵀ p(h|ṽ) / C − weight_decay · W,
        Δb_v ∝ mean(v) − mean(ṽ),   Δb_h ∝ mean(p(h|v)) − mean(p(h|ṽ)),

    where ṽ are C binary samples after k block Gibbs steps started at the batch (CD-k, C = B) or
    at the persistent chain (PCD; Tieleman 2008). Hidden statistics use probabilities (Hinton's
    guide, §3), the Rao–Blackwellised, lower-variance estimate. The update is

        velocity ← momentum · velocity + learning_rate · gradient,   params ← params + velocity.

    Args:
        params: RBM parameters.
        velocity: Momentum buffers, same structure as ``params`` (zeros at the start).
        batch: Data minibatch (B, n_visible), binary or in [0, 1].
        key: PRNG key.
        k: Number of Gibbs steps in the negative phase (static).
        learning_rate: Step size (may be traced, e.g. from a schedule).
        momentum: Momentum coefficient.
        weight_decay: L2 coefficient applied to ``W`` only (biases are not decayed).
        persistent_chain: PCD fantasy particles (C, n_visible); None for CD-k.
        sampler: Source of the Bernoulli uniforms (static): ``"threefry"`` uses
            ``jax.random.uniform``; ``"hash"`` derives two 32-bit seeds per draw from the key and
            hashes the element indices with an integer hash (24-bit uniforms; not cryptographic,
            but reproducible and about 10x cheaper than threefry on CPU).
        visible: ``"bernoulli"`` or ``"gaussian"`` visible units (static). The same update holds
            for both; Gaussian negative samples are ṽ ~ N(b_v + W h, I).

    Returns:
        ``(params, velocity, chain, metrics)`` where ``chain`` holds the negative samples ṽ (the
        updated persistent chain under PCD) and ``metrics['reconstruction_error']`` is the
        batch's mean squared error of its CD reconstruction E[v | h], h ~ p(h | batch) (Hinton's
        guide, §5: under CD-k the chain's own first step, so it costs nothing; under PCD one
        extra down pass). The public reconstruction_error is the deterministic up-down version.
    """
    if k < 1:
        raise ValueError(f"k must be >= 1, got {k}")
    _check_sampler(sampler)
    _check_visible(visible)
    return _cd_step(
        params,
        velocity,
        batch,
        _draw_randomness(key, (k, 2), sampler),
        learning_rate=learning_rate,
        momentum=momentum,
        weight_decay=weight_decay,
        persistent_chain=persistent_chain,
        sampler=sampler,
        visible=visible,
    )


def _cd_step(
    params: Params,
    velocity: Params,
    batch: jax.Array,
    step_randomness: jax.Array,
    *,
    learning_rate: float | jax.Array,
    momentum: float | jax.Array,
    weight_decay: float | jax.Array,
    persistent_chain: jax.Array | None,
    sampler: str,
    axis_name: str | None = None,
    chain_row_offset: int | jax.Array = 0,
    visible: str = "bernoulli",
) -> tuple[Params, Params, jax.Array, dict[str, jax.Array]]:
    # cd_update with its randomness already drawn, shape (k, 2); see cd_update for the maths.
    # Under data parallelism (axis_name set) batch and chain are this device's equal-sized shards
    # starting at global chain row chain_row_offset; every statistic is a mean over rows, so
    # pmean-ing the per-shard means gives the full-batch means and every device then applies the
    # same update to its replica.
    hidden_positive = hidden_probs(params, batch)
    if persistent_chain is None:
        # CD-k: the chain starts at the batch, so its first p(v | h) is the reconstruction.
        negative_visible, reconstruction = _gibbs_chain(
            params, batch, step_randomness, sampler, chain_row_offset, hidden_positive, visible
        )
    else:
        negative_visible, _ = _gibbs_chain(
            params, persistent_chain, step_randomness, sampler, chain_row_offset, visible=visible
        )
        # PCD: the chain never visits the batch; reconstruct it with the first step's uniforms.
        hidden_sample = _bernoulli(
            step_randomness[0, 0], hidden_positive, sampler, chain_row_offset
        )
        reconstruction = visible_mean(params, hidden_sample, visible=visible)
    hidden_negative = hidden_probs(params, negative_visible)
    batch_size, num_chains = batch.shape[0], negative_visible.shape[0]

    # Both phases' vᵀh in one (n_visible, B + C) x (B + C, n_hidden) matmul: on CPU one larger
    # matmul runs closer to peak than two small ones. The barrier keeps the transpose explicit:
    # folded into the dot (contracting dimension 0) XLA:CPU falls back to a slower matmul kernel.
    statistics = {
        "W": jax.lax.optimization_barrier(jnp.concatenate([batch, negative_visible]).T)
        @ jnp.concatenate([hidden_positive / batch_size, hidden_negative / -num_chains]),
        "b_v": jnp.mean(batch, axis=0) - jnp.mean(negative_visible, axis=0),
        "b_h": jnp.mean(hidden_positive, axis=0) - jnp.mean(hidden_negative, axis=0),
    }
    metrics = {"reconstruction_error": jnp.mean(jnp.square(batch - reconstruction))}
    if axis_name is not None:
        statistics, metrics = _flat_pmean((statistics, metrics), axis_name)
    gradient = dict(statistics, W=statistics["W"] - weight_decay * params["W"])
    velocity = jax.tree.map(lambda m, g: momentum * m + learning_rate * g, velocity, gradient)
    new_params = jax.tree.map(jnp.add, params, velocity)
    return new_params, velocity, negative_visible, metrics


def _flat_pmean(tree: Any, axis_name: str) -> Any:
    # One all-reduce of a single flat vector instead of one per leaf: on CPU each cross-device
    # collective has a fixed latency (~20 us measured) that is a sizeable part of a CD-1 step.
    flat, unravel = _ravel(tree)
    return unravel(jax.lax.pmean(flat, axis_name))


def _ravel(tree: Any) -> tuple[jax.Array, Callable[[jax.Array], Any]]:
    leaves, treedef = jax.tree.flatten(tree)
    shapes = [leaf.shape for leaf in leaves]
    sizes = [math.prod(shape) for shape in shapes]
    flat = jnp.concatenate([jnp.ravel(leaf) for leaf in leaves])

    def unravel(vector: jax.Array) -> Any:
        pieces, start = [], 0
        for shape, size in zip(shapes, sizes, strict=True):
            pieces.append(vector[start : start + size].reshape(shape))
            start += size
        return jax.tree.unflatten(treedef, pieces)

    return flat, unravel


DATA_AXIS = "data"


@functools.partial(jax.jit, static_argnames=("batch_size", "k", "sampler", "mesh", "visible"))
def train_epoch(
    params: Params,
    velocity: Params,
    chain: jax.Array | None,
    data: jax.Array,
    key: jax.Array,
    *,
    batch_size: int,
    k: int = 1,
    learning_rate: float | jax.Array,
    momentum: float | jax.Array = 0.0,
    weight_decay: float | jax.Array = 0.0,
    sampler: str = "threefry",
    mesh: jax.sharding.Mesh | None = None,
    visible: str = "bernoulli",
) -> tuple[Params, Params, jax.Array | None, dict[str, jax.Array]]:
    """One epoch of CD-k / PCD-k as a single jit-compiled ``lax.scan`` over minibatches.

    The rows are permuted with ``key`` (``jax.random.permutation`` under threefry; under the hash
    sampler a sort-free Feistel permutation, see _hash_permutation, ~12 ms cheaper per 36k-row
    epoch on CPU) and split into ``len(data) // batch_size`` minibatches; the
    remainder (fewer than ``batch_size`` rows) is dropped for this epoch. Because every epoch draws
    a fresh permutation, dropped rows differ from epoch to epoch and all rows are used over a run.

    With a ``mesh`` the epoch is data parallel: the scan runs under ``jax.shard_map`` with every
    minibatch (and the persistent chain) split along its rows over the mesh's ``'data'`` axis,
    parameters replicated, and the CD statistics averaged with one ``lax.pmean`` per step, so all
    devices apply the same update. XLA:CPU runs these small matmuls on one thread, so one CPU
    device per core (``JAX_NUM_CPU_DEVICES``) is how an epoch uses several cores. With
    ``sampler="hash"`` each device hashes the global element indices of its rows, so it draws
    exactly the uniforms of the single-device epoch and the result matches it up to float
    rounding; with threefry the per-step keys are folded with the device index.

    Args:
        params: RBM parameters.
        velocity: Momentum buffers, same structure as ``params``.
        chain: Persistent chain (C, n_visible) for PCD, or None for CD-k.
        data: Training data (N, n_visible) with N >= batch_size.
        key: PRNG key for this epoch (fit folds the epoch index into its key).
        batch_size: Minibatch size (static).
        k: Gibbs steps per update (static).
        learning_rate: Step size.
        momentum: Momentum coefficient.
        weight_decay: L2 coefficient on ``W``.
        sampler: ``"threefry"`` or ``"hash"`` (static; see cd_update).
        mesh: Optional mesh with a ``'data'`` axis whose size divides ``batch_size`` and the
            number of chains (static), e.g. ``jax.sharding.Mesh(np.array(jax.devices()),
            ("data",))`` (automatic axis types); None runs on one device.
        visible: ``"bernoulli"`` or ``"gaussian"`` visible units (static).

    Returns:
        ``(params, velocity, chain, metrics)`` with ``chain`` None for CD-k and ``metrics`` the
        epoch means of cd_update's per-batch metrics.
    """
    num_batches = data.shape[0] // batch_size
    if num_batches == 0:
        raise ValueError(f"need at least batch_size={batch_size} rows, got {data.shape[0]}")
    if k < 1:
        raise ValueError(f"k must be >= 1, got {k}")
    _check_sampler(sampler)
    _check_visible(visible)
    shuffle_key, steps_key = jax.random.split(key)
    if sampler == "threefry":
        order = jax.random.permutation(shuffle_key, data.shape[0])
    else:
        order = _hash_permutation(jax.random.bits(shuffle_key, (2,), jnp.uint32), data.shape[0])
    batches = data[order[: num_batches * batch_size]].reshape(num_batches, batch_size, -1)
    persistent = chain is not None
    hyper = jnp.asarray([learning_rate, momentum, weight_decay], params["W"].dtype)

    def run_scan(params, velocity, chain, batches, steps_key, hyper, axis_name):
        chain_row_offset = 0
        if axis_name is not None:
            device = jax.lax.axis_index(axis_name)
            local_chains = batches.shape[1] if chain is None else chain.shape[0]
            chain_row_offset = device * local_chains
            if sampler == "threefry":
                steps_key = jax.random.fold_in(steps_key, device)
        randomness = _draw_randomness(steps_key, (num_batches, k, 2), sampler)

        def step(carry, inputs):
            params, velocity, chain = carry
            batch, step_randomness = inputs
            params, velocity, negative, metrics = _cd_step(
                params,
                velocity,
                batch,
                step_randomness,
                learning_rate=hyper[0],
                momentum=hyper[1],
                weight_decay=hyper[2],
                persistent_chain=chain,
                sampler=sampler,
                axis_name=axis_name,
                chain_row_offset=chain_row_offset,
                visible=visible,
            )
            return (params, velocity, negative if persistent else None), metrics

        (params, velocity, chain), metrics = jax.lax.scan(
            step, (params, velocity, chain), (batches, randomness)
        )
        return params, velocity, chain, jax.tree.map(jnp.mean, metrics)

    if mesh is None:
        return run_scan(params, velocity, chain, batches, steps_key, hyper, None)
    if DATA_AXIS not in mesh.axis_names:
        raise ValueError(f"mesh needs a {DATA_AXIS!r} axis, got {mesh.axis_names}")
    num_devices = mesh.shape[DATA_AXIS]
    num_chains = batch_size if chain is None else chain.shape[0]
    if batch_size % num_devices or num_chains % num_devices:
        raise ValueError(
            f"batch_size={batch_size} and {num_chains} chains must be divisible by the "
            f"{num_devices} devices of the mesh's {DATA_AXIS!r} axis"
        )
    replicated, rows = jax.sharding.PartitionSpec(), jax.sharding.PartitionSpec(DATA_AXIS)
    chain_spec = None if chain is None else rows
    # check_vma=False: the replicated carry stays replicated because every device adds the same
    # pmean-ed update; nothing here is differentiated, so the per-device view is all we need.
    data_parallel = jax.shard_map(
        functools.partial(run_scan, axis_name=DATA_AXIS),
        mesh=mesh,
        in_specs=(
            replicated,
            replicated,
            chain_spec,
            jax.sharding.PartitionSpec(None, DATA_AXIS),
            replicated,
            replicated,
        ),
        out_specs=(replicated, replicated, chain_spec, replicated),
        check_vma=False,
    )
    return data_parallel(params, velocity, chain, batches, steps_key, hyper)


def fit(
    params: Params,
    data: Any,
    key: jax.Array,
    *,
    epochs: int,
    batch_size: int,
    k: int = 1,
    learning_rate: float,
    momentum: float = 0.0,
    weight_decay: float = 0.0,
    persistent: bool = False,
    sampler: str = "threefry",
    callback: Callable[[int, Params, Mapping[str, float]], None] | None = None,
    visible: str = "bernoulli",
) -> tuple[Params, dict[str, np.ndarray]]:
    """Trains with CD-k or PCD-k; a pure function of (params, data, key, hyper-parameters).

    Epoch ``e`` runs train_epoch with ``fold_in(epoch_key, e)`` (shuffle and sampling), so runs are
    reproducible and an epoch can be re-run in isolation. Momentum buffers start at zero; the
    persistent chain (PCD, ``batch_size`` particles) starts from init_persistent_chain.

    Args:
        params: Initial RBM parameters.
        data: Training data (N, n_visible), binary or in [0, 1].
        key: PRNG key.
        epochs: Number of passes over the data.
        batch_size: Minibatch size; the remainder of each shuffled epoch is dropped.
        k: Gibbs steps per update.
        learning_rate: Step size.
        momentum: Momentum coefficient.
        weight_decay: L2 coefficient on ``W``.
        persistent: Use PCD instead of CD-k.
        sampler: ``"threefry"`` or ``"hash"`` (see cd_update).
        callback: Called as ``callback(epoch, params, metrics)`` after every epoch (host side).
        visible: ``"bernoulli"`` or ``"gaussian"`` visible units.

    Returns:
        ``(params, history)`` where ``history[name]`` is an (epochs,) array of per-epoch metrics.
    """
    data = jnp.asarray(data, params["W"].dtype)
    chain_key, epoch_key = jax.random.split(key)
    velocity = jax.tree.map(jnp.zeros_like, params)
    chain = None
    if persistent:
        chain = init_persistent_chain(params, chain_key, batch_size, visible=visible)
    history: dict[str, list[float]] = {}
    for epoch in range(epochs):
        params, velocity, chain, metrics = train_epoch(
            params,
            velocity,
            chain,
            data,
            jax.random.fold_in(epoch_key, epoch),
            batch_size=batch_size,
            k=k,
            learning_rate=learning_rate,
            momentum=momentum,
            weight_decay=weight_decay,
            sampler=sampler,
            visible=visible,
        )
        metrics = {name: float(value) for name, value in metrics.items()}
        for name, value in metrics.items():
            history.setdefault(name, []).append(value)
        if callback is not None:
            callback(epoch, params, metrics)
    return params, {name: np.asarray(values) for name, values in history.items()}


# ---------------------------------------------------------------------------------------------
# Evaluation
# ---------------------------------------------------------------------------------------------


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
