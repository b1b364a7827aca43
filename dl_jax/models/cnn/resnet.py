"""Residual networks (He, Zhang, Ren and Sun 2016): the ImageNet and the CIFAR-10 families."""

from __future__ import annotations

import functools
from collections.abc import Sequence
from typing import Any

import flax.linen as nn
import jax.numpy as jnp

from dl_jax.models import layers

Array = Any

# He initialisation (fan_out), as torchvision initialises the convolutions of its ResNets.
_he_fan_out = nn.initializers.variance_scaling(2.0, "fan_out", "normal")


def _batch_norm(
    train: bool, name: str | None = None, scale_init=nn.initializers.ones, dtype: Any = None
):
    """Batch norm with PyTorch's defaults (momentum 0.1 there is 0.9 here, eps 1e-5).

    ``dtype`` is the output dtype; statistics are always reduced in float32, over the global
    batch in every data-parallel mode (``dl_jax.models.layers.batch_norm``).
    """
    return layers.batch_norm(
        train=train, momentum=0.9, epsilon=1e-5, scale_init=scale_init, dtype=dtype, name=name
    )


class BasicBlock(nn.Module):
    """Two 3x3 convolutions with batch norm and an identity or projection shortcut.

    ``relu(bn(conv(relu(bn(conv(x))))) + shortcut(x))`` (He et al. 2016, figure 5 left).

    Attributes:
        features: Output channels.
        stride: Stride of the first convolution (2 where a stage downsamples).
        shortcut: ``'B'``: 1x1 projection + batch norm when the shape changes;
            ``'A'``: parameter-free stride-2 subsampling with zero-padded extra channels.
        dtype: Computation dtype (see ResNet); parameters stay float32.
    """

    features: int
    stride: int = 1
    shortcut: str = "B"
    dtype: Any = None

    @nn.compact
    def __call__(self, x: Array, *, train: bool = False) -> Array:
        """Applies the block.

        Args:
            x: NHWC array.
            train: Batch statistics instead of running averages.

        Returns:
            NHWC array with ``features`` channels, spatially divided by ``stride``.
        """
        conv = functools.partial(
            nn.Conv, use_bias=False, kernel_init=_he_fan_out, dtype=self.dtype
        )
        norm = functools.partial(_batch_norm, train, dtype=self.dtype)
        residual = x
        y = conv(self.features, (3, 3), self.stride, padding=1)(x)
        y = nn.relu(norm()(y))
        y = conv(self.features, (3, 3), padding=1)(y)
        y = norm()(y)
        if residual.shape != y.shape:
            residual = _shortcut(
                residual, self.features, self.stride, self.shortcut, train, self.dtype
            )
        return nn.relu(y + residual)


class BottleneckBlock(nn.Module):
    """1x1 reduce, 3x3, 1x1 expand (x4), each with batch norm (He et al. 2016, figure 5 right).

    The stride sits on the 3x3 convolution (torchvision's "ResNet v1.5"); the parameter count
    is the same as with the stride on the first 1x1.

    Attributes:
        features: Channels of the bottleneck; the block outputs ``4 * features``.
        stride: Stride of the 3x3 convolution.
        dtype: Computation dtype (see ResNet); parameters stay float32.
    """

    features: int
    stride: int = 1
    dtype: Any = None

    @nn.compact
    def __call__(self, x: Array, *, train: bool = False) -> Array:
        """Applies the block.

        Args:
            x: NHWC array.
            train: Batch statistics instead of running averages.

        Returns:
            NHWC array with ``4 * features`` channels, spatially divided by ``stride``.
        """
        conv = functools.partial(
            nn.Conv, use_bias=False, kernel_init=_he_fan_out, dtype=self.dtype
        )
        norm = functools.partial(_batch_norm, train, dtype=self.dtype)
        residual = x
        y = conv(self.features, (1, 1))(x)
        y = nn.relu(norm()(y))
        y = conv(self.features, (3, 3), self.stride, padding=1)(y)
        y = nn.relu(norm()(y))
        y = conv(4 * self.features, (1, 1))(y)
        y = norm()(y)
        if residual.shape != y.shape:
            residual = _shortcut(residual, 4 * self.features, self.stride, "B", train, self.dtype)
        return nn.relu(y + residual)


def _shortcut(
    x: Array, features: int, stride: int, option: str, train: bool, dtype: Any = None
) -> Array:
    """Shortcut that matches ``x`` to a block output of ``features`` channels and ``stride``.

    Must be called inside a compact module (option B creates a conv and a batch norm there).
    """
    if option == "A":
        # Identity on the subsampled grid, zeros for the new channels: no parameters.
        x = x[:, ::stride, ::stride, :]
        extra = features - x.shape[-1]
        return jnp.pad(x, [(0, 0), (0, 0), (0, 0), (extra // 2, extra - extra // 2)])
    if option == "B":
        x = nn.Conv(
            features, (1, 1), stride, use_bias=False, kernel_init=_he_fan_out, dtype=dtype
        )(x)
        return _batch_norm(train, dtype=dtype)(x)
    raise ValueError(f"shortcut option must be 'A' or 'B', got {option!r}")


class ResNet(nn.Module):
    """ImageNet ResNet (He, Zhang, Ren and Sun 2016, "Deep Residual Learning"), table 1.

    Stem 64@7x7/2 + batch norm + ReLU + 3x3/2 max pool, four stages of 64/128/256/512-channel
    blocks (the first block of stages 2-4 downsamples by 2 and uses a projection shortcut,
    option B), global average pool, FC ``num_classes``. No convolution has a bias (batch norm
    follows each). Inputs down to 8x8 work.

    Attributes:
        num_classes: Number of output logits.
        stage_sizes: Number of blocks per stage.
        block: ``BasicBlock`` (18/34 layers) or ``BottleneckBlock`` (50+ layers).
        dtype: Computation dtype, e.g. ``jnp.bfloat16`` for mixed precision on GPU/TPU:
            convolutions and batch-norm outputs in that dtype, parameters and batch-norm
            statistics in float32, logits returned in float32. None keeps float32.
    """

    num_classes: int = 1000
    stage_sizes: Sequence[int] = (2, 2, 2, 2)
    block: type[nn.Module] = BasicBlock
    dtype: Any = None

    @nn.compact
    def __call__(self, x: Array, *, train: bool = False) -> Array:
        """Logits for a batch of NHWC images (224x224x3 canonically).

        Args:
            x: Float array ``(N, H, W, 3)``.
            train: Batch statistics (updating ``batch_stats``) instead of running averages.

        Returns:
            Logits ``(N, num_classes)``.
        """
        x = nn.Conv(
            64, (7, 7), 2, padding=3, use_bias=False, kernel_init=_he_fan_out, dtype=self.dtype
        )(x)
        x = nn.relu(_batch_norm(train, dtype=self.dtype)(x))
        x = nn.max_pool(x, (3, 3), (2, 2), padding=((1, 1), (1, 1)))
        for stage, num_blocks in enumerate(self.stage_sizes):
            for index in range(num_blocks):
                stride = 2 if stage > 0 and index == 0 else 1
                x = self.block(64 * 2**stage, stride, dtype=self.dtype)(x, train=train)
        x = jnp.mean(x.astype(jnp.float32), axis=(1, 2))
        return nn.Dense(self.num_classes, name="logits")(x)


class ResNet18(ResNet):
    """ResNet-18: basic blocks (2, 2, 2, 2); 11,689,512 parameters (1000 classes, = torchvision).

    Attributes:
        stage_sizes: (2, 2, 2, 2).
        block: BasicBlock.
    """

    stage_sizes: Sequence[int] = (2, 2, 2, 2)
    block: type[nn.Module] = BasicBlock


class ResNet34(ResNet):
    """ResNet-34: basic blocks (3, 4, 6, 3); 21,797,672 parameters (1000 classes, = torchvision).

    Attributes:
        stage_sizes: (3, 4, 6, 3).
        block: BasicBlock.
    """

    stage_sizes: Sequence[int] = (3, 4, 6, 3)
    block: type[nn.Module] = BasicBlock


class ResNet50(ResNet):
    """ResNet-50: bottlenecks (3, 4, 6, 3); 25,557,032 parameters (1000 classes, = torchvision).

    Attributes:
        stage_sizes: (3, 4, 6, 3).
        block: BottleneckBlock.
    """

    stage_sizes: Sequence[int] = (3, 4, 6, 3)
    block: type[nn.Module] = BottleneckBlock


class CifarResNet(nn.Module):
    """CIFAR-10 ResNet of He et al. 2016, section 4.2: depth ``6n + 2``.

    3x3 conv 16 + batch norm + ReLU on the 32x32 input, three stages of ``n`` basic blocks with
    16, 32 and 64 filters (feature maps 32, 16, 8; the first block of stages 2 and 3 has stride
    2), global average pool, FC ``num_classes``. Shortcuts default to option A, as in the
    paper's CIFAR experiments: identity everywhere, and where the shape changes the input is
    subsampled by 2 and its channels are zero padded, so no shortcut has parameters.
    ``shortcut='B'`` uses 1x1 projections + batch norm at the two downsampling blocks instead
    (2,752 more parameters).

    Parameters for ``num_classes=10`` with option A: ResNet20 269,722 (the paper's "0.27M";
    272,474 with option B); ResNet32 464,154; ResNet44 658,586; ResNet56 853,018.

    Attributes:
        num_classes: Number of output logits.
        depth: Number of weighted layers, ``6n + 2``.
        shortcut: ``'A'`` (zero-padded identity) or ``'B'`` (projection) where shapes change.
        dtype: Computation dtype (see ResNet); None keeps float32.
    """

    num_classes: int = 10
    depth: int = 20
    shortcut: str = "A"
    dtype: Any = None

    @nn.compact
    def __call__(self, x: Array, *, train: bool = False) -> Array:
        """Logits for a batch of NHWC images (32x32x3 canonically).

        Args:
            x: Float array ``(N, H, W, 3)``.
            train: Batch statistics (updating ``batch_stats``) instead of running averages.

        Returns:
            Logits ``(N, num_classes)``.

        Raises:
            ValueError: If ``depth`` is not of the form ``6n + 2``.
        """
        if self.depth < 8 or (self.depth - 2) % 6:
            raise ValueError(f"CIFAR ResNet depth must be 6n + 2 with n >= 1, got {self.depth}")
        blocks_per_stage = (self.depth - 2) // 6
        x = nn.Conv(
            16, (3, 3), padding=1, use_bias=False, kernel_init=_he_fan_out, dtype=self.dtype
        )(x)
        x = nn.relu(_batch_norm(train, dtype=self.dtype)(x))
        for stage, features in enumerate((16, 32, 64)):
            for index in range(blocks_per_stage):
                stride = 2 if stage > 0 and index == 0 else 1
                x = BasicBlock(features, stride, shortcut=self.shortcut, dtype=self.dtype)(
                    x, train=train
                )
        x = jnp.mean(x.astype(jnp.float32), axis=(1, 2))
        return nn.Dense(self.num_classes, name="logits")(x)


class ResNet20(CifarResNet):
    """CIFAR ResNet-20 (n = 3), 269,722 parameters for 10 classes (option A).

    Attributes:
        depth: 20.
    """

    depth: int = 20


class ResNet32(CifarResNet):
    """CIFAR ResNet-32 (n = 5), 464,154 parameters for 10 classes (option A).

    Attributes:
        depth: 32.
    """

    depth: int = 32


class ResNet44(CifarResNet):
    """CIFAR ResNet-44 (n = 7), 658,586 parameters for 10 classes (option A).

    Attributes:
        depth: 44.
    """

    depth: int = 44


class ResNet56(CifarResNet):
    """CIFAR ResNet-56 (n = 9), 853,018 parameters for 10 classes (option A).

    Attributes:
        depth: 56.
    """

    depth: int = 56
