"""Gradients through time: how much of the loss reaches each step's state and weights.

The lecture's vanishing-gradient argument is about three quantities, each computed here for any
recurrence ``carry_t = cell(carry_{t-1}, x_t)`` (the carry may be a pytree such as ``(c, h)``):

* ``state_grad_norms``: ``||dE/ds_t||``, the total gradient reaching the state at step ``t``
  through the loss's direct use of ``s_t`` and through every later step.
* ``weight_grad_contributions``: the terms of ``dE/dW = sum_k dE/ds_k * ds_k/dW|direct``, one per
  step ``k`` at which ``W`` is used.
* ``jacobian_product_norms``: ``||ds_T/ds_t|| = ||prod_{j=t+1}^{T} ds_j/ds_{j-1}||``.

Each is one forward scan and one reverse pass (the last vectorised over the final state's
components), never ``T`` separate backward passes. The trick for the first and third is a zero
"probe" ``delta_t`` added to the carry after each step: ``dE/d delta_t`` at ``delta = 0`` is
exactly ``dE/ds_t`` with every later dependence included. For the second, each step gets its own
copy of the parameters, and the gradient with respect to copy ``k`` is the ``k``-th term.

``dtype=jnp.float64`` (needs 64-bit JAX, e.g. inside ``with jax.enable_x64(True):``) and
``log_scale=True`` let vanished gradients show as very negative log10 norms (e.g. -40) rather
than as zeros.

Compilation: these functions only trace. Call them inside a function that you ``jax.jit``, with
the parameters under analysis as that function's arguments and the cell/loss built from them
inside it, e.g.::

    @jax.jit
    def norms(params, xs):
        return state_grad_norms(lambda s, x: step(params, s, x), s0, xs, loss)

One compiled program then serves every parameter value. (They do not jit themselves: a callable
passed as a static argument is hashed by identity, so every fresh closure would recompile.)

Also here, for the chapter's vanishing-gradient study: the lecture's ``rnn_step``, recurrent
matrices with a prescribed largest singular value, and the per-step rate of a log10-norm curve
with the ``sigma_max^k`` bound it must respect (Pascanu, Mikolov & Bengio, 2013).
"""

from __future__ import annotations

import math
from collections.abc import Callable
from typing import Any

import jax
import jax.numpy as jnp
import numpy as np

Array = jax.Array
PyTree = Any


def _check_dtype(dtype) -> Any:
    if dtype is None:
        return None
    dtype = jnp.dtype(dtype)
    if jax.dtypes.canonicalize_dtype(dtype) != dtype:
        raise ValueError(
            f"dtype={dtype.name} needs 64-bit JAX (jax_enable_x64): compute inside a "
            "`with jax.enable_x64(True):` block to get gradients in float64")
    return dtype


def _cast(tree: PyTree, dtype) -> PyTree:
    if dtype is None:
        return tree

    def cast(leaf):
        leaf = jnp.asarray(leaf)
        return leaf.astype(dtype) if jnp.issubdtype(leaf.dtype, jnp.floating) else leaf

    return jax.tree.map(cast, tree)


def _leading_length(xs: PyTree) -> int:
    leaves = jax.tree.leaves(xs)
    if not leaves:
        raise ValueError("xs must contain at least one array with a leading time axis")
    return int(jnp.shape(leaves[0])[0])


def per_step_norms(tree: PyTree, log_scale: bool) -> Array:
    """L2 norm over all leaves and all non-leading axes, one per leading index ``(T,)``.

    With ``log_scale`` the log10 is taken of the max-scaled norm plus the log of the scale, so
    norms far below the dtype's smallest normal number (whose squares underflow) stay finite.
    """
    leaves = [jnp.reshape(leaf, (leaf.shape[0], -1)) for leaf in jax.tree.leaves(tree)]
    flat = jnp.concatenate(leaves, axis=1)
    scale = jnp.max(jnp.abs(flat), axis=1)
    safe_scale = jnp.where(scale > 0, scale, 1.0)
    scaled_sq = jnp.sum(jnp.square(flat / safe_scale[:, None]), axis=1)
    if not log_scale:
        return safe_scale * jnp.sqrt(scaled_sq) * (scale > 0)
    log_norm = jnp.log10(safe_scale) + 0.5 * jnp.log10(jnp.where(scale > 0, scaled_sq, 1.0))
    return jnp.where(scale > 0, log_norm, -jnp.inf)


def _probed_rollout(cell: Callable, carry0: PyTree, xs: PyTree, probes: PyTree) -> PyTree:
    """All carries ``(T, ...)`` with ``probes[t]`` added to the carry after step ``t``."""

    def step(carry, inputs):
        x_t, probe_t = inputs
        new = jax.tree.map(jnp.add, cell(carry, x_t), probe_t)
        return new, new

    _, carries = jax.lax.scan(step, carry0, (xs, probes))
    return carries


def _zero_probes(carry0: PyTree, length: int) -> PyTree:
    return jax.tree.map(lambda c: jnp.zeros((length, *jnp.shape(c)), jnp.result_type(c)), carry0)


def state_grads(cell: Callable, carry0: PyTree, xs: PyTree, loss: Callable,
                *, dtype=None) -> PyTree:
    """Total gradients ``dloss/dcarry_t`` for every step, in one reverse pass.

    Args:
      cell: ``cell(carry, x_t) -> carry``; parameters are closed over.
      carry0: initial carry (any pytree of arrays).
      xs: time-major inputs, a pytree whose leaves have a leading time axis ``T``.
      loss: ``loss(carries) -> scalar`` where ``carries`` is the carry pytree stacked over time
        (leading axis ``T``); read-outs such as ``softmax(V s_t)`` belong in the loss.
      dtype: optional floating dtype for ``carry0`` and ``xs`` (e.g. ``jnp.float64``).

    Returns:
      A pytree shaped like the stacked carries: entry ``t`` is ``dloss/dcarry_t``, including the
      dependence of every later step on ``carry_t``.

    Raises:
      ValueError: float64 requested while 64-bit JAX is disabled.
    """
    dtype = _check_dtype(dtype)
    carry0, xs = jax.tree.map(jnp.asarray, _cast(carry0, dtype)), _cast(xs, dtype)
    probes = _zero_probes(carry0, _leading_length(xs))
    return jax.grad(lambda p: loss(_probed_rollout(cell, carry0, xs, p)))(probes)


def state_grad_norms(cell: Callable, carry0: PyTree, xs: PyTree, loss: Callable,
                     *, dtype=None, log_scale: bool = False) -> Array:
    """``||dloss/dcarry_t||`` for ``t = 0 .. T-1`` in one reverse pass (see ``state_grads``).

    Args:
      cell: ``cell(carry, x_t) -> carry``; parameters are closed over.
      carry0: initial carry (any pytree).
      xs: time-major inputs (leading axis ``T``).
      loss: ``loss(carries) -> scalar`` on the carries stacked over time.
      dtype: optional floating dtype for the computation (``jnp.float64`` needs x64 enabled).
      log_scale: return ``log10`` of the norms (robust to underflow; ``-inf`` for exact zeros).

    Returns:
      ``(T,)`` array; entry ``t`` is the L2 norm over all carry leaves together.
    """
    grads = state_grads(cell, carry0, xs, loss, dtype=dtype)
    return per_step_norms(grads, log_scale)


def weight_grad_contributions(step_fn: Callable, params: PyTree, carry0: PyTree, xs: PyTree,
                              loss: Callable, *, dtype=None, log_scale: bool = False,
                              return_grads: bool = False):
    """Per-step terms of ``dE/dW = sum_k dE/ds_k * ds_k/dW|direct``, in one reverse pass.

    Every step gets its own copy of ``params`` (broadcast along a leading time axis and scanned
    as inputs); the gradient with respect to copy ``k`` is the contribution of step ``k``, and
    the copies' gradients sum to the ordinary gradient. Memory grows as ``T`` times the
    parameters.

    Args:
      step_fn: ``step_fn(params, carry, x_t) -> carry``.
      params: parameter pytree used at every step.
      carry0: initial carry (any pytree).
      xs: time-major inputs (leading axis ``T``).
      loss: ``loss(carries) -> scalar`` on the carries stacked over time.
      dtype: optional floating dtype (cast applies to params, carry and inputs).
      log_scale: return ``log10`` of the norms.
      return_grads: also return the per-step gradient pytree (leading axis ``T``).

    Returns:
      ``(T,)`` norms (L2 over all parameter leaves), or ``(norms, per_step_grads)``.
    """
    dtype = _check_dtype(dtype)
    params, carry0 = (jax.tree.map(jnp.asarray, _cast(tree, dtype)) for tree in (params, carry0))
    grads = _per_step_weight_grads(step_fn, loss, params, carry0, _cast(xs, dtype))
    norms = per_step_norms(grads, log_scale)
    return (norms, grads) if return_grads else norms


def _per_step_weight_grads(step_fn, loss, params, carry0, xs):
    length = _leading_length(xs)
    stacked = jax.tree.map(lambda p: jnp.broadcast_to(p, (length, *jnp.shape(p))), params)

    def stacked_loss(per_step_params):
        def step(carry, inputs):
            params_t, x_t = inputs
            new = step_fn(params_t, carry, x_t)
            return new, new

        _, carries = jax.lax.scan(step, carry0, (per_step_params, xs))
        return loss(carries)

    return jax.grad(stacked_loss)(stacked)


def jacobian_products(cell: Callable, carry0: PyTree, xs: PyTree, *, dtype=None) -> PyTree:
    """``d carry_{T-1} / d carry_t`` for every ``t``, from one vectorised reverse pass.

    One vjp of the probed rollout (final carry as a function of all probes) is evaluated for
    every basis vector of the flattened final carry at once with ``vmap``: row ``i`` of every
    Jacobian ``d carry_{T-1}[i] / d carry_t`` comes out of the same reverse sweep.

    Args:
      cell: ``cell(carry, x_t) -> carry``.
      carry0: initial carry (any pytree); its total size ``n`` sets the vmap width.
      xs: time-major inputs (leading axis ``T``).
      dtype: optional floating dtype.

    Returns:
      A pytree shaped like the stacked carries with an extra leading axis ``n``: leaf entry
      ``[i, t, ...]`` is ``d flat(carry_{T-1})[i] / d carry_t[...]``.
    """
    dtype = _check_dtype(dtype)
    carry0, xs = jax.tree.map(jnp.asarray, _cast(carry0, dtype)), _cast(xs, dtype)
    probes = _zero_probes(carry0, _leading_length(xs))

    def final_state(p):
        carries = _probed_rollout(cell, carry0, xs, p)
        return jnp.concatenate([jnp.ravel(leaf[-1]) for leaf in jax.tree.leaves(carries)])

    final, vjp_fn = jax.vjp(final_state, probes)
    basis = jnp.eye(final.shape[0], dtype=final.dtype)
    (rows,) = jax.vmap(vjp_fn)(basis)
    return rows


def jacobian_product_norms(cell: Callable, carry0: PyTree, xs: PyTree, *, dtype=None,
                           log_scale: bool = False, ord: str | int = "fro") -> Array:
    """``||d carry_{T-1} / d carry_t||`` for ``t = 0 .. T-1``: the lecture's Jacobian products.

    Entry ``t`` is the norm of ``prod_{j=t+1}^{T-1} d carry_j / d carry_{j-1}`` (entry ``T-1`` is
    the identity). With a batched carry the Jacobian is block-diagonal over the batch and the
    norm covers all of it; pass one sequence to study one Jacobian.

    Args:
      cell: ``cell(carry, x_t) -> carry``.
      carry0: initial carry (any pytree).
      xs: time-major inputs (leading axis ``T``).
      dtype: optional floating dtype (``jnp.float64`` needs x64 enabled).
      log_scale: return ``log10`` of the norms (robust to underflow).
      ord: ``'fro'`` (Frobenius) or ``2`` (spectral norm, via an SVD per step).

    Returns:
      ``(T,)`` array of norms (or log10 norms).
    """
    rows = jacobian_products(cell, carry0, xs, dtype=dtype)
    leaves = jax.tree.leaves(rows)
    n, length = leaves[0].shape[:2]
    # (T, n_out, n_in): one dense Jacobian per step.
    jac = jnp.concatenate(
        [jnp.reshape(jnp.swapaxes(leaf, 0, 1), (length, n, -1)) for leaf in leaves], axis=2)
    if ord == "fro":
        return per_step_norms(jac, log_scale)
    if ord != 2:
        raise ValueError(f"ord must be 'fro' or 2, got {ord!r}")
    scale = jnp.max(jnp.abs(jac), axis=(1, 2))
    safe_scale = jnp.where(scale > 0, scale, 1.0)
    top = jnp.linalg.svd(jac / safe_scale[:, None, None], compute_uv=False)[:, 0]
    if not log_scale:
        return safe_scale * top * (scale > 0)
    return jnp.where(scale > 0, jnp.log10(safe_scale) + jnp.log10(top), -jnp.inf)


# ---------------------------------------------------------------------------------------------
# The vanishing-gradient argument: the lecture's RNN step, recurrent matrices with a prescribed
# sigma_max, and the per-step rate of a log10-norm curve against the sigma_max^k bound.
# ---------------------------------------------------------------------------------------------

MATRIX_KINDS = ("orthogonal", "gaussian")


def scaled_recurrent_matrix(key: Array, size: int, sigma_max: float,
                            kind: str = "orthogonal") -> np.ndarray:
    """A ``size x size`` matrix whose largest singular value is exactly ``sigma_max``.

    Args:
      key: typed PRNG key.
      size: hidden size ``h``.
      sigma_max: the requested largest singular value (> 0).
      kind: ``'orthogonal'`` (``sigma_max`` times a Haar-random orthogonal matrix: every singular
        value and every eigenvalue modulus equals ``sigma_max``) or ``'gaussian'`` (i.i.d. normal
        entries rescaled by ``sigma_max / sigma_max(G)``: the spectral radius is then about half
        of ``sigma_max``, circular vs quarter-circle law).

    Returns:
      float64 numpy array ``(size, size)``.
    """
    if sigma_max <= 0:
        raise ValueError(f"sigma_max must be positive, got {sigma_max}")
    gaussian = np.asarray(jax.random.normal(key, (size, size), jnp.float32), np.float64)
    if kind == "orthogonal":
        q, r = np.linalg.qr(gaussian)
        # Sign fix so Q is Haar-distributed (Mezzadri, 2007).
        return sigma_max * q * np.sign(np.diag(r))[None, :]
    if kind == "gaussian":
        return gaussian * (sigma_max / np.linalg.norm(gaussian, 2))
    raise ValueError(f"kind must be one of {MATRIX_KINDS}, got {kind!r}")


def matrix_spectrum(w: np.ndarray) -> dict[str, float]:
    """Largest singular value and spectral radius (largest eigenvalue modulus) of ``w``."""
    w = np.asarray(w, np.float64)
    return {"sigma_max": float(np.linalg.norm(w, 2)),
            "spectral_radius": float(np.max(np.abs(np.linalg.eigvals(w))))}


def rnn_step(params: dict, state: Array, x_t: Array) -> Array:
    """The lecture's ``s_t = tanh(U x_t + W s_{t-1})`` (matrix times column vector)."""
    return jnp.tanh(params["U"] @ x_t + params["W"] @ state)


def by_distance(per_time: np.ndarray) -> np.ndarray:
    """Reorders a ``(..., T)`` array indexed by time ``t`` to distance ``k = T - 1 - t``."""
    return np.asarray(per_time)[..., ::-1]


def fit_rate(log10_norms: np.ndarray) -> tuple[float, float]:
    """Least-squares line ``log10 norm ~ intercept + rate * k`` over the finite entries.

    Args:
      log10_norms: ``(T,)`` or ``(batch, T)`` indexed by distance ``k`` (every row is used).

    Returns:
      ``(rate, intercept)``: ``rate`` in decades per step (< 0 decays, > 0 grows).
    """
    values = np.atleast_2d(np.asarray(log10_norms, np.float64))
    distance = np.broadcast_to(np.arange(values.shape[-1]), values.shape)
    finite = np.isfinite(values)
    rate, intercept = np.polyfit(distance[finite], values[finite], 1)
    return float(rate), float(intercept)


def bound_margin(log10_norms: np.ndarray, sigma_max: float, log10_start: float = 0.0) -> float:
    """Largest excess (decades) of ``log10 norm`` over ``log10_start + k log10 sigma_max``.

    A result ``<= 0`` (up to rounding) means ``norm_k <= 10^log10_start sigma_max^k`` for every
    distance ``k`` and every sequence.
    """
    values = np.atleast_2d(np.asarray(log10_norms, np.float64))
    bound = log10_start + np.arange(values.shape[-1]) * math.log10(sigma_max)
    finite = np.isfinite(values)
    return float(np.max(np.where(finite, values - bound, -np.inf)))


__all__ = [
    "MATRIX_KINDS",
    "bound_margin",
    "by_distance",
    "fit_rate",
    "jacobian_product_norms",
    "jacobian_products",
    "matrix_spectrum",
    "per_step_norms",
    "rnn_step",
    "scaled_recurrent_matrix",
    "state_grad_norms",
    "state_grads",
    "weight_grad_contributions",
]
