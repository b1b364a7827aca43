"""The lecture's "well known CNNs" as Flax linen classifiers.

Every model follows the project's classifier contract:

* ``Model(num_classes=...)``, ``model.apply(variables, x, train=...)`` -> logits;
* inputs are float NHWC images;
* batch norm lives in the ``batch_stats`` collection (``use_running_average=not train``) and
  dropout draws from the ``'dropout'`` rng stream (``deterministic=not train``).

Parameter counts (``params`` collection only, i.e. weights and biases plus batch-norm scale and
offset, never running statistics) are stated per class for the default ``num_classes`` and are
asserted in ``tests/test_cnn_models.py``.  Where a paper leaves freedom, the choice follows the
torchvision model so the counts can be checked against an independent reference.

Models whose classifier expects a fixed grid (AlexNet, ZFNet, VGG) put an adaptive average pool
in front of it, as torchvision does: at the canonical 224x224 input it is the identity, and it
lets the same weights run on small images (tests use 32x32 or 64x64).
"""

from __future__ import annotations

import functools
import math
from collections.abc import Callable, Sequence
from typing import Any

import flax.linen as nn
import jax
import jax.numpy as jnp
import numpy as np
from jax import lax

from dl_jax import ops

__all__ = [
    "CNN_ZOO",
    "VGG",
    "VGG11",
    "VGG13",
    "VGG16",
    "VGG19",
    "AlexNet",
    "BasicBlock",
    "BottleneckBlock",
    "CifarResNet",
    "GoogLeNet",
    "Inception",
    "LeNet5",
    "ResNet",
    "ResNet18",
    "ResNet20",
    "ResNet32",
    "ResNet34",
    "ResNet44",
    "ResNet50",
    "ResNet56",
    "ToeplitzConv",
    "ZFNet",
    "adaptive_avg_pool",
    "local_response_norm",
]

Array = Any

# He initialisation (fan_out), as torchvision initialises the convolutions of its ResNets.
_he_fan_out = nn.initializers.variance_scaling(2.0, "fan_out", "normal")


# ----------------------------------------------------------------------------------------------
# Shared building blocks
# ----------------------------------------------------------------------------------------------


def _averaging_matrix(in_size: int, out_size: int) -> np.ndarray:
    """(out, in) matrix whose row i averages PyTorch's adaptive bin i of an axis of length in."""
    matrix = np.zeros((out_size, in_size), np.float32)
    for i in range(out_size):
        start = (i * in_size) // out_size
        end = math.ceil((i + 1) * in_size / out_size)
        matrix[i, start:end] = 1.0 / (end - start)
    return matrix


def adaptive_avg_pool(x: Array, output_size: tuple[int, int]) -> Array:
    """Adaptive average pooling of an NHWC array to a fixed spatial grid.

    Bin ``i`` along an axis of length ``n`` averages ``[floor(i n / m), ceil((i + 1) n / m))``,
    the bins of PyTorch's ``AdaptiveAvgPool2d``. When ``n`` is a multiple of ``m`` this is plain
    average pooling; when ``n < m`` values are repeated. It is written as two small averaging
    matrices so XLA lowers it to dot products.

    Args:
        x: Array of shape ``(N, H, W, C)``.
        output_size: Target ``(H_out, W_out)``.

    Returns:
        Array of shape ``(N, H_out, W_out, C)``.
    """
    out_h, out_w = output_size
    if x.shape[1:3] == (out_h, out_w):
        return x
    rows = jnp.asarray(_averaging_matrix(x.shape[1], out_h), x.dtype)
    cols = jnp.asarray(_averaging_matrix(x.shape[2], out_w), x.dtype)
    return jnp.einsum("ph,nhwc,qw->npqc", rows, x, cols)


def local_response_norm(
    x: Array, size: int = 5, alpha: float = 1e-4, beta: float = 0.75, k: float = 2.0
) -> Array:
    """Local response normalisation across channels (Krizhevsky et al. 2012, section 3.3).

    ``b_c = a_c / (k + alpha / size * sum_{c' near c} a_{c'}^2) ** beta`` with ``size``
    neighbouring channels centred on ``c`` (PyTorch's ``LocalResponseNorm`` scaling).

    Args:
        x: NHWC array.
        size: Number of neighbouring channels in the sum.
        alpha: Scale of the sum of squares.
        beta: Exponent.
        k: Additive constant.

    Returns:
        Array of the same shape as ``x``.
    """
    squares = lax.reduce_window(
        x * x,
        0.0,
        lax.add,
        (1, 1, 1, size),
        (1, 1, 1, 1),
        [(0, 0), (0, 0), (0, 0), (size // 2, (size - 1) // 2)],
    )
    return x / (k + alpha / size * squares) ** beta


def _max_pool_ceil(x: Array, window: int, stride: int) -> Array:
    """Max pooling with Caffe's / PyTorch's ``ceil_mode=True`` output size and no padding.

    The output has ``ceil((n - window) / stride) + 1`` positions, the last window being allowed
    to hang over the high edge (it is padded with -inf so only real values compete).
    """
    pads = []
    for size in x.shape[1:3]:
        out = -(-(size - window) // stride) + 1
        if (out - 1) * stride >= size:  # the last window must start inside the input
            out -= 1
        pads.append((0, max((out - 1) * stride + window - size, 0)))
    return nn.max_pool(x, (window, window), (stride, stride), padding=pads)


class _Classifier(nn.Module):
    """The AlexNet/VGG/ZFNet head: two dropout-regularised 4096-unit ReLU layers and logits.

    Attributes:
        num_classes: Number of output logits.
        hidden: Width of the two hidden layers.
        dropout_first: Put dropout before each hidden layer (AlexNet) instead of after (VGG).
        rate: Dropout rate.
    """

    num_classes: int
    hidden: int = 4096
    dropout_first: bool = False
    rate: float = 0.5

    @nn.compact
    def __call__(self, x: Array, *, train: bool) -> Array:
        x = x.reshape(x.shape[0], -1)
        for _ in range(2):
            if self.dropout_first:
                x = nn.Dropout(self.rate, deterministic=not train)(x)
            x = nn.relu(nn.Dense(self.hidden)(x))
            if not self.dropout_first:
                x = nn.Dropout(self.rate, deterministic=not train)(x)
        return nn.Dense(self.num_classes, name="logits")(x)


# ----------------------------------------------------------------------------------------------
# LeNet-5
# ----------------------------------------------------------------------------------------------


CONV_FORMS = ("auto", "lax", "toeplitz")


class ToeplitzConv(nn.Module):
    """A VALID, stride-1 2D convolution computed by ``ops.conv2d_toeplitz`` (one banded matmul).

    Its parameters are those of ``nn.Conv(features, kernel_size, padding="VALID")``: the same
    names (``kernel`` ``(kh, kw, C_in, C_out)``, ``bias``) and initialisers, so a parameter tree
    trained with one runs with the other and the same seed initialises both alike.

    Attributes:
        features: Number of filters ``C_out``.
        kernel_size: ``(kh, kw)``.
        block: Output columns per band (``ops.conv2d_toeplitz``): ``'auto'``, an int or None.
    """

    features: int
    kernel_size: tuple[int, int]
    block: int | str | None = "auto"

    @nn.compact
    def __call__(self, x: Array) -> Array:
        """Convolves NHWC ``x``; returns ``(N, H - kh + 1, W - kw + 1, features)``."""
        kernel = self.param(
            "kernel", nn.initializers.lecun_normal(),
            (*self.kernel_size, x.shape[-1], self.features),
        )
        bias = self.param("bias", nn.initializers.zeros_init(), (self.features,))
        return ops.conv2d_toeplitz(x, kernel, bias, block=self.block)


class LeNet5(nn.Module):
    """LeNet-5 (LeCun, Bottou, Bengio and Haffner 1998) in its common modern form.

    32x32x1 -> conv 6@5x5 (28x28x6) -> 2x2 average pool, stride 2 (14x14x6) -> conv 16@5x5
    (10x10x16) -> average pool (5x5x16) -> FC 120 -> FC 84 -> FC ``num_classes``. Every
    convolution is stride 1 without padding and the pooling is average pooling, as the lecture
    describes. Unlike the 1998 paper, C3 is fully connected to S2 (no connection table), the
    pooling layers have no trainable coefficients and the output is an ordinary dense layer
    instead of Euclidean RBF units. The activation is ``tanh`` (the paper's squashing function
    family) unless ``activation`` says otherwise.

    Parameters: 61,706 for ``num_classes=10`` (156 + 2,416 + 48,120 + 10,164 + 850).

    Attributes:
        num_classes: Number of output logits.
        activation: Non-linearity after every layer but the last.
        conv_form: How C1 and C3 are computed; the parameters are the same either way.
            ``'lax'``: ``nn.Conv`` (XLA's convolution). ``'toeplitz'``: one banded matmul per
            layer (``ToeplitzConv``). ``'auto'`` (default): ``'toeplitz'`` on CPU, where XLA's
            convolutions with 1 and 6 input channels run far below its matmul rate (a training
            step at batch 128 takes about half the time, ``benchmarks/lenet5_cpu``), and
            ``'lax'`` on GPU and TPU.
    """

    num_classes: int = 10
    activation: Callable[[Array], Array] = nn.tanh
    conv_form: str = "auto"

    def __post_init__(self):
        if self.conv_form not in CONV_FORMS:
            raise ValueError(
                f"LeNet5.conv_form must be one of {CONV_FORMS}, got {self.conv_form!r}")
        super().__post_init__()

    def _conv(self, features: int, name: str) -> nn.Module:
        form = self.conv_form
        if form == "auto":
            form = "toeplitz" if jax.default_backend() == "cpu" else "lax"
        if form == "toeplitz":
            return ToeplitzConv(features, (5, 5), name=name)
        return nn.Conv(features, (5, 5), padding="VALID", name=name)

    @nn.compact
    def __call__(self, x: Array, *, train: bool = False) -> Array:
        """Logits for a batch of NHWC images (32x32x1 canonically).

        Args:
            x: Float array ``(N, 32, 32, 1)``.
            train: Unused (no dropout or batch norm); kept for the shared contract.

        Returns:
            Logits ``(N, num_classes)``.
        """
        del train
        x = self.activation(self._conv(6, "c1")(x))
        x = ops.avg_pool(x, 2, stride=2)
        x = self.activation(self._conv(16, "c3")(x))
        x = ops.avg_pool(x, 2, stride=2)
        x = x.reshape(x.shape[0], -1)
        x = self.activation(nn.Dense(120, name="c5")(x))
        x = self.activation(nn.Dense(84, name="f6")(x))
        return nn.Dense(self.num_classes, name="logits")(x)


# ----------------------------------------------------------------------------------------------
# AlexNet and ZFNet
# ----------------------------------------------------------------------------------------------


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
        return _Classifier(self.num_classes, dropout_first=True, name="classifier")(x, train=train)


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
        x = local_response_norm(_max_pool_ceil(x, 3, 2))
        x = nn.relu(nn.Conv(256, (5, 5), strides=2, padding="VALID")(x))
        x = local_response_norm(_max_pool_ceil(x, 3, 2))
        x = nn.relu(nn.Conv(384, (3, 3), padding=1)(x))
        x = nn.relu(nn.Conv(384, (3, 3), padding=1)(x))
        x = nn.relu(nn.Conv(256, (3, 3), padding=1)(x))
        x = _max_pool_ceil(x, 3, 2)
        x = adaptive_avg_pool(x, (6, 6))
        return _Classifier(self.num_classes, name="classifier")(x, train=train)


# ----------------------------------------------------------------------------------------------
# VGG
# ----------------------------------------------------------------------------------------------

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
        return _Classifier(self.num_classes, name="classifier")(x, train=train)


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


# ----------------------------------------------------------------------------------------------
# GoogLeNet (Inception v1)
# ----------------------------------------------------------------------------------------------


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
        x = nn.Dropout(0.7, deterministic=not train)(x)
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
    after 4a, aux2 after 4d; the paper weights their losses by 0.3) and only ``logits`` in
    eval mode. The aux heads are also built at ``init``, whatever ``train`` says, so one set of
    variables serves both modes. Inputs down to 8x8 work (the pools round up).

    Attributes:
        num_classes: Number of output logits.
        aux_logits: Build and (in train mode) return the two auxiliary classifiers.
        dropout_rate: Dropout before the final FC layer.
    """

    num_classes: int = 1000
    aux_logits: bool = False
    dropout_rate: float = 0.4

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
        x = local_response_norm(_max_pool_ceil(x, 3, 2))
        x = conv(192, 3, conv(64, 1, x))
        x = _max_pool_ceil(local_response_norm(x), 3, 2)
        for name in ("3a", "3b"):
            x = Inception(*_INCEPTION[name], name=f"inception_{name}")(x)
        x = _max_pool_ceil(x, 3, 2)
        for name in ("4a", "4b", "4c", "4d", "4e"):
            if run_aux and name in ("4b", "4e"):
                aux.append(_AuxHead(self.num_classes, name=f"aux{len(aux) + 1}")(x, train=train))
            x = Inception(*_INCEPTION[name], name=f"inception_{name}")(x)
        x = _max_pool_ceil(x, 3, 2)
        for name in ("5a", "5b"):
            x = Inception(*_INCEPTION[name], name=f"inception_{name}")(x)
        x = jnp.mean(x, axis=(1, 2))
        x = nn.Dropout(self.dropout_rate, deterministic=not train)(x)
        logits = nn.Dense(self.num_classes, name="logits")(x)
        if self.aux_logits and train:
            return logits, aux[0], aux[1]
        return logits


# ----------------------------------------------------------------------------------------------
# ResNets
# ----------------------------------------------------------------------------------------------


def _batch_norm(
    train: bool, name: str | None = None, scale_init=nn.initializers.ones, dtype: Any = None
):
    """Batch norm with PyTorch's defaults (momentum 0.1 there is 0.9 here, eps 1e-5).

    ``dtype`` is the output dtype; statistics are always reduced in float32.
    """
    return nn.BatchNorm(
        use_running_average=not train,
        momentum=0.9,
        epsilon=1e-5,
        scale_init=scale_init,
        dtype=dtype,
        name=name,
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


CNN_ZOO: dict[str, type[nn.Module]] = {
    "lenet5": LeNet5,
    "alexnet": AlexNet,
    "zfnet": ZFNet,
    "vgg11": VGG11,
    "vgg13": VGG13,
    "vgg16": VGG16,
    "vgg19": VGG19,
    "googlenet": GoogLeNet,
    "resnet18": ResNet18,
    "resnet34": ResNet34,
    "resnet50": ResNet50,
    "resnet20": ResNet20,
    "resnet32": ResNet32,
    "resnet44": ResNet44,
    "resnet56": ResNet56,
}
"""Lowercase model name -> class; every entry is built as ``CNN_ZOO[name](num_classes=k)``."""
