"""Recurrent networks of the lecture's chapter 3: vanilla RNN, LSTM and (beyond the lecture) GRU.

Two forms of every recurrence live side by side:

* ``cells``: reference cells (``SimpleRNNCell``, ``LSTMCell``, ``GRUCell``) that write the
  lecture's equations one time step at a time;
* ``layers``: fast layers (``SimpleRNN``, ``LSTM``, ``GRU``, ``Bidirectional``) mapping
  ``(batch, time, in) -> (batch, time, features)``, built on the scans of ``kernels`` (input
  projections hoisted out of the scan, hand-written backward passes); ``params`` maps a reference
  cell's parameters onto a fast layer's, and the tests check the two forms agree.

The GRU defaults to Cho et al.'s form (reset gate before the recurrent matmul);
``reset_after=True`` gives the form of PyTorch, cuDNN and Keras, and ``gru_params_from_torch``
maps a ``torch.nn.GRU``'s weights onto it.

``masking`` handles variable-length batches (``seq_lengths``); ``heads`` holds the lecture's
three application figures. Scan unrolling is an explicit layer argument: configs resolve it once
with ``default_unroll(jax.default_backend())``. The registered model family built on these
layers is ``dl_jax.models.sequence.RecurrentNet``.
"""

from dl_jax.models.recurrent.cells import GRUCell, LSTMCell, SimpleRNNCell
from dl_jax.models.recurrent.heads import ManyToMany, ManyToOne, OneToMany, RecurrentClassifier
from dl_jax.models.recurrent.kernels import choose_unroll, default_unroll
from dl_jax.models.recurrent.layers import GRU, LSTM, Bidirectional, SimpleRNN, make_layer
from dl_jax.models.recurrent.masking import last_valid, reverse_sequences, time_mask
from dl_jax.models.recurrent.params import (
    fused_gru_params,
    fused_lstm_params,
    fused_rnn_params,
    gru_layer_params_from_torch,
    gru_params_from_torch,
)

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
    "default_unroll",
    "fused_gru_params",
    "fused_lstm_params",
    "fused_rnn_params",
    "gru_layer_params_from_torch",
    "gru_params_from_torch",
    "last_valid",
    "make_layer",
    "reverse_sequences",
    "time_mask",
]
