"""AlexNet (Krizhevsky et al. 2012) and ZFNet (Zeiler and Fergus 2013)."""

from __future__ import annotations

from typing import Any

import flax.linen as nn

from dl_jax.models.cnn.layers import (
    Classifier,
    adaptive_avg_pool,
    local_response_norm,
    max_pool_ceil,
)

Array = Any


class AlexNet(nn.Module):
    """AlexNet (Krizhevsky, Sutskever and Hinton 2012), torchvision's single-GPU variant.

    Convolutions 64@11x11/4 (pad 2), 192@5x5 (pad 2), 384@3x3, 256@3x3, 256@3x3 with ReLU and
    3x3/2 max pooling after the first, second and fifth; an adaptive average pool to 6x6; then
    dropout 0.5, FC 4096, ReLU, dropout 0.5, FC 4096, ReLU, FC ``num_classes``. This is the
    "one weird trick" layout (Krizhevsky 2014) used by torchvision, not the paper's two-GPU
    48/128/192/192/128 split, and it has no local response normalisation.

    Parameters: 61,100,840 for ``num_classes=1000`` (equal to ``torchvision.models.alexnet``).
    Smallest input: 63x63.

    Attributes:
        num_classes: Number of output logits.
    """

    num_classes: int = 1000

    @nn.compact
    def __call__(self, x: Array, *, train: bool = False) -> Array:
        """Logits for a batch of NHWC images (224x224x3 canonically).

        Args:
            x: Float array ``(N, H, W, 3)``.
            train: Enables dropout (rng stream ``'dropout'``).

        Returns:
            Logits ``(N, num_classes)``.
        """
        x = nn.relu(nn.Conv(64, (11, 11), strides=4, padding=2)(x))
        x = nn.max_pool(x, (3, 3), (2, 2))
        x = nn.relu(nn.Conv(192, (5, 5), padding=2)(x))
        x = nn.max_pool(x, (3, 3), (2, 2))
        x = nn.relu(nn.Conv(384, (3, 3), padding=1)(x))
        x = nn.relu(nn.Conv(256, (3, 3), padding=1)(x))
        x = nn.relu(nn.Conv(256, (3, 3), padding=1)(x))
        x = nn.max_pool(x, (3, 3), (2, 2))
        x = adaptive_avg_pool(x, (6, 6))
        return Classifier(self.num_classes, dropout_first=True, name="classifier")(x, train=train)


class ZFNet(nn.Module):
    """ZFNet (Zeiler and Fergus 2013, "Visualizing and Understanding Convolutional Networks").

    The architecture of the paper's figure 3: 96@7x7/2 (pad 1, 224 -> 110), 3x3/2 max pool
    (-> 55), contrast normalisation, 256@5x5/2 (-> 26), 3x3/2 max pool (-> 13), contrast
    normalisation, 384@3x3, 384@3x3, 256@3x3 (pad 1), 3x3/2 max pool (-> 6), FC 4096, FC 4096,
    FC ``num_classes``, with ReLU and dropout 0.5 on the hidden FC layers. Pools use Caffe's
    ceil rounding (which gives the paper's 55/13/6 sizes); the normalisation is local response
    normalisation across 5 channels. An adaptive average pool to 6x6 (the identity at 224x224)
    lets the model run on smaller inputs (>= 47x47).

    Parameters: 62,357,608 for ``num_classes=1000``.

    Attributes:
        num_classes: Number of output logits.
    """

    num_classes: int = 1000

    @nn.compact
    def __call__(self, x: Array, *, train: bool = False) -> Array:
        """Logits for a batch of NHWC images (224x224x3 canonically).

        Args:
            x: Float array ``(N, H, W, 3)``.
            train: Enables dropout (rng stream ``'dropout'``).

        Returns:
            Logits ``(N, num_classes)``.
        """
        x = nn.relu(nn.Conv(96, (7, 7), strides=2, padding=1)(x))
        x = local_response_norm(max_pool_ceil(x, 3, 2))
        x = nn.relu(nn.Conv(256, (5, 5), strides=2, padding="VALID")(x))
        x = local_response_norm(max_pool_ceil(x, 3, 2))
        x = nn.relu(nn.Conv(384, (3, 3), padding=1)(x))
        x = nn.relu(nn.Conv(384, (3, 3), padding=1)(x))
        x = nn.relu(nn.Conv(256, (3, 3), padding=1)(x))
        x = max_pool_ceil(x, 3, 2)
        x = adaptive_avg_pool(x, (6, 6))
        return Classifier(self.num_classes, name="classifier")(x, train=train)
