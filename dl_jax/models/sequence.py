"""Recurrent classifiers for MNIST-1D, after the paper's reference ``GRUBase``.

Greydanus (2020) reads the 40-sample signal as a sequence of scalars with a bidirectional GRU of
6 units per direction and classifies from ALL time steps' outputs, flattened (40 x 12 = 480
features), with one linear layer; the paper reports 91 % test accuracy for it. ``rnn`` and
``lstm`` use the same read-out with the lecture's vanilla RNN and LSTM cells.
"""

import flax.linen as nn
import jax

from dl_jax.models.recurrent import Bidirectional, make_layer


class FlattenedRecurrent(nn.Module):
    """(Bi)directional recurrent layer whose every output feeds a linear classifier.

    Attributes:
      num_classes: number of logits.
      cell: ``'rnn'``, ``'lstm'`` or ``'gru'``.
      features: hidden units per direction (6 in the paper).
      bidirectional: read the signal in both directions (the paper does).
    """

    num_classes: int
    cell: str = "gru"
    features: int = 6
    bidirectional: bool = True

    @nn.compact
    def __call__(self, x: jax.Array, *, train: bool = False) -> jax.Array:
        """Logits (N, num_classes) for signals (N, T) or (N, T, C)."""
        del train
        if x.ndim == 2:
            x = x[..., None]
        if self.bidirectional:
            layer = Bidirectional(make_layer(self.cell, self.features, name="forward"),
                                  make_layer(self.cell, self.features, name="backward"))
        else:
            layer = make_layer(self.cell, self.features, name="forward")
        outputs = layer(x)
        return nn.Dense(self.num_classes, name="head")(outputs.reshape((x.shape[0], -1)))
