"""The scans behind the fast layers, on time-major pre-projected inputs.

The LSTM and the vanilla RNN have hand-written backward passes (``jax.custom_vjp``): the reverse
scan carries only what each step needs, and the recurrent weight gradient — the lecture's sum over
time of ``dE/dW`` — leaves the scan as one large matmul. The GRU is differentiated by autodiff.

Scan unrolling is a compile-time choice made by the caller: the layers take ``unroll`` as an
explicit argument, and a config resolves its value once, at config creation, with
``default_unroll(jax.default_backend())``; nothing here reads the backend while tracing.
"""

from __future__ import annotations

import functools

import jax
import jax.numpy as jnp

from dl_jax.models.recurrent.cells import activation as activation_fn
from dl_jax.models.recurrent.masking import freeze

# Measured: unrolled bodies are slower on XLA:CPU (fragmented fusions); elsewhere each
# while-loop trip costs a kernel launch, and 16 steps per trip amortise it.
_CPU_UNROLL = 1
_ACCELERATOR_UNROLL = 16


def default_unroll(backend: str) -> int:
    """The scan unroll factor for a backend: 1 on ``'cpu'``, 16 on GPU/TPU.

    Call it when a config is created (``default_unroll(jax.default_backend())``), not inside a
    model: the choice is then part of the config (and of ``config.json``).
    """
    return _CPU_UNROLL if backend == "cpu" else _ACCELERATOR_UNROLL


def choose_unroll(length: int, unroll: int) -> int:
    """The scan unroll factor actually used for a sequence of ``length`` steps.

    A factor that does not divide ``length`` leaves a remainder that XLA emits as extra
    straight-line copies of the body, which slows compilation; so the largest divisor of
    ``length`` in ``[unroll / 2, unroll]`` is preferred when one exists.

    Args:
      length: number of time steps.
      unroll: requested factor (see ``default_unroll``).

    Returns:
      An unroll factor between 1 and ``length``.
    """
    unroll = int(unroll)
    if unroll <= 1 or length <= 1:
        return 1
    if length <= unroll:
        return length
    for divisor in range(unroll, (unroll + 1) // 2 - 1, -1):
        if length % divisor == 0:
            return divisor
    return unroll


def lstm_scan(unroll, xp, wh, peep, c0, h0, mask, save_residuals):
    """Forward LSTM over time-major input projections ``xp`` (T, B, 4h), gate order f, i, o, c~.

    With ``save_residuals`` each step also emits what the hand-written backward pass needs, in
    the form that keeps the reverse scan's per-step work smallest: ``r`` (B, 4h), the local
    derivative factors of the four pre-activations (dE/dz = r * [dc, dc, dh, dc]), ``k = o (1 -
    tanh^2 c)`` (dh -> dc) and the forget gate ``f`` (dc_t -> dc_{t-1}); plus ``c`` with peepholes.
    """
    features = wh.shape[0]

    def step(carry, inputs):
        c_prev, h_prev = carry
        z_in, m = inputs
        z = z_in + h_prev @ wh
        if peep is None:
            sig = jax.nn.sigmoid(z[:, : 3 * features])
            f, i, o = jnp.split(sig, 3, axis=-1)
            g = jnp.tanh(z[:, 3 * features:])
            c = f * c_prev + i * g
        else:
            zf, zi, zo, zg = jnp.split(z, 4, axis=-1)
            f = jax.nn.sigmoid(zf + peep[0] * c_prev)
            i = jax.nn.sigmoid(zi + peep[1] * c_prev)
            g = jnp.tanh(zg)
            c = f * c_prev + i * g
            o = jax.nn.sigmoid(zo + peep[2] * c)
        tanh_c = jnp.tanh(c)
        h = o * tanh_c
        if m is None:
            new_carry, y = (c, h), h
        else:
            new_carry = freeze(m, (c, h), carry)
            y = m * h
        if not save_residuals:
            return new_carry, y
        r = jnp.concatenate([c_prev * f * (1.0 - f), g * i * (1.0 - i),
                             tanh_c * o * (1.0 - o), i * (1.0 - g * g)], axis=-1)
        k = o * (1.0 - tanh_c * tanh_c)
        return new_carry, (y, r, k, f, None if peep is None else new_carry[0])

    return jax.lax.scan(step, (c0, h0), (xp, mask), unroll=unroll)


@functools.partial(jax.custom_vjp, nondiff_argnums=(0,))
def fused_lstm(unroll, xp, wh, peep, c0, h0, mask):
    """``lstm_scan`` with the hand-written backward pass; returns ``(ys, (c_last, h_last))``."""
    (c_last, h_last), ys = lstm_scan(unroll, xp, wh, peep, c0, h0, mask, False)
    return ys, (c_last, h_last)


def _fused_lstm_fwd(unroll, xp, wh, peep, c0, h0, mask):
    carry, (ys, r, k, f, cs) = lstm_scan(unroll, xp, wh, peep, c0, h0, mask, True)
    return (ys, carry), (wh, peep, c0, h0, mask, ys, r, k, f, cs)


def _fused_lstm_bwd(unroll, residuals, cotangents):
    wh, peep, c0, h0, mask, ys, r, k, f, cs = residuals
    dys, (dc_last, dh_last) = cotangents
    # Masks come from sequence lengths, so they are prefixes: at every valid step the previous
    # carry equals the previous output (or the initial carry), and invalid steps get zero dz.
    h_prevs = jnp.concatenate([h0[None], ys[:-1]], axis=0)
    wh_t = wh.T
    features = wh.shape[0]

    def step(carry, inputs):
        dc, dh = carry
        dy, r_t, k_t, f_t, m = inputs
        if m is None:
            dh_new, dc_new = dh + dy, dc
        else:
            dh_new, dc_new = m * (dh + dy), m * dc
        dc_total = dc_new + dh_new * k_t
        if peep is not None:  # the output gate's peephole sees c_t
            dc_total = dc_total + dh_new * r_t[:, 2 * features: 3 * features] * peep[2]
        dz = r_t * jnp.concatenate([dc_total, dc_total, dh_new, dc_total], axis=-1)
        dc_prev = dc_total * f_t
        if peep is not None:
            dc_prev = (dc_prev + dz[:, :features] * peep[0]
                       + dz[:, features: 2 * features] * peep[1])
        dh_prev = dz @ wh_t
        if m is not None:
            dc_prev = dc_prev + (1.0 - m) * dc
            dh_prev = dh_prev + (1.0 - m) * dh
        return (dc_prev, dh_prev), dz

    (dc0, dh0), dz = jax.lax.scan(
        step, (dc_last, dh_last), (dys, r, k, f, mask), reverse=True, unroll=unroll)
    # The lecture's sum over time of dE/dW, as one (h, T*B) x (T*B, 4h) matmul.
    dwh = jnp.einsum("tbi,tbj->ij", h_prevs, dz)
    dpeep = None
    if peep is not None:
        c_prevs = jnp.concatenate([c0[None], cs[:-1]], axis=0)
        dzf, dzi, dzo, _ = jnp.split(dz, 4, axis=-1)
        dpeep = jnp.stack([
            jnp.sum(dzf * c_prevs, axis=(0, 1)),
            jnp.sum(dzi * c_prevs, axis=(0, 1)),
            jnp.sum(dzo * cs, axis=(0, 1)),
        ])
    dmask = None if mask is None else jnp.zeros_like(mask)
    return dz, dwh, dpeep, dc0, dh0, dmask


fused_lstm.defvjp(_fused_lstm_fwd, _fused_lstm_bwd)


def rnn_scan(unroll, activation, xp, w, s0, mask):
    """Forward ``s_t = f(xp_t + s_{t-1} W)`` over time-major ``xp``; returns ``(s_last, ys)``."""
    act = activation_fn(activation)

    def step(s_prev, inputs):
        x_t, m = inputs
        s = act(x_t + s_prev @ w)
        if m is None:
            return s, s
        return freeze(m, s, s_prev), m * s

    return jax.lax.scan(step, s0, (xp, mask), unroll=unroll)


@functools.partial(jax.custom_vjp, nondiff_argnums=(0, 1))
def fused_rnn(unroll, activation, xp, w, s0, mask):
    """``rnn_scan`` with the hand-written backward pass; returns ``(ys, s_last)``."""
    s_last, ys = rnn_scan(unroll, activation, xp, w, s0, mask)
    return ys, s_last


def _fused_rnn_fwd(unroll, activation, xp, w, s0, mask):
    s_last, ys = rnn_scan(unroll, activation, xp, w, s0, mask)
    return (ys, s_last), (w, s0, mask, ys)


def _fused_rnn_bwd(unroll, activation, residuals, cotangents):
    w, s0, mask, ys = residuals
    dys, ds_last = cotangents
    s_prevs = jnp.concatenate([s0[None], ys[:-1]], axis=0)
    w_t = w.T

    def step(ds, inputs):
        dy, s, m = inputs
        ds_new = ds + dy if m is None else m * (ds + dy)
        # f'(pre) from the output: tanh' = 1 - s^2, relu' = [s > 0].
        deriv = 1.0 - s * s if activation == "tanh" else (s > 0).astype(s.dtype)
        dpre = ds_new * deriv
        ds_prev = dpre @ w_t
        if m is not None:
            ds_prev = ds_prev + (1.0 - m) * ds
        return ds_prev, dpre

    ds0, dpre = jax.lax.scan(step, ds_last, (dys, ys, mask), reverse=True, unroll=unroll)
    dw = jnp.einsum("tbi,tbj->ij", s_prevs, dpre)
    dmask = None if mask is None else jnp.zeros_like(mask)
    return dpre, dw, ds0, dmask


fused_rnn.defvjp(_fused_rnn_fwd, _fused_rnn_bwd)


def gru_scan(unroll, xp, wh, h0, mask, recurrent_bias=None):
    """Forward GRU over time-major projections ``xp`` (gate order r, z, n); ``(h_last, ys)``.

    ``recurrent_bias`` None: Cho et al.'s form, ``n = tanh(xp_n + (r h) U_n)``, two recurrent
    matmuls per step. Given (``b_hn``, shape ``(h,)``): the reset-after form of PyTorch, cuDNN and
    Keras, ``n = tanh(xp_n + r (h U_n + b_hn))``, one fused ``(h, 3h)`` matmul per step.
    """
    features = wh.shape[0]
    w_gates, w_candidate = wh[:, : 2 * features], wh[:, 2 * features:]

    def step(h_prev, inputs):
        x_t, m = inputs
        if recurrent_bias is None:
            gates = jax.nn.sigmoid(x_t[:, : 2 * features] + h_prev @ w_gates)
            reset, update = jnp.split(gates, 2, axis=-1)
            candidate = jnp.tanh(x_t[:, 2 * features:] + (reset * h_prev) @ w_candidate)
        else:
            hp = h_prev @ wh
            gates = jax.nn.sigmoid(x_t[:, : 2 * features] + hp[:, : 2 * features])
            reset, update = jnp.split(gates, 2, axis=-1)
            candidate = jnp.tanh(
                x_t[:, 2 * features:] + reset * (hp[:, 2 * features:] + recurrent_bias))
        h = update * h_prev + (1.0 - update) * candidate
        if m is None:
            return h, h
        return freeze(m, h, h_prev), m * h

    return jax.lax.scan(step, h0, (xp, mask), unroll=unroll)


__all__ = ["choose_unroll", "default_unroll", "fused_lstm", "fused_rnn", "gru_scan", "lstm_scan",
           "rnn_scan"]
