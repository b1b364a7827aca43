"""GoogLeNet / Inception v1 (Szegedy et al. 2014, "Going Deeper with Convolutions")."""

from __future__ import annotations

from typing import Any

import flax.linen as nn
import jax.numpy as jnp

from dl_jax.models import layers
from dl_jax.models.cnn.layers import adaptive_avg_pool, local_response_norm, max_pool_ceil

Array = Any


class Inception(nn.Module):
    """One Inception module (Szegedy et al. 2014, figure 2b).

    Four parallel branches concatenated along channels: 1x1; 1x1 reduce -> 3x3; 1x1 reduce ->
    5x5; 3x3/1 max pool -> 1x1 projection. All convolutions have a bias and ReLU.

    Attributes:
        ch1x1: Filters of the 1x1 branch.
        ch3x3_reduce: 1x1 reduction before the 3x3 convolution.
        ch3x3: Filters of the 3x3 convolution.
        ch5x5_reduce: 1x1 reduction before the 5x5 convolution.
        ch5x5: Filters of the 5x5 convolution.
        pool_proj: 1x1 projection after the max pool.
    """

    ch1x1: int
    ch3x3_reduce: int
    ch3x3: int
    ch5x5_reduce: int
    ch5x5: int
    pool_proj: int

    @nn.compact
    def __call__(self, x: Array) -> Array:
        """Concatenated branch outputs, same spatial size as ``x``.

        Args:
            x: NHWC array.

        Returns:
            NHWC array with ``ch1x1 + ch3x3 + ch5x5 + pool_proj`` channels.
        """

        def conv(features, size, inputs):
            return nn.relu(nn.Conv(features, (size, size), padding=size // 2)(inputs))

        branch1 = conv(self.ch1x1, 1, x)
        branch2 = conv(self.ch3x3, 3, conv(self.ch3x3_reduce, 1, x))
        branch3 = conv(self.ch5x5, 5, conv(self.ch5x5_reduce, 1, x))
        branch4 = conv(self.pool_proj, 1, nn.max_pool(x, (3, 3), (1, 1), padding=((1, 1), (1, 1))))
        return jnp.concatenate([branch1, branch2, branch3, branch4], axis=-1)


# (#1x1, #3x3 reduce, #3x3, #5x5 reduce, #5x5, pool proj) of table 1 of the paper.
_INCEPTION = {
    "3a": (64, 96, 128, 16, 32, 32),
    "3b": (128, 128, 192, 32, 96, 64),
    "4a": (192, 96, 208, 16, 48, 64),
    "4b": (160, 112, 224, 24, 64, 64),
    "4c": (128, 128, 256, 24, 64, 64),
    "4d": (112, 144, 288, 32, 64, 64),
    "4e": (256, 160, 320, 32, 128, 128),
    "5a": (256, 160, 320, 32, 128, 128),
    "5b": (384, 192, 384, 48, 128, 128),
}


class _AuxHead(nn.Module):
    """GoogLeNet's auxiliary classifier: pool to 4x4, 1x1 conv 128, FC 1024, dropout 0.7, FC.

    Attributes:
        num_classes: Number of output logits.
    """

    num_classes: int

    @nn.compact
    def __call__(self, x: Array, *, train: bool) -> Array:
        # The paper pools 14x14 maps with 5x5/3 into 4x4; an adaptive pool gives the same 4x4
        # grid (cells of 4 instead of 5 pixels) at any input size, as torchvision does.
        x = adaptive_avg_pool(x, (4, 4))
        x = nn.relu(nn.Conv(128, (1, 1))(x))
        x = nn.relu(nn.Dense(1024)(x.reshape(x.shape[0], -1)))
        x = layers.Dropout(0.7, deterministic=not train)(x)
        return nn.Dense(self.num_classes, name="logits")(x)


class GoogLeNet(nn.Module):
    """GoogLeNet / Inception v1 (Szegedy et al. 2014, "Going Deeper with Convolutions").

    Table 1 of the paper: 64@7x7/2, 3x3/2 max pool, LRN, 64@1x1, 192@3x3, LRN, 3x3/2 max pool,
    inception 3a-3b, max pool, 4a-4e, max pool, 5a-5b, global average pool, dropout 0.4, FC
    ``num_classes``. Convolutions have biases and ReLU and there is no batch norm (that came
    with Inception v2); the branch that the paper calls 5x5 really is 5x5 here. Pools round up
    like Caffe (224 -> 112 -> 56 -> 28 -> 14 -> 7).

    Parameters for ``num_classes=1000``: 6,998,552 without auxiliary heads (6,990,272 weights
    + 8,280 biases). Provenance: the layer table of the paper with biases counted; the table's
    own "params" column sums to about 6.8M because it lists weights only, in units of 1024
    (inception 3a: 163,328 weights = 159.5K, printed as 159K). torchvision's ``googlenet``
    differs (6,624,904 without aux heads) because it uses batch norm, convolutions without
    bias and a 3x3 kernel in the "5x5" branch. The two auxiliary heads (``aux_logits=True``)
    add 3,188,840 (after 4a, 512 input channels) + 3,190,888 (after 4d, 528 channels),
    13,378,280 in all.

    With ``aux_logits=True`` the call returns ``(logits, aux1, aux2)`` in train mode (aux1
    after 4a, aux2 after 4d; the paper weights their losses by 0.3, ``aux_loss_weight``) and
    only ``logits`` in eval mode. The aux heads are also built at ``init``, whatever ``train``
    says, so one set of variables serves both modes. Inputs down to 8x8 work (the pools round
    up).

    Attributes:
        num_classes: Number of output logits.
        aux_logits: Build and (in train mode) return the two auxiliary classifiers.
        dropout_rate: Dropout before the final FC layer.
        aux_loss_weight: Weight of each auxiliary head's loss in the training loss (the paper's
            0.3): the shared train step adds ``aux_loss_weight * (loss(aux1) + loss(aux2))`` to
            the main loss for models that return ``(logits, aux1, aux2)`` in train mode. Not
            used by the module itself.
    """

    num_classes: int = 1000
    aux_logits: bool = False
    dropout_rate: float = 0.4
    aux_loss_weight: float = 0.3

    @nn.compact
    def __call__(self, x: Array, *, train: bool = False) -> Array | tuple[Array, Array, Array]:
        """Logits (and aux logits when enabled and training) for NHWC images.

        Args:
            x: Float array ``(N, H, W, 3)``, 224x224 canonically.
            train: Enables dropout (rng stream ``'dropout'``) and the aux outputs.

        Returns:
            Logits ``(N, num_classes)``, or ``(logits, aux1, aux2)`` when ``aux_logits`` and
            ``train``.
        """

        def conv(features, size, inputs, stride=1):
            return nn.relu(
                nn.Conv(features, (size, size), strides=stride, padding=size // 2)(inputs)
            )

        run_aux = self.aux_logits and (train or self.is_initializing())
        aux = []
        x = conv(64, 7, x, stride=2)
        x = local_response_norm(max_pool_ceil(x, 3, 2))
        x = conv(192, 3, conv(64, 1, x))
        x = max_pool_ceil(local_response_norm(x), 3, 2)
        for name in ("3a", "3b"):
            x = Inception(*_INCEPTION[name], name=f"inception_{name}")(x)
        x = max_pool_ceil(x, 3, 2)
        for name in ("4a", "4b", "4c", "4d", "4e"):
            if run_aux and name in ("4b", "4e"):
                aux.append(_AuxHead(self.num_classes, name=f"aux{len(aux) + 1}")(x, train=train))
            x = Inception(*_INCEPTION[name], name=f"inception_{name}")(x)
        x = max_pool_ceil(x, 3, 2)
        for name in ("5a", "5b"):
            x = Inception(*_INCEPTION[name], name=f"inception_{name}")(x)
        x = jnp.mean(x, axis=(1, 2))
        x = layers.Dropout(self.dropout_rate, deterministic=not train)(x)
        logits = nn.Dense(self.num_classes, name="logits")(x)
        if self.aux_logits and train:
            return logits, aux[0], aux[1]
        return logits
