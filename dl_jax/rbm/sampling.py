"""Randomness for the RBM: threefry or a counter-based hash stream, Feistel shuffles, Gibbs chains.

``sampler="threefry"`` draws with ``jax.random``; ``sampler="hash"`` hashes element indices with
an integer hash keyed by two 32-bit seeds drawn from the key (still a pure function of the key,
~10x cheaper than threefry on CPU, where sampling otherwise costs about as much as the matmuls).
"""

from __future__ import annotations

import functools
import math
from typing import Any

import jax
import jax.numpy as jnp

from dl_jax.rbm.model import Params, _check_visible, hidden_probs, visible_mean


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
