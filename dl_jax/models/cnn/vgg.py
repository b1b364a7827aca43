"""VGG (Simonyan and Zisserman 2014): configurations A, B, D and E (VGG11/13/16/19)."""

from __future__ import annotations

from typing import Any

import flax.linen as nn

from dl_jax.models.cnn.layers import Classifier, adaptive_avg_pool

Array = Any


# Output channels of the 3x3 convolutions per stage (configurations A, B, D, E of the paper);
# every stage ends with a 2x2/2 max pool.
_VGG_STAGES = {
    11: ((64,), (128,), (256, 256), (512, 512), (512, 512)),
    13: ((64, 64), (128, 128), (256, 256), (512, 512), (512, 512)),
    16: ((64, 64), (128, 128), (256, 256, 256), (512, 512, 512), (512, 512, 512)),
    19: ((64, 64), (128, 128), (256,) * 4, (512,) * 4, (512,) * 4),
}


class VGG(nn.Module):
    """VGG (Simonyan and Zisserman 2014), configurations A/B/D/E = depth 11/13/16/19.

    Five stages of 3x3 convolutions (stride 1, pad 1, with bias, ReLU) each closed by a 2x2/2
    max pool, an adaptive average pool to 7x7, then FC 4096, ReLU, dropout 0.5, FC 4096, ReLU,
    dropout 0.5, FC ``num_classes`` (torchvision's layout, no batch norm).

    Parameters for ``num_classes=1000`` (equal to torchvision): VGG11 132,863,336;
    VGG13 133,047,848; VGG16 138,357,544; VGG19 143,667,240. Smallest input: 32x32.

    Attributes:
        num_classes: Number of output logits.
        depth: 11, 13, 16 or 19 weight layers.
    """

    num_classes: int = 1000
    depth: int = 16

    @nn.compact
    def __call__(self, x: Array, *, train: bool = False) -> Array:
        """Logits for a batch of NHWC images (224x224x3 canonically).

        Args:
            x: Float array ``(N, H, W, 3)``.
            train: Enables dropout (rng stream ``'dropout'``).

        Returns:
            Logits ``(N, num_classes)``.

        Raises:
            ValueError: If ``depth`` is not 11, 13, 16 or 19.
        """
        if self.depth not in _VGG_STAGES:
            raise ValueError(f"VGG depth must be one of {sorted(_VGG_STAGES)}, got {self.depth}")
        for stage in _VGG_STAGES[self.depth]:
            for channels in stage:
                x = nn.relu(nn.Conv(channels, (3, 3), padding=1)(x))
            x = nn.max_pool(x, (2, 2), (2, 2))
        x = adaptive_avg_pool(x, (7, 7))
        return Classifier(self.num_classes, name="classifier")(x, train=train)


class VGG11(VGG):
    """VGG configuration A: 8 convolutions + 3 FC layers; 132,863,336 parameters (1000 classes).

    Attributes:
        depth: Fixed default 11.
    """

    depth: int = 11


class VGG13(VGG):
    """VGG configuration B: 10 convolutions + 3 FC layers; 133,047,848 parameters (1000 classes).

    Attributes:
        depth: Fixed default 13.
    """

    depth: int = 13


class VGG16(VGG):
    """VGG configuration D: 13 convolutions + 3 FC layers; 138,357,544 parameters (1000 classes).

    Attributes:
        depth: Fixed default 16.
    """

    depth: int = 16


class VGG19(VGG):
    """VGG configuration E: 16 convolutions + 3 FC layers; 143,667,240 parameters (1000 classes).

    Attributes:
        depth: Fixed default 19.
    """

    depth: int = 19
