"""LeNet-5 (LeCun, Bottou, Bengio and Haffner 1998), the lecture's first CNN."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import flax.linen as nn

from dl_jax import ops
from dl_jax.models.cnn.layers import ToeplitzConv

Array = Any


CONV_FORMS = ("lax", "toeplitz")


def fastest_conv_form(backend: str) -> str:
    """The faster ``LeNet5.conv_form`` on a JAX backend (``jax.default_backend()``).

    ``'toeplitz'`` on ``'cpu'``, where XLA's convolutions with 1 and 6 input channels run far
    below its matmul rate (a training step at batch 128 takes about half the time,
    ``benchmarks/lenet5_cpu``); ``'lax'`` (cuDNN and TPU convolutions) elsewhere. Called when a
    run starts (``experiments/lenet5``), never while tracing.
    """
    return "toeplitz" if backend == "cpu" else "lax"


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
            layer (``ToeplitzConv``), about twice as fast on CPU; ``fastest_conv_form`` picks
            one for a backend.
    """

    num_classes: int = 10
    activation: Callable[[Array], Array] = nn.tanh
    conv_form: str = "lax"

    def __post_init__(self):
        if self.conv_form not in CONV_FORMS:
            raise ValueError(
                f"LeNet5.conv_form must be one of {CONV_FORMS}, got {self.conv_form!r}")
        super().__post_init__()

    def _conv(self, features: int, name: str) -> nn.Module:
        if self.conv_form == "toeplitz":
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
