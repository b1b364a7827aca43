"""The lecture's recurrent cells, one time step at a time: vanilla RNN, LSTM and (beyond) GRU.

They are ``flax.linen.RNNCellBase`` subclasses, so ``nn.RNN`` can scan them and ``OneToMany``
steps them during generation. The fast layers of ``layers.py`` compute the same functions (the
tests check it through ``params.py``'s parameter maps).
"""

from __future__ import annotations

from collections.abc import Callable

import flax.linen as nn
import jax
import jax.numpy as jnp

Array = jax.Array

_ACTIVATIONS: dict[str, Callable[[Array], Array]] = {"tanh": jnp.tanh, "relu": jax.nn.relu}


def activation(name: str) -> Callable[[Array], Array]:
    """The element-wise nonlinearity ``'tanh'`` or ``'relu'``; ValueError for another name."""
    if name not in _ACTIVATIONS:
        raise ValueError(f"activation must be one of {sorted(_ACTIVATIONS)}, got {name!r}")
    return _ACTIVATIONS[name]


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
        state = activation(self.activation)(pre)
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

    Default (``reset_after=False``), Cho et al.'s form, the reset gate applied before the
    recurrent matmul:
    ``r_t = sigma(W_r x_t + U_r h_{t-1} + b_r)``, ``z_t = sigma(W_z x_t + U_z h_{t-1} + b_z)``,
    ``n_t = tanh(W_n x_t + U_n (r_t o h_{t-1}) + b_n)``, ``h_t = z_t o h_{t-1} + (1 - z_t) o n_t``.

    ``reset_after=True`` is the form of ``torch.nn.GRU``, cuDNN and Keras (``reset_after=True``,
    Keras's default): the reset gate scales the recurrent matmul's result, which has a bias of its
    own, ``n_t = tanh(W_n x_t + b_n + r_t o (U_n h_{t-1} + b_hn))``; ``r_t``, ``z_t`` and ``h_t``
    are as above (torch's ``h_t = (1 - z_t) o n_t + z_t o h_{t-1}`` is the same update). The two
    forms are different functions, so weights move between frameworks only within one form; for
    torch's weights see ``params.gru_params_from_torch``.

    Parameters: ``Dense`` layers ``input_reset``, ``input_update``, ``input_candidate`` (on
    ``x_t``, with bias) and ``hidden_reset``, ``hidden_update``, ``hidden_candidate`` (on the
    state, no bias; with ``reset_after`` ``hidden_candidate`` has the bias ``b_hn``).

    Attributes:
      features: hidden size.
      reset_after: apply the reset gate after the recurrent matmul (PyTorch/cuDNN/Keras form).
    """

    features: int
    reset_after: bool = False

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
        from_input = dense("input_candidate", True)(x)
        if self.reset_after:
            candidate = jnp.tanh(from_input + reset * dense("hidden_candidate", True)(carry))
        else:
            candidate = jnp.tanh(from_input + dense("hidden_candidate", False)(reset * carry))
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


CELLS = {"rnn": SimpleRNNCell, "lstm": LSTMCell, "gru": GRUCell}

__all__ = ["CELLS", "GRUCell", "LSTMCell", "SimpleRNNCell", "activation"]
