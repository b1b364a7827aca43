"""Training: one CD-k / PCD-k update, a jit-compiled epoch (optionally data parallel), fit.

Hinton's "A Practical Guide to Training Restricted Boltzmann Machines" (2010): contrastive
divergence CD-k (Hinton 2002) or persistent CD (PCD, Tieleman 2008) with momentum and L2 weight
decay on ``W``; hidden statistics use probabilities, the negative-phase visible states are binary
samples (so the persistent chain is a proper Markov chain). One epoch is a single jit-compiled
``lax.scan`` over shuffled minibatches.
"""

from __future__ import annotations

import functools
import math
from collections.abc import Callable, Mapping
from typing import Any

import jax
import jax.numpy as jnp
import numpy as np

from dl_jax.rbm.model import Params, _check_visible, hidden_probs, visible_mean
from dl_jax.rbm.sampling import (
    _bernoulli,
    _check_sampler,
    _draw_randomness,
    _gibbs_chain,
    _hash_permutation,
    init_persistent_chain,
)


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
    batches = _shuffled_batches(data, shuffle_key, batch_size, sampler)
    hyper = jnp.asarray([learning_rate, momentum, weight_decay], params["W"].dtype)
    run_scan = functools.partial(_epoch_scan, k=k, sampler=sampler, visible=visible)
    if mesh is None:
        return run_scan(params, velocity, chain, batches, steps_key, hyper, axis_name=None)
    return _data_parallel(run_scan, mesh, batch_size, chain)(
        params, velocity, chain, batches, steps_key, hyper)


def _shuffled_batches(data: jax.Array, key: jax.Array, batch_size: int,
                      sampler: str) -> jax.Array:
    # The epoch's rows in a random order as (num_batches, batch_size, n_visible); the remainder
    # is dropped. Threefry: jax.random.permutation; hash: the sort-free Feistel permutation.
    num_batches = data.shape[0] // batch_size
    if sampler == "threefry":
        order = jax.random.permutation(key, data.shape[0])
    else:
        order = _hash_permutation(jax.random.bits(key, (2,), jnp.uint32), data.shape[0])
    return data[order[: num_batches * batch_size]].reshape(num_batches, batch_size, -1)


def _epoch_scan(params, velocity, chain, batches, steps_key, hyper, *, axis_name, k, sampler,
                visible):
    # The epoch's lax.scan of _cd_step over minibatches, on one device or (axis_name set) as
    # one device's shard of every batch and of the persistent chain.
    persistent = chain is not None
    chain_row_offset = 0
    if axis_name is not None:
        device = jax.lax.axis_index(axis_name)
        local_chains = batches.shape[1] if chain is None else chain.shape[0]
        chain_row_offset = device * local_chains
        if sampler == "threefry":
            steps_key = jax.random.fold_in(steps_key, device)
    randomness = _draw_randomness(steps_key, (batches.shape[0], k, 2), sampler)

    def step(carry, inputs):
        params, velocity, chain = carry
        batch, step_randomness = inputs
        params, velocity, negative, metrics = _cd_step(
            params, velocity, batch, step_randomness, learning_rate=hyper[0],
            momentum=hyper[1], weight_decay=hyper[2], persistent_chain=chain, sampler=sampler,
            axis_name=axis_name, chain_row_offset=chain_row_offset, visible=visible,
        )
        return (params, velocity, negative if persistent else None), metrics

    (params, velocity, chain), metrics = jax.lax.scan(
        step, (params, velocity, chain), (batches, randomness)
    )
    return params, velocity, chain, jax.tree.map(jnp.mean, metrics)


def _data_parallel(run_scan: Callable, mesh: jax.sharding.Mesh, batch_size: int,
                   chain: jax.Array | None) -> Callable:
    # run_scan under shard_map: batches (axis 1) and chain rows split over the mesh's data axis.
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
    return jax.shard_map(
        functools.partial(run_scan, axis_name=DATA_AXIS),
        mesh=mesh,
        in_specs=(replicated, replicated, chain_spec,
                  jax.sharding.PartitionSpec(None, DATA_AXIS), replicated, replicated),
        out_specs=(replicated, replicated, chain_spec, replicated),
        check_vma=False,
    )

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
