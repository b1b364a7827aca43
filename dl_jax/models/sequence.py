"""The registered recurrent family: ``RecurrentNet``, one recurrent encoder and a linear read-out.

Registered as ``rnn``, ``gru`` and ``lstm`` (``cell``); ``model_kwargs`` choose the rest. The
read-out covers the chapter's three uses:

* ``readout='flatten'`` (default): every step's output, flattened, feeds one linear layer — the
  reference ``GRUBase`` of Greydanus (2020), who reads the 40-sample MNIST-1D signal as a sequence
  of scalars with a bidirectional GRU of 6 units per direction (40 x 12 = 480 features; the paper
  reports 91 % test accuracy). ``rnn`` and ``lstm`` use the same read-out with the lecture's cells.
* ``readout='last'``: many-to-one, the output at each sequence's last valid step (with
  ``bidirectional``, the backward half is read at step 0, where it has seen the whole sequence) —
  the adding problem's regressor (``num_classes=1``).
* ``readout='every_step'``: many-to-many, per-step logits ``(batch, time, num_classes)`` — the
  copy task's tagger.

Inputs are float ``(batch, time, in)``, or ``(batch, time)`` which gets a feature axis of 1; with
``vocab_size > 0`` they are integer tokens ``(batch, time)``, one-hot encoded.

Submodule names are those of the models this family replaced (``forward``/``backward`` for the
flatten read-out, ``encoder`` or ``forward_i``/``backward_i`` otherwise, ``head``), so parameter
initialisation — which Flax derives from the names — and every result are unchanged.
"""

from __future__ import annotations

import flax.linen as nn
import jax
import jax.numpy as jnp

from dl_jax.models.recurrent import Bidirectional, last_valid, make_layer
from dl_jax.models.recurrent.layers import LAYERS

READOUTS = ("flatten", "last", "every_step")


class RecurrentNet(nn.Module):
    """A (bidirectional, stacked) recurrent encoder read out by one ``Dense`` layer ``head``.

    Attributes:
      num_classes: logits (per sequence, or per step for ``readout='every_step'``).
      cell: ``'rnn'``, ``'lstm'`` or ``'gru'``.
      features: hidden units per direction (6 in Greydanus's MNIST-1D GRU).
      bidirectional: also read each sequence backwards.
      readout: ``'flatten'``, ``'last'`` or ``'every_step'`` (see the module docstring).
      num_layers: stacked recurrent layers (each direction).
      vocab_size: > 0: inputs are integer tokens, one-hot encoded to this width.
      unroll: scan unroll factor (1: rolled; configs pass ``default_unroll(backend)``).
      reset_after: ``cell='gru'`` only: the PyTorch/cuDNN/Keras GRU (reset gate after the
        recurrent matmul, one more bias per layer) instead of the default Cho et al. form.
    """

    num_classes: int
    cell: str = "gru"
    features: int = 6
    bidirectional: bool = True
    readout: str = "flatten"
    num_layers: int = 1
    vocab_size: int = 0
    unroll: int = 1
    reset_after: bool = False

    def __post_init__(self):
        if self.cell not in LAYERS:
            raise ValueError(f"cell must be one of {', '.join(sorted(LAYERS))}, got {self.cell!r}")
        if self.readout not in READOUTS:
            raise ValueError(f"readout must be one of {', '.join(READOUTS)}, "
                             f"got {self.readout!r}")
        if self.reset_after and self.cell != "gru":
            raise ValueError(f"reset_after applies to cell 'gru' only, got {self.cell!r}")
        if self.num_layers < 1:
            raise ValueError(f"num_layers must be at least 1, got {self.num_layers}")
        super().__post_init__()

    def _layer(self, name: str, num_layers: int = 1) -> nn.Module:
        extra = {"reset_after": True} if self.reset_after else {}
        return make_layer(self.cell, self.features, num_layers=num_layers, unroll=self.unroll,
                          name=name, **extra)

    def _encode(self, x: jax.Array, seq_lengths: jax.Array | None) -> jax.Array:
        """Outputs ``(batch, time, features * directions)`` of the recurrent encoder."""
        flatten = self.readout == "flatten"
        if not self.bidirectional:
            encoder = self._layer("forward" if flatten else "encoder", self.num_layers)
            return encoder(x, seq_lengths=seq_lengths)
        outputs = x
        for index in range(self.num_layers):
            suffix = "" if flatten and index == 0 else f"_{index}"
            pair = Bidirectional(self._layer(f"forward{suffix}"), self._layer(f"backward{suffix}"),
                                 name=None if flatten else f"bidirectional_{index}")
            outputs = pair(outputs, seq_lengths=seq_lengths)
        return outputs

    @nn.compact
    def __call__(self, x: jax.Array, *, train: bool = False,
                 seq_lengths: jax.Array | None = None) -> jax.Array:
        """Logits ``(batch, num_classes)``, or ``(batch, time, num_classes)`` per step.

        Args:
          x: float ``(batch, time, in)`` or ``(batch, time)``; int tokens when ``vocab_size``.
          train: unused (no dropout or batch statistics); part of the shared contract.
          seq_lengths: optional ``(batch,)`` valid lengths (steps past them are zeros).

        Returns:
          Logits.
        """
        del train
        if self.vocab_size:
            x = jax.nn.one_hot(x, self.vocab_size)
        elif x.ndim == 2:
            x = x[..., None]
        outputs = self._encode(x, seq_lengths)
        if self.readout == "flatten":
            summary = outputs.reshape((x.shape[0], -1))
        elif self.readout == "every_step":
            summary = outputs
        elif not self.bidirectional:
            summary = last_valid(outputs, seq_lengths)
        else:
            summary = jnp.concatenate([last_valid(outputs[..., : self.features], seq_lengths),
                                       outputs[:, 0, self.features:]], axis=-1)
        return nn.Dense(self.num_classes, name="head")(summary)


__all__ = ["READOUTS", "RecurrentNet"]
