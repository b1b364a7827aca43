"""Recurrent networks of the lecture's chapter 3: vanilla RNN, LSTM and (beyond the lecture) GRU.

Two forms of every recurrence live side by side:

* Reference cells (``SimpleRNNCell``, ``LSTMCell``, ``GRUCell``) write the lecture's equations
  one time step at a time. They are ``flax.linen.RNNCellBase`` subclasses, so ``nn.RNN`` can scan
  them, and ``OneToMany`` steps them during generation.
* Fast layers (``SimpleRNN``, ``LSTM``, ``GRU``) map ``(batch, time, in) -> (batch, time,
  features)``. They project the inputs of all time steps with one large matmul before the scan,
  keep one fused recurrent matmul per step inside it, and (LSTM, SimpleRNN) use a hand-written
  backward pass that moves the recurrent weight gradient out of the reverse scan into one large
  matmul. ``fused_*_params`` map a reference cell's parameters onto a fast layer's, and the tests
  check the two forms agree.

Masking: with ``seq_lengths`` the carry is frozen and the outputs are zero past each sequence's
length, so the final carry is the carry at each sequence's true end. Carries: ``s`` for the RNN,
``(c, h)`` for the LSTM (Flax's order), ``h`` for the GRU; with ``num_layers > 1`` a tuple with
one carry per layer.

Heads follow the lecture's three application figures: ``ManyToOne``, ``ManyToMany`` and
``OneToMany`` (generation that feeds back the previous token or output). ``RecurrentClassifier``
follows the project-wide classifier contract ``Model(num_classes=...)(x, train=...) -> logits``.
"""

from __future__ import annotations

import functools
from collections.abc import Callable
from typing import Any

import flax.linen as nn
import jax
import jax.numpy as jnp

Array = jax.Array
Carry = Any

_ACTIVATIONS: dict[str, Callable[[Array], Array]] = {"tanh": jnp.tanh, "relu": jax.nn.relu}
_DEFAULT_GPU_UNROLL = 16


def _activation(name: str) -> Callable[[Array], Array]:
    if name not in _ACTIVATIONS:
        raise ValueError(f"activation must be one of {sorted(_ACTIVATIONS)}, got {name!r}")
    return _ACTIVATIONS[name]


def choose_unroll(length: int, unroll: int | None) -> int:
    """The scan unroll factor actually used for a sequence of ``length`` steps.

    ``None`` picks per backend: 1 on CPU, where we measured unrolled bodies to be slower (XLA:CPU
    fragments their fusions), and 16 elsewhere, where each while-loop trip costs a launch. A
    factor that does not divide ``length`` leaves a remainder that XLA emits as extra straight-line
    copies of the body, which slows compilation; so the largest divisor of ``length`` in
    ``[unroll / 2, unroll]`` is preferred when one exists.

    Args:
      length: number of time steps.
      unroll: requested factor, or ``None`` for the backend default.

    Returns:
      An unroll factor between 1 and ``length``.
    """
    if unroll is None:
        unroll = 1 if jax.default_backend() == "cpu" else _DEFAULT_GPU_UNROLL
    unroll = int(unroll)
    if unroll <= 1 or length <= 1:
        return 1
    if length <= unroll:
        return length
    for divisor in range(unroll, (unroll + 1) // 2 - 1, -1):
        if length % divisor == 0:
            return divisor
    return unroll


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


def _freeze(mask: Array | None, new: Carry, old: Carry) -> Carry:
    if mask is None:
        return new
    return jax.tree.map(lambda n, o: mask * n + (1.0 - mask) * o, new, old)


# --------------------------------------------------------------------------------------------
# Reference cells: the lecture's equations, one step at a time.
# --------------------------------------------------------------------------------------------


class SimpleRNNCell(nn.RNNCellBase):
    """Vanilla RNN step of the lecture: ``s_t = f(U x_t + W s_{t-1})``.

    Parameters are Flax ``Dense`` layers named after the lecture's matrices: ``U`` (input to
    state, with the optional bias) and ``W`` (state to state). Their kernels are stored
    ``(in, out)``, i.e. transposed relative to the lecture's column-vector notation.

    Attributes:
      features: state size ``h``.
      activation: ``'tanh'`` or ``'relu'``.
      use_bias: add a bias to ``U x_t``.
    """

    features: int
    activation: str = "tanh"
    use_bias: bool = True

    @nn.compact
    def __call__(self, carry: Array, x: Array) -> tuple[Array, Array]:
        """One step.

        Args:
          carry: previous state ``s_{t-1}``, ``(..., features)``.
          x: input ``x_t``, ``(..., in)``.

        Returns:
          ``(s_t, s_t)``: the new carry and the step's output.
        """
        pre = nn.Dense(self.features, use_bias=self.use_bias, name="U")(x)
        pre = pre + nn.Dense(self.features, use_bias=False, name="W")(carry)
        state = _activation(self.activation)(pre)
        return state, state

    @nn.nowrap
    def initialize_carry(self, rng: Array, input_shape: tuple[int, ...]) -> Array:
        """Zero state ``s_{-1} = 0`` for inputs of shape ``(*batch, in)``."""
        del rng
        return jnp.zeros((*input_shape[:-1], self.features))

    @property
    def num_feature_axes(self) -> int:
        """One feature axis."""
        return 1


class LSTMCell(nn.RNNCellBase):
    """LSTM step exactly as in the lecture, with the optional peephole form.

    ``f_t = sigma(W_f [h_{t-1}, x_t] + b_f)``, ``i_t = sigma(W_i [h_{t-1}, x_t] + b_i)``,
    ``c~_t = tanh(W_c [h_{t-1}, x_t] + b_c)``, ``c_t = f_t o c_{t-1} + i_t o c~_t``,
    ``o_t = sigma(W_o [h_{t-1}, x_t] + b_o)``, ``h_t = o_t o tanh(c_t)``, with ``c_0 = h_0 = 0``.

    Peephole form (Gers & Schmidhuber, 2000): the forget and input gates also see ``c_{t-1}`` and
    the output gate sees ``c_t``, each through a diagonal (element-wise) weight vector.

    Parameters: ``Dense`` layers ``forget``, ``input``, ``candidate``, ``output`` acting on the
    concatenation ``[h_{t-1}, x_t]`` (kernel rows: first ``h``, then ``x``), and with peepholes
    vectors ``peephole_forget``, ``peephole_input``, ``peephole_output``.

    Attributes:
      features: hidden size ``h``.
      peephole: use the peephole connections.
      forget_bias: initial value of the forget-gate bias (1.0 keeps memory open at the start of
        training, Jozefowicz et al., 2015).
    """

    features: int
    peephole: bool = False
    forget_bias: float = 1.0

    @nn.compact
    def __call__(self, carry: tuple[Array, Array], x: Array) -> tuple[tuple[Array, Array], Array]:
        """One step.

        Args:
          carry: ``(c_{t-1}, h_{t-1})``, each ``(..., features)``.
          x: input ``x_t``, ``(..., in)``.

        Returns:
          ``((c_t, h_t), h_t)``.
        """
        c_prev, h_prev = carry
        hx = jnp.concatenate([h_prev, x], axis=-1)
        forget_init = nn.initializers.constant(self.forget_bias)
        f_pre = nn.Dense(self.features, bias_init=forget_init, name="forget")(hx)
        i_pre = nn.Dense(self.features, name="input")(hx)
        o_pre = nn.Dense(self.features, name="output")(hx)
        candidate = jnp.tanh(nn.Dense(self.features, name="candidate")(hx))
        if self.peephole:
            peep_init = nn.initializers.normal(0.1)
            f_pre = f_pre + self.param("peephole_forget", peep_init, (self.features,)) * c_prev
            i_pre = i_pre + self.param("peephole_input", peep_init, (self.features,)) * c_prev
        forget_gate = jax.nn.sigmoid(f_pre)
        input_gate = jax.nn.sigmoid(i_pre)
        cell = forget_gate * c_prev + input_gate * candidate
        if self.peephole:
            peep_init = nn.initializers.normal(0.1)
            o_pre = o_pre + self.param("peephole_output", peep_init, (self.features,)) * cell
        output_gate = jax.nn.sigmoid(o_pre)
        hidden = output_gate * jnp.tanh(cell)
        return (cell, hidden), hidden

    @nn.nowrap
    def initialize_carry(self, rng: Array, input_shape: tuple[int, ...]) -> tuple[Array, Array]:
        """Zero carry ``(c_0, h_0) = (0, 0)`` for inputs of shape ``(*batch, in)``."""
        del rng
        zeros = jnp.zeros((*input_shape[:-1], self.features))
        return zeros, zeros

    @property
    def num_feature_axes(self) -> int:
        """One feature axis."""
        return 1


class GRUCell(nn.RNNCellBase):
    """Gated recurrent unit of Cho et al. (2014); beyond the lecture.

    ``r_t = sigma(W_r x_t + U_r h_{t-1} + b_r)``, ``z_t = sigma(W_z x_t + U_z h_{t-1} + b_z)``,
    ``n_t = tanh(W_n x_t + U_n (r_t o h_{t-1}) + b_n)``, ``h_t = z_t o h_{t-1} + (1 - z_t) o n_t``.

    Parameters: ``Dense`` layers ``input_reset``, ``input_update``, ``input_candidate`` (on
    ``x_t``, with bias) and ``hidden_reset``, ``hidden_update``, ``hidden_candidate`` (on the
    state, no bias).

    Attributes:
      features: hidden size.
    """

    features: int

    @nn.compact
    def __call__(self, carry: Array, x: Array) -> tuple[Array, Array]:
        """One step.

        Args:
          carry: ``h_{t-1}``, ``(..., features)``.
          x: input ``x_t``, ``(..., in)``.

        Returns:
          ``(h_t, h_t)``.
        """

        def dense(name: str, bias: bool) -> nn.Dense:
            return nn.Dense(self.features, use_bias=bias, name=name)

        reset = jax.nn.sigmoid(dense("input_reset", True)(x) + dense("hidden_reset", False)(carry))
        update = jax.nn.sigmoid(
            dense("input_update", True)(x) + dense("hidden_update", False)(carry))
        candidate = jnp.tanh(
            dense("input_candidate", True)(x) + dense("hidden_candidate", False)(reset * carry))
        hidden = update * carry + (1.0 - update) * candidate
        return hidden, hidden

    @nn.nowrap
    def initialize_carry(self, rng: Array, input_shape: tuple[int, ...]) -> Array:
        """Zero state for inputs of shape ``(*batch, in)``."""
        del rng
        return jnp.zeros((*input_shape[:-1], self.features))

    @property
    def num_feature_axes(self) -> int:
        """One feature axis."""
        return 1


# --------------------------------------------------------------------------------------------
# Parameter maps: reference cell -> fast layer (one layer).
# --------------------------------------------------------------------------------------------


def fused_rnn_params(cell_params: dict) -> dict:
    """Maps ``SimpleRNNCell`` parameters onto one ``SimpleRNN`` layer (``layer_0``).

    The two share the same tree (``U`` and ``W`` Dense layers), so this is the identity; it
    exists so the three cell types are handled alike.
    """
    return {"U": dict(cell_params["U"]), "W": dict(cell_params["W"])}


def fused_lstm_params(cell_params: dict) -> dict:
    """Maps ``LSTMCell`` parameters onto one ``LSTM`` layer.

    The fused layer's gate order along its ``4h`` axis is ``(f, i, o, c~)``: the three sigmoid
    gates are contiguous, so one sigmoid covers them.

    Args:
      cell_params: the cell's ``params`` collection (not wrapped in ``{'params': ...}``).

    Returns:
      ``{'input_kernel': (in, 4h), 'recurrent_kernel': (h, 4h), 'bias': (4h,)}`` plus
      ``'peephole': (3, h)`` (rows f, i, o) for a peephole cell.
    """
    features = cell_params["forget"]["bias"].shape[0]
    gates = ("forget", "input", "output", "candidate")
    kernels = [cell_params[g]["kernel"] for g in gates]
    fused = {
        "input_kernel": jnp.concatenate([k[features:] for k in kernels], axis=1),
        "recurrent_kernel": jnp.concatenate([k[:features] for k in kernels], axis=1),
        "bias": jnp.concatenate([cell_params[g]["bias"] for g in gates]),
    }
    if "peephole_forget" in cell_params:
        fused["peephole"] = jnp.stack(
            [cell_params[f"peephole_{g}"] for g in ("forget", "input", "output")])
    return fused


def fused_gru_params(cell_params: dict) -> dict:
    """Maps ``GRUCell`` parameters onto one ``GRU`` layer (gate order ``r, z, n``).

    Returns:
      ``{'input_kernel': (in, 3h), 'bias': (3h,), 'recurrent_kernel': (h, 3h)}``.
    """
    gates = ("reset", "update", "candidate")
    return {
        "input_kernel": jnp.concatenate([cell_params[f"input_{g}"]["kernel"] for g in gates], 1),
        "bias": jnp.concatenate([cell_params[f"input_{g}"]["bias"] for g in gates]),
        "recurrent_kernel": jnp.concatenate(
            [cell_params[f"hidden_{g}"]["kernel"] for g in gates], 1),
    }


# --------------------------------------------------------------------------------------------
# Fused recurrences on time-major pre-projected inputs, with hand-written backward passes.
# --------------------------------------------------------------------------------------------


def _lstm_scan(unroll, xp, wh, peep, c0, h0, mask, save_residuals):
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
            new_carry = _freeze(m, (c, h), carry)
            y = m * h
        if not save_residuals:
            return new_carry, y
        r = jnp.concatenate([c_prev * f * (1.0 - f), g * i * (1.0 - i),
                             tanh_c * o * (1.0 - o), i * (1.0 - g * g)], axis=-1)
        k = o * (1.0 - tanh_c * tanh_c)
        return new_carry, (y, r, k, f, None if peep is None else new_carry[0])

    return jax.lax.scan(step, (c0, h0), (xp, mask), unroll=unroll)


@functools.partial(jax.custom_vjp, nondiff_argnums=(0,))
def _fused_lstm(unroll, xp, wh, peep, c0, h0, mask):
    (c_last, h_last), ys = _lstm_scan(unroll, xp, wh, peep, c0, h0, mask, False)
    return ys, (c_last, h_last)


def _fused_lstm_fwd(unroll, xp, wh, peep, c0, h0, mask):
    carry, (ys, r, k, f, cs) = _lstm_scan(unroll, xp, wh, peep, c0, h0, mask, True)
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


_fused_lstm.defvjp(_fused_lstm_fwd, _fused_lstm_bwd)


def _rnn_scan(unroll, activation, xp, w, s0, mask):
    act = _activation(activation)

    def step(s_prev, inputs):
        x_t, m = inputs
        s = act(x_t + s_prev @ w)
        if m is None:
            return s, s
        return _freeze(m, s, s_prev), m * s

    return jax.lax.scan(step, s0, (xp, mask), unroll=unroll)


@functools.partial(jax.custom_vjp, nondiff_argnums=(0, 1))
def _fused_rnn(unroll, activation, xp, w, s0, mask):
    s_last, ys = _rnn_scan(unroll, activation, xp, w, s0, mask)
    return ys, s_last


def _fused_rnn_fwd(unroll, activation, xp, w, s0, mask):
    s_last, ys = _rnn_scan(unroll, activation, xp, w, s0, mask)
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


_fused_rnn.defvjp(_fused_rnn_fwd, _fused_rnn_bwd)


def _gru_scan(unroll, xp, wh, h0, mask):
    features = wh.shape[0]
    w_gates, w_candidate = wh[:, : 2 * features], wh[:, 2 * features:]

    def step(h_prev, inputs):
        x_t, m = inputs
        gates = jax.nn.sigmoid(x_t[:, : 2 * features] + h_prev @ w_gates)
        reset, update = jnp.split(gates, 2, axis=-1)
        candidate = jnp.tanh(x_t[:, 2 * features:] + (reset * h_prev) @ w_candidate)
        h = update * h_prev + (1.0 - update) * candidate
        if m is None:
            return h, h
        return _freeze(m, h, h_prev), m * h

    return jax.lax.scan(step, h0, (xp, mask), unroll=unroll)


# --------------------------------------------------------------------------------------------
# Fast single layers (time-major in, time-major out) and the stacked public layers.
# --------------------------------------------------------------------------------------------


class _Kernel(nn.Module):
    """Holds a bare ``kernel`` parameter so it nests like a bias-free ``Dense``."""

    shape: tuple[int, ...]
    init: Callable = nn.initializers.orthogonal()

    @nn.compact
    def __call__(self) -> Array:
        return self.param("kernel", self.init, self.shape)


class _RNNLayer(nn.Module):
    features: int
    activation: str
    use_bias: bool
    unroll: int | None
    fused_backward: bool

    @nn.compact
    def __call__(self, xs, s0, mask):
        length = xs.shape[0]
        unroll = choose_unroll(length, self.unroll)
        xp = nn.Dense(self.features, use_bias=self.use_bias, name="U")(xs)
        w = _Kernel((self.features, self.features), nn.initializers.lecun_normal(), name="W")()
        w, s0, xp = w.astype(xs.dtype), s0.astype(xs.dtype), xp.astype(xs.dtype)
        if self.fused_backward and self.activation in ("tanh", "relu"):
            ys, s_last = _fused_rnn(unroll, self.activation, xp, w, s0, mask)
        else:
            s_last, ys = _rnn_scan(unroll, self.activation, xp, w, s0, mask)
        return ys, s_last


class _LSTMLayer(nn.Module):
    features: int
    peephole: bool
    forget_bias: float
    unroll: int | None
    fused_backward: bool

    @nn.compact
    def __call__(self, xs, carry0, mask):
        length, _, in_features = xs.shape
        h = self.features
        unroll = choose_unroll(length, self.unroll)
        w_in = self.param("input_kernel", nn.initializers.lecun_normal(), (in_features, 4 * h))
        w_rec = self.param("recurrent_kernel", nn.initializers.orthogonal(), (h, 4 * h))

        def bias_init(key, shape, dtype=jnp.float32):
            del key
            return jnp.zeros(shape, dtype).at[:h].set(self.forget_bias)

        bias = self.param("bias", bias_init, (4 * h,))
        peep = None
        if self.peephole:
            peep = self.param("peephole", nn.initializers.normal(0.1), (3, h)).astype(xs.dtype)
        # One (T*B, in) x (in, 4h) matmul for the input side of every gate at every step.
        xp = (xs @ w_in.astype(xs.dtype) + bias.astype(xs.dtype))
        c0, h0 = (a.astype(xs.dtype) for a in carry0)
        w_rec = w_rec.astype(xs.dtype)
        if self.fused_backward:
            ys, carry = _fused_lstm(unroll, xp, w_rec, peep, c0, h0, mask)
        else:
            carry, ys = _lstm_scan(unroll, xp, w_rec, peep, c0, h0, mask, False)
        return ys, carry


class _GRULayer(nn.Module):
    features: int
    unroll: int | None

    @nn.compact
    def __call__(self, xs, h0, mask):
        length, _, in_features = xs.shape
        h = self.features
        w_in = self.param("input_kernel", nn.initializers.lecun_normal(), (in_features, 3 * h))
        bias = self.param("bias", nn.initializers.zeros_init(), (3 * h,))
        w_rec = self.param("recurrent_kernel", nn.initializers.orthogonal(), (h, 3 * h))
        xp = xs @ w_in.astype(xs.dtype) + bias.astype(xs.dtype)
        h_last, ys = _gru_scan(choose_unroll(length, self.unroll), xp, w_rec.astype(xs.dtype),
                               h0.astype(xs.dtype), mask)
        return ys, h_last


def _zero_carry(cell: str, batch: int, features: int, dtype=jnp.float32) -> Carry:
    zeros = jnp.zeros((batch, features), dtype)
    return (zeros, zeros) if cell == "lstm" else zeros


class _Stacked(nn.Module):
    """Shared driver: batch-major in/out, masking, initial carries and layer stacking.

    Subclasses define ``_cell_name()`` (the carry layout: ``'rnn'``, ``'lstm'`` or ``'gru'``) and
    ``_layer(index)`` (the scanned layer for stack position ``index``).
    """

    features: int
    num_layers: int = 1

    def _run(self, x, initial_carry, seq_lengths, return_carry):
        if x.ndim != 3:
            raise ValueError(f"expected input (batch, time, features), got shape {x.shape}")
        batch, length = x.shape[:2]
        if not jnp.issubdtype(x.dtype, jnp.floating):
            x = x.astype(jnp.float32)
        xs = jnp.swapaxes(x, 0, 1)
        mask = time_mask(seq_lengths, length)
        if initial_carry is None:
            carries = [_zero_carry(self._cell_name(), batch, self.features, x.dtype)
                       for _ in range(self.num_layers)]
        elif self.num_layers == 1:
            carries = [initial_carry]
        else:
            carries = list(initial_carry)
            if len(carries) != self.num_layers:
                raise ValueError(f"initial_carry needs {self.num_layers} per-layer carries")
        finals = []
        for index in range(self.num_layers):
            xs, carry = self._layer(index)(xs, carries[index], mask)
            finals.append(carry)
        outputs = jnp.swapaxes(xs, 0, 1)
        if not return_carry:
            return outputs
        return outputs, (finals[0] if self.num_layers == 1 else tuple(finals))


class SimpleRNN(_Stacked):
    """Vanilla RNN layer ``(batch, time, in) -> (batch, time, features)``.

    Same parameters per layer as ``SimpleRNNCell`` (``U``, ``W``); ``U x_t`` for all steps is
    one matmul before the scan.

    Attributes:
      features: state size.
      num_layers: stacked layers (each feeds its outputs to the next).
      activation: ``'tanh'`` or ``'relu'``.
      use_bias: bias on ``U x_t``.
      unroll: scan unroll factor (None: backend default, see ``choose_unroll``).
      fused_backward: use the hand-written backward pass (False: autodiff through the scan,
        which also supports forward-mode differentiation).
    """

    activation: str = "tanh"
    use_bias: bool = True
    unroll: int | None = None
    fused_backward: bool = True

    def _cell_name(self) -> str:
        return "rnn"

    def _layer(self, index: int) -> nn.Module:
        return _RNNLayer(self.features, self.activation, self.use_bias, self.unroll,
                         self.fused_backward, name=f"layer_{index}")

    @nn.compact
    def __call__(self, x: Array, *, initial_carry: Carry = None,
                 seq_lengths: Array | None = None, return_carry: bool = False):
        """Runs the recurrence.

        Args:
          x: ``(batch, time, in)``.
          initial_carry: ``s_{-1}`` per layer (zeros if None).
          seq_lengths: ``(batch,)`` valid lengths (None: all steps valid).
          return_carry: also return the final carry (at each sequence's true end).

        Returns:
          Outputs ``(batch, time, features)``, or ``(outputs, carry)``.
        """
        return self._run(x, initial_carry, seq_lengths, return_carry)


class LSTM(_Stacked):
    """Fast LSTM layer ``(batch, time, in) -> (batch, time, features)``; carry ``(c, h)``.

    Computes exactly ``LSTMCell`` (see ``fused_lstm_params`` for the parameter map), but projects
    the inputs of all steps with one ``(B*T, in) x (in, 4h)`` matmul before the scan, does one
    fused ``(h, 4h)`` recurrent matmul per step, and by default differentiates with a hand-written
    reverse scan whose recurrent weight gradient is one large matmul after the scan.

    Attributes:
      features: hidden size.
      num_layers: stacked layers.
      peephole: peephole connections (Gers & Schmidhuber).
      forget_bias: initial forget-gate bias.
      unroll: scan unroll factor (None: backend default, see ``choose_unroll``).
      fused_backward: use the hand-written backward pass (a ``jax.custom_vjp``, reverse mode
        only; False: autodiff through the scan, which also supports forward mode).
    """

    peephole: bool = False
    forget_bias: float = 1.0
    unroll: int | None = None
    fused_backward: bool = True

    def _cell_name(self) -> str:
        return "lstm"

    def _layer(self, index: int) -> nn.Module:
        return _LSTMLayer(self.features, self.peephole, self.forget_bias, self.unroll,
                          self.fused_backward, name=f"layer_{index}")

    @nn.compact
    def __call__(self, x: Array, *, initial_carry: Carry = None,
                 seq_lengths: Array | None = None, return_carry: bool = False):
        """Runs the recurrence.

        Args:
          x: ``(batch, time, in)``.
          initial_carry: ``(c_0, h_0)`` per layer (zeros if None).
          seq_lengths: ``(batch,)`` valid lengths (None: all steps valid).
          return_carry: also return the final ``(c, h)`` (at each sequence's true end).

        Returns:
          Outputs ``h_t`` of shape ``(batch, time, features)``, or ``(outputs, carry)``.
        """
        return self._run(x, initial_carry, seq_lengths, return_carry)


class GRU(_Stacked):
    """GRU layer ``(batch, time, in) -> (batch, time, features)`` (Cho et al., 2014).

    Computes exactly ``GRUCell`` (see ``fused_gru_params``) with the input projection of all
    steps hoisted before the scan; differentiated by autodiff.

    Attributes:
      features: hidden size.
      num_layers: stacked layers.
      unroll: scan unroll factor (None: backend default, see ``choose_unroll``).
    """

    unroll: int | None = None

    def _cell_name(self) -> str:
        return "gru"

    def _layer(self, index: int) -> nn.Module:
        return _GRULayer(self.features, self.unroll, name=f"layer_{index}")

    @nn.compact
    def __call__(self, x: Array, *, initial_carry: Carry = None,
                 seq_lengths: Array | None = None, return_carry: bool = False):
        """Runs the recurrence.

        Args:
          x: ``(batch, time, in)``.
          initial_carry: ``h_0`` per layer (zeros if None).
          seq_lengths: ``(batch,)`` valid lengths (None: all steps valid).
          return_carry: also return the final carry (at each sequence's true end).

        Returns:
          Outputs ``(batch, time, features)``, or ``(outputs, carry)``.
        """
        return self._run(x, initial_carry, seq_lengths, return_carry)


class Bidirectional(nn.Module):
    """Runs one layer forward in time and another on each sequence reversed within its length.

    Outputs are concatenated on the feature axis: ``[forward_t, backward_t]``, where
    ``backward_t`` summarises the steps ``t .. L-1``.

    Attributes:
      forward_layer: a layer with the ``(x, *, initial_carry, seq_lengths, return_carry)`` call.
      backward_layer: same, applied to the reversed sequences.
    """

    forward_layer: nn.Module
    backward_layer: nn.Module

    @nn.compact
    def __call__(self, x: Array, *, initial_carry: tuple[Carry, Carry] | None = None,
                 seq_lengths: Array | None = None, return_carry: bool = False):
        """Runs both directions.

        Args:
          x: ``(batch, time, in)``.
          initial_carry: ``(forward_carry, backward_carry)`` or None.
          seq_lengths: ``(batch,)`` valid lengths.
          return_carry: also return ``(forward_carry, backward_carry)``; the backward carry is
            the state after reading each sequence back to its first element.

        Returns:
          ``(batch, time, f_fwd + f_bwd)`` outputs, or ``(outputs, carries)``.
        """
        fwd_init, bwd_init = (None, None) if initial_carry is None else initial_carry
        fwd, fwd_carry = self.forward_layer(x, initial_carry=fwd_init, seq_lengths=seq_lengths,
                                            return_carry=True)
        bwd_rev, bwd_carry = self.backward_layer(
            reverse_sequences(x, seq_lengths), initial_carry=bwd_init, seq_lengths=seq_lengths,
            return_carry=True)
        outputs = jnp.concatenate([fwd, reverse_sequences(bwd_rev, seq_lengths)], axis=-1)
        if return_carry:
            return outputs, (fwd_carry, bwd_carry)
        return outputs


# --------------------------------------------------------------------------------------------
# Heads: the lecture's three application figures.
# --------------------------------------------------------------------------------------------

_LAYERS = {"rnn": SimpleRNN, "lstm": LSTM, "gru": GRU}
_CELLS = {"rnn": SimpleRNNCell, "lstm": LSTMCell, "gru": GRUCell}


def make_layer(cell: str, features: int, **kwargs) -> nn.Module:
    """Builds ``SimpleRNN``/``LSTM``/``GRU`` from a name (``'rnn'``, ``'lstm'``, ``'gru'``).

    Args:
      cell: layer type name.
      features: hidden size.
      **kwargs: other layer attributes (``num_layers``, ``unroll``, ``name``...).

    Returns:
      An unbound layer module.
    """
    if cell not in _LAYERS:
        raise ValueError(f"cell must be one of {sorted(_LAYERS)}, got {cell!r}")
    return _LAYERS[cell](features, **kwargs)


class ManyToOne(nn.Module):
    """Sequence classification: logits from the last valid output of an encoder layer.

    With a ``Bidirectional`` encoder the backward half of the last valid output has read one
    element only; ``RecurrentClassifier`` reads that half at step 0 instead.

    Attributes:
      encoder: layer mapping ``(batch, time, in) -> (batch, time, f)`` with a ``seq_lengths``
        keyword.
      num_classes: number of logits.
    """

    encoder: nn.Module
    num_classes: int

    @nn.compact
    def __call__(self, x: Array, *, seq_lengths: Array | None = None) -> Array:
        """Logits ``(batch, num_classes)`` from ``encoder(x)[b, seq_lengths[b] - 1]``."""
        outputs = self.encoder(x, seq_lengths=seq_lengths)
        return nn.Dense(self.num_classes, name="head")(last_valid(outputs, seq_lengths))


class ManyToMany(nn.Module):
    """Per-step logits (e.g. tagging or next-token prediction) from an encoder layer.

    Attributes:
      encoder: layer mapping ``(batch, time, in) -> (batch, time, f)``.
      num_classes: number of logits per step.
    """

    encoder: nn.Module
    num_classes: int

    @nn.compact
    def __call__(self, x: Array, *, seq_lengths: Array | None = None) -> Array:
        """Logits ``(batch, time, num_classes)``; steps past a length see a zero encoder output."""
        outputs = self.encoder(x, seq_lengths=seq_lengths)
        return nn.Dense(self.num_classes, name="head")(outputs)


class _GenerationStep(nn.Module):
    num_outputs: int
    features: int
    cell: str
    feedback: str
    embed_features: int
    greedy: bool
    temperature: float

    @nn.compact
    def __call__(self, state, step_key):
        carry, previous = state
        if self.feedback == "token":
            x = nn.Embed(self.num_outputs, self.embed_features, name="embed")(previous)
        else:
            x = previous
        carry, hidden = _CELLS[self.cell](self.features, name="cell")(carry, x)
        outputs = nn.Dense(self.num_outputs, name="readout")(hidden)
        if self.feedback == "output":
            following = outputs
        elif self.greedy:
            following = jnp.argmax(outputs, axis=-1)
        else:
            following = jax.random.categorical(step_key, outputs / self.temperature, axis=-1)
        return (carry, following), (outputs, following)


class OneToMany(nn.Module):
    """Generation from one input: each step's output (or chosen token) is the next step's input.

    ``feedback='token'``: the first input is a token id ``(batch,)``; each step embeds the
    previous token, steps the cell, reads out logits over ``num_outputs`` tokens and picks the
    next token greedily (argmax) or, with ``sample_rng``, by sampling at ``temperature``.
    ``feedback='output'``: the first input is a vector ``(batch, num_outputs)`` and each step's
    read-out vector is fed back as is.

    Attributes:
      num_outputs: vocabulary size (token mode) or output/input width (output mode).
      features: cell hidden size.
      cell: ``'rnn'``, ``'lstm'`` or ``'gru'`` (reference cells, stepped with ``nn.scan``).
      feedback: ``'token'`` or ``'output'``.
      embed_features: token embedding size (default ``features``).
    """

    num_outputs: int
    features: int
    cell: str = "lstm"
    feedback: str = "token"
    embed_features: int | None = None

    @nn.compact
    def __call__(self, first_input: Array, num_steps: int, *, initial_carry: Carry = None,
                 sample_rng: Array | None = None, temperature: float = 1.0):
        """Generates ``num_steps`` steps.

        Args:
          first_input: token ids ``(batch,)`` or vectors ``(batch, num_outputs)``.
          num_steps: number of generated steps (static).
          initial_carry: cell carry to start from (zeros if None), e.g. an encoder's summary.
          sample_rng: typed PRNG key for sampling (token mode); None means greedy decoding.
          temperature: softmax temperature when sampling.

        Returns:
          ``(outputs, tokens)``: ``outputs`` is ``(batch, num_steps, num_outputs)`` (logits in
          token mode); ``tokens`` is ``(batch, num_steps)`` of chosen ids in token mode, None in
          output mode.
        """
        if self.feedback not in ("token", "output"):
            raise ValueError(f"feedback must be 'token' or 'output', got {self.feedback!r}")
        if self.cell not in _CELLS:
            raise ValueError(f"cell must be one of {sorted(_CELLS)}, got {self.cell!r}")
        # The fed-back value is the scan carry, so its dtype must not change between steps.
        first_input = (first_input.astype(jnp.int32) if self.feedback == "token"
                       else first_input.astype(jnp.float32))
        batch = first_input.shape[0]
        carry = (_zero_carry(self.cell, batch, self.features)
                 if initial_carry is None else initial_carry)
        keys = jax.random.split(
            jax.random.key(0) if sample_rng is None else sample_rng, num_steps)
        scan_step = nn.scan(_GenerationStep, variable_broadcast="params",
                            split_rngs={"params": False}, in_axes=0, out_axes=0,
                            length=num_steps)
        step = scan_step(self.num_outputs, self.features, self.cell, self.feedback,
                         self.embed_features or self.features, sample_rng is None, temperature,
                         name="generator")
        _, (outputs, chosen) = step((carry, first_input), keys)
        outputs = jnp.swapaxes(outputs, 0, 1)
        if self.feedback == "output":
            return outputs, None
        return outputs, jnp.swapaxes(chosen, 0, 1)


class RecurrentClassifier(nn.Module):
    """Many-to-one sequence classifier with the project-wide call ``(x, *, train) -> logits``.

    Input ``(batch, time, in)``, or ``(batch, time)`` which gets a feature axis of 1 (e.g. an
    MNIST-1D signal read as a sequence). Unidirectional: logits from the last valid output of
    the (stacked) layer. Bidirectional: every layer is a ``Bidirectional`` pair fed the previous
    layer's concatenated outputs, and the logits read the forward half at the last valid step
    and the backward half at step 0 (each direction's full summary).

    Attributes:
      num_classes: number of logits.
      cell: ``'rnn'``, ``'lstm'`` or ``'gru'``.
      features: hidden size per direction.
      num_layers: stacked layers.
      bidirectional: read the sequences in both directions.
      unroll: scan unroll factor (None: backend default).
    """

    num_classes: int
    cell: str = "lstm"
    features: int = 64
    num_layers: int = 1
    bidirectional: bool = False
    unroll: int | None = None

    @nn.compact
    def __call__(self, x: Array, *, train: bool = False,
                 seq_lengths: Array | None = None) -> Array:
        """Logits ``(batch, num_classes)``.

        Args:
          x: ``(batch, time, in)`` or ``(batch, time)``.
          train: unused (no dropout or batch statistics); part of the shared contract.
          seq_lengths: optional ``(batch,)`` valid lengths.

        Returns:
          Logits.
        """
        del train
        if x.ndim == 2:
            x = x[..., None]
        if not self.bidirectional:
            encoder = make_layer(self.cell, self.features, num_layers=self.num_layers,
                                 unroll=self.unroll, name="encoder")
            summary = last_valid(encoder(x, seq_lengths=seq_lengths), seq_lengths)
        else:
            outputs = x
            for index in range(self.num_layers):
                pair = Bidirectional(
                    make_layer(self.cell, self.features, unroll=self.unroll,
                               name=f"forward_{index}"),
                    make_layer(self.cell, self.features, unroll=self.unroll,
                               name=f"backward_{index}"),
                    name=f"bidirectional_{index}")
                outputs = pair(outputs, seq_lengths=seq_lengths)
            summary = jnp.concatenate([
                last_valid(outputs[..., : self.features], seq_lengths),
                outputs[:, 0, self.features:],
            ], axis=-1)
        return nn.Dense(self.num_classes, name="head")(summary)


__all__ = [
    "GRU",
    "LSTM",
    "Bidirectional",
    "GRUCell",
    "LSTMCell",
    "ManyToMany",
    "ManyToOne",
    "OneToMany",
    "RecurrentClassifier",
    "SimpleRNN",
    "SimpleRNNCell",
    "choose_unroll",
    "fused_gru_params",
    "fused_lstm_params",
    "fused_rnn_params",
    "last_valid",
    "make_layer",
    "reverse_sequences",
    "time_mask",
]
