"""Backpropagation through time for the lecture's vanilla RNN, written out by hand.

Model (one sequence, column-vector notation of the lecture, ``s_{-1} = 0``)::

    s_t  = tanh(U x_t + W s_{t-1})
    y^_t = softmax(V s_t)
    E    = sum_t E_t = - sum_t y_t . log y^_t

The lecture writes the recurrent gradient as a double sum::

    dE/dW = sum_t sum_{k<=t} dE_t/dy^_t dy^_t/ds_t (prod_{j=k+1}^{t} ds_j/ds_{j-1}) ds_k/dW

with ``ds_j/ds_{j-1} = diag(1 - s_j^2) W``. ``bptt_grads_double_sum`` evaluates exactly that
(``O(T^2)``, for teaching and testing); ``bptt_grads`` uses the usual backward recursion, which
factors the nested sum: the reverse scan carries ``delta_k = sum_{t>=k} dE_t/ds_k`` (every later
error term already multiplied through its Jacobian product), so each step adds its own error,
applies one more ``ds_k/ds_{k-1}`` and hands the result back (``O(T)``).

Parameters are a dict ``{'U': (h, d), 'W': (h, h), 'V': (K, h)}`` in the lecture's orientation
(matrix times column vector). Targets are integer classes ``(T,)`` or one-hot/probability rows
``(T, K)``. Batch with ``jax.vmap`` and sum.
"""

from __future__ import annotations

import jax
import jax.numpy as jnp

Array = jax.Array


def init_rnn_params(key: Array, input_size: int, hidden_size: int, output_size: int,
                    scale: float = 0.5) -> dict[str, Array]:
    """Random ``U``, ``W``, ``V`` with entries ``N(0, scale^2 / fan_in)``.

    Args:
      key: typed PRNG key.
      input_size: ``d``, the size of ``x_t``.
      hidden_size: ``h``, the size of ``s_t``.
      output_size: ``K``, the number of classes.
      scale: standard deviation times ``sqrt(fan_in)``.

    Returns:
      ``{'U': (h, d), 'W': (h, h), 'V': (K, h)}``.
    """
    key_u, key_w, key_v = jax.random.split(key, 3)
    return {
        "U": scale * jax.random.normal(key_u, (hidden_size, input_size)) / input_size**0.5,
        "W": scale * jax.random.normal(key_w, (hidden_size, hidden_size)) / hidden_size**0.5,
        "V": scale * jax.random.normal(key_v, (output_size, hidden_size)) / hidden_size**0.5,
    }


def _targets(ys: Array, num_classes: int, dtype) -> Array:
    ys = jnp.asarray(ys)
    if ys.ndim == 1:
        return jax.nn.one_hot(ys, num_classes, dtype=dtype)
    return ys.astype(dtype)


@jax.jit
def rnn_forward(params: dict[str, Array], xs: Array) -> tuple[Array, Array]:
    """Forward pass ``s_t = tanh(U x_t + W s_{t-1})``, ``y^_t = softmax(V s_t)``.

    Args:
      params: ``{'U', 'W', 'V'}``.
      xs: inputs ``(T, d)``.

    Returns:
      ``(states, probs)``: ``(T, h)`` states ``s_0 .. s_{T-1}`` and ``(T, K)`` softmax outputs.
    """
    u, w, v = params["U"], params["W"], params["V"]

    def step(s_prev, x_t):
        s_t = jnp.tanh(u @ x_t + w @ s_prev)
        return s_t, s_t

    s_init = jnp.zeros(w.shape[0], jnp.result_type(w, xs))
    _, states = jax.lax.scan(step, s_init, xs)
    probs = jax.nn.softmax(states @ v.T, axis=-1)
    return states, probs


@jax.jit
def rnn_loss(params: dict[str, Array], xs: Array, ys: Array) -> Array:
    """Cross-entropy ``E = -sum_t y_t . log y^_t`` summed over the sequence.

    Args:
      params: ``{'U', 'W', 'V'}``.
      xs: inputs ``(T, d)``.
      ys: targets, classes ``(T,)`` or distributions ``(T, K)``.

    Returns:
      Scalar loss.
    """
    states, _ = rnn_forward(params, xs)
    logits = states @ params["V"].T
    targets = _targets(ys, logits.shape[-1], logits.dtype)
    return -jnp.sum(targets * jax.nn.log_softmax(logits, axis=-1))


@jax.jit
def bptt_grads(params: dict[str, Array], xs: Array,
               ys: Array) -> tuple[Array, dict[str, Array]]:
    """Loss and ``dE/dU``, ``dE/dW``, ``dE/dV`` by the backward recursion (a reverse scan).

    For softmax with cross-entropy, ``dE_t/d(V s_t) = y^_t - y_t``, so
    ``dE/dV = sum_t (y^_t - y_t) s_t^T`` and the error reaching ``s_t`` directly is
    ``V^T (y^_t - y_t)``. Going back in time, ``delta_t = V^T (y^_t - y_t) + W^T g_{t+1}`` where
    ``g_t = (1 - s_t^2) o delta_t`` is the gradient of ``E`` at the pre-activation of step ``t``.
    Then ``dE/dW = sum_t g_t s_{t-1}^T`` and ``dE/dU = sum_t g_t x_t^T``.

    Args:
      params: ``{'U', 'W', 'V'}``.
      xs: inputs ``(T, d)``.
      ys: targets, classes ``(T,)`` or distributions ``(T, K)``.

    Returns:
      ``(loss, grads)`` with ``grads`` shaped like ``params``.
    """
    u, w, v = params["U"], params["W"], params["V"]
    states, probs = rnn_forward(params, xs)
    targets = _targets(ys, probs.shape[-1], probs.dtype)
    loss = -jnp.sum(targets * jnp.log(probs))
    output_errors = probs - targets
    s_prevs = jnp.concatenate([jnp.zeros_like(states[:1]), states[:-1]], axis=0)

    def step(carry, inputs):
        from_future, grad_u, grad_w = carry
        out_err, s_t, s_prev, x_t = inputs
        delta = v.T @ out_err + from_future
        pre_grad = (1.0 - s_t * s_t) * delta
        grad_u = grad_u + jnp.outer(pre_grad, x_t)
        grad_w = grad_w + jnp.outer(pre_grad, s_prev)
        return (w.T @ pre_grad, grad_u, grad_w), None

    init = (jnp.zeros_like(states[0]), jnp.zeros_like(u), jnp.zeros_like(w))
    (_, grad_u, grad_w), _ = jax.lax.scan(
        step, init, (output_errors, states, s_prevs, xs), reverse=True)
    grad_v = output_errors.T @ states
    return loss, {"U": grad_u, "W": grad_w, "V": grad_v}


@jax.jit
def bptt_grads_double_sum(params: dict[str, Array], xs: Array,
                          ys: Array) -> tuple[Array, dict[str, Array]]:
    """Same gradients as ``bptt_grads`` from the lecture's explicit double sum (``O(T^2)``).

    For every ``t`` (outer scan) it starts from ``dE_t/ds_t = V^T (y^_t - y_t)`` and walks
    ``k = t, t-1, .., 0`` (inner reverse scan, masked to ``k <= t``), adding the term
    ``dE_t/ds_k ds_k/dW|direct`` and multiplying by one more ``ds_k/ds_{k-1} = diag(1-s_k^2) W``.

    Args:
      params: ``{'U', 'W', 'V'}``.
      xs: inputs ``(T, d)``.
      ys: targets, classes ``(T,)`` or distributions ``(T, K)``.

    Returns:
      ``(loss, grads)``.
    """
    u, w, v = params["U"], params["W"], params["V"]
    states, probs = rnn_forward(params, xs)
    targets = _targets(ys, probs.shape[-1], probs.dtype)
    loss = -jnp.sum(targets * jnp.log(probs))
    output_errors = probs - targets
    s_prevs = jnp.concatenate([jnp.zeros_like(states[:1]), states[:-1]], axis=0)
    steps = jnp.arange(xs.shape[0])

    def error_term(totals, inputs):
        t, out_err = inputs

        def back_one_step(carry, k_inputs):
            grad_wrt_s_k, grad_u, grad_w = carry
            k, s_k, s_prev, x_k = k_inputs
            active = (k <= t).astype(s_k.dtype)
            pre_grad = active * (1.0 - s_k * s_k) * grad_wrt_s_k
            grad_u = grad_u + jnp.outer(pre_grad, x_k)
            grad_w = grad_w + jnp.outer(pre_grad, s_prev)
            # Before reaching step t the chain has not started: keep dE_t/ds_t waiting.
            passed_on = active * (w.T @ pre_grad) + (1.0 - active) * grad_wrt_s_k
            return (passed_on, grad_u, grad_w), None

        start = (v.T @ out_err, jnp.zeros_like(u), jnp.zeros_like(w))
        (_, grad_u, grad_w), _ = jax.lax.scan(
            back_one_step, start, (steps, states, s_prevs, xs), reverse=True)
        return (totals[0] + grad_u, totals[1] + grad_w), None

    (grad_u, grad_w), _ = jax.lax.scan(
        error_term, (jnp.zeros_like(u), jnp.zeros_like(w)), (steps, output_errors))
    grad_v = output_errors.T @ states
    return loss, {"U": grad_u, "W": grad_w, "V": grad_v}


__all__ = ["bptt_grads", "bptt_grads_double_sum", "init_rnn_params", "rnn_forward", "rnn_loss"]
