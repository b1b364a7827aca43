"""Fast recurrent layers ``(batch, time, in) -> (batch, time, features)``: SimpleRNN, LSTM, GRU.

Each computes exactly its reference cell (``cells.py``; parameter maps in ``params.py``) but
projects the inputs of all time steps with one large matmul before the scan and keeps one fused
recurrent matmul per step inside it (``kernels.py``). Carries: ``s`` for the RNN, ``(c, h)`` for
the LSTM (Flax's order), ``h`` for the GRU; with ``num_layers > 1`` a tuple with one carry per
layer. ``Bidirectional`` pairs two layers; ``make_layer`` builds one from its name.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import flax.linen as nn
import jax
import jax.numpy as jnp

from dl_jax.models.recurrent.kernels import (
    choose_unroll,
    fused_lstm,
    fused_rnn,
    gru_scan,
    lstm_scan,
    rnn_scan,
)
from dl_jax.models.recurrent.masking import reverse_sequences, time_mask

Array = jax.Array
Carry = Any


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
    unroll: int
    fused_backward: bool

    @nn.compact
    def __call__(self, xs, s0, mask):
        length = xs.shape[0]
        unroll = choose_unroll(length, self.unroll)
        xp = nn.Dense(self.features, use_bias=self.use_bias, name="U")(xs)
        w = _Kernel((self.features, self.features), nn.initializers.lecun_normal(), name="W")()
        w, s0, xp = w.astype(xs.dtype), s0.astype(xs.dtype), xp.astype(xs.dtype)
        if self.fused_backward and self.activation in ("tanh", "relu"):
            ys, s_last = fused_rnn(unroll, self.activation, xp, w, s0, mask)
        else:
            s_last, ys = rnn_scan(unroll, self.activation, xp, w, s0, mask)
        return ys, s_last


class _LSTMLayer(nn.Module):
    features: int
    peephole: bool
    forget_bias: float
    unroll: int
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
            ys, carry = fused_lstm(unroll, xp, w_rec, peep, c0, h0, mask)
        else:
            carry, ys = lstm_scan(unroll, xp, w_rec, peep, c0, h0, mask, False)
        return ys, carry


class _GRULayer(nn.Module):
    features: int
    unroll: int
    reset_after: bool = False

    @nn.compact
    def __call__(self, xs, h0, mask):
        length, _, in_features = xs.shape
        h = self.features
        w_in = self.param("input_kernel", nn.initializers.lecun_normal(), (in_features, 3 * h))
        bias = self.param("bias", nn.initializers.zeros_init(), (3 * h,))
        w_rec = self.param("recurrent_kernel", nn.initializers.orthogonal(), (h, 3 * h))
        b_hn = None
        if self.reset_after:
            b_hn = self.param("recurrent_bias", nn.initializers.zeros_init(), (h,))
            b_hn = b_hn.astype(xs.dtype)
        xp = xs @ w_in.astype(xs.dtype) + bias.astype(xs.dtype)
        h_last, ys = gru_scan(choose_unroll(length, self.unroll), xp, w_rec.astype(xs.dtype),
                               h0.astype(xs.dtype), mask, b_hn)
        return ys, h_last


def zero_carry(cell: str, batch: int, features: int, dtype=jnp.float32) -> Carry:
    """Zero initial carry of one layer: ``(c, h)`` for ``"lstm"``, one state otherwise."""
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
            carries = [zero_carry(self._cell_name(), batch, self.features, x.dtype)
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
      unroll: scan unroll factor (1: a rolled loop; configs pass ``default_unroll(backend)``).
      fused_backward: use the hand-written backward pass (False: autodiff through the scan,
        which also supports forward-mode differentiation).
    """

    activation: str = "tanh"
    use_bias: bool = True
    unroll: int = 1
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
      unroll: scan unroll factor (1: a rolled loop; configs pass ``default_unroll(backend)``).
      fused_backward: use the hand-written backward pass (a ``jax.custom_vjp``, reverse mode
        only; False: autodiff through the scan, which also supports forward mode).
    """

    peephole: bool = False
    forget_bias: float = 1.0
    unroll: int = 1
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
    steps hoisted before the scan; differentiated by autodiff. The default is Cho et al.'s form
    (reset gate before the recurrent matmul); ``reset_after=True`` is the form of
    ``torch.nn.GRU``, cuDNN and Keras, with the extra parameter ``recurrent_bias`` (``b_hn``,
    ``(h,)``) per layer; ``gru_layer_params_from_torch`` maps torch's weights onto it.

    Attributes:
      features: hidden size.
      num_layers: stacked layers.
      unroll: scan unroll factor (1: a rolled loop; configs pass ``default_unroll(backend)``).
      reset_after: ``n_t = tanh(W_n x_t + b_n + r_t o (U_n h_{t-1} + b_hn))`` (PyTorch/cuDNN/
        Keras) instead of ``tanh(W_n x_t + b_n + U_n (r_t o h_{t-1}))``.
    """

    unroll: int = 1
    reset_after: bool = False

    def _cell_name(self) -> str:
        return "gru"

    def _layer(self, index: int) -> nn.Module:
        return _GRULayer(self.features, self.unroll, self.reset_after, name=f"layer_{index}")

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


LAYERS = {"rnn": SimpleRNN, "lstm": LSTM, "gru": GRU}


def make_layer(cell: str, features: int, **kwargs) -> nn.Module:
    """Builds ``SimpleRNN``/``LSTM``/``GRU`` from a name (``'rnn'``, ``'lstm'``, ``'gru'``).

    Args:
      cell: layer type name.
      features: hidden size.
      **kwargs: other layer attributes (``num_layers``, ``unroll``, ``name``...).

    Returns:
      An unbound layer module.
    """
    if cell not in LAYERS:
        raise ValueError(f"cell must be one of {sorted(LAYERS)}, got {cell!r}")
    return LAYERS[cell](features, **kwargs)


__all__ = ["GRU", "LSTM", "LAYERS", "Bidirectional", "SimpleRNN", "make_layer", "zero_carry"]
