"""The small CNN of the classic-vs-deep comparison on 8x8 digits (chapter 1).

Registered as ``digits_cnn``; ``experiments/classic_vs_deep`` trains it on raw pixels against
hand-crafted features with logistic regression and an SVM.
"""

from __future__ import annotations

from collections.abc import Sequence

import flax.linen as nn
import jax

from dl_jax.models import layers


class DigitsCNN(nn.Module):
    """A compact CNN for 8x8x1 digits (classifier contract: ``__call__ -> logits``).

    conv 3x3 (c0) -> ReLU -> conv 3x3 (c0) -> ReLU -> 2x2 max pool (4x4) -> conv 3x3 (c1) ->
    ReLU -> 2x2 max pool (2x2) -> flatten -> dense ``hidden`` -> ReLU -> dropout -> logits.
    All convolutions are 'SAME'. With the defaults (c0, c1) = (32, 64), hidden 128: 62,250
    parameters.

    Attributes:
      num_classes: number of logits.
      channels: channels of the first two and of the third convolution.
      hidden: width of the dense layer.
      dropout_rate: dropout before the logits (training only; global-batch masks).
    """

    num_classes: int
    channels: Sequence[int] = (32, 64)
    hidden: int = 128
    dropout_rate: float = 0.0

    @nn.compact
    def __call__(self, x: jax.Array, *, train: bool = False) -> jax.Array:
        """Returns logits (N, num_classes) for images (N, H, W, 1) or (N, H, W)."""
        if x.ndim == 3:
            x = x[..., None]
        first, second = self.channels
        x = nn.relu(nn.Conv(first, (3, 3), padding="SAME")(x))
        x = nn.relu(nn.Conv(first, (3, 3), padding="SAME")(x))
        x = nn.max_pool(x, (2, 2), (2, 2))
        x = nn.relu(nn.Conv(second, (3, 3), padding="SAME")(x))
        x = nn.max_pool(x, (2, 2), (2, 2))
        x = x.reshape((x.shape[0], -1))
        x = nn.relu(nn.Dense(self.hidden)(x))
        x = layers.Dropout(self.dropout_rate, deterministic=not train)(x)
        return nn.Dense(self.num_classes)(x)
