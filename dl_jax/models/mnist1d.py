"""The small baselines of Greydanus (2020), "Scaling down deep learning" (MNIST-1D).

The paper's table (test accuracy on MNIST-1D, 4,000 train / 1,000 test): logistic regression 32 %,
MLP 68 %, CNN 94 %, GRU 91 %. Shapes follow the paper's reference models: an MLP with two hidden
layers of 100 ReLU units, and a CNN of three stride-2 1-D convolutions with 25 channels
(kernels 5, 3, 3, padding 1) and a linear read-out of the flattened 25 x 5 features.

Registered as ``logistic``, ``mlp`` and ``conv1d`` (alias ``cnn``, the name earlier commands
use). Every classifier in dl_jax has the same call:
``model.apply(variables, x, train=...) -> logits``.
"""

import flax.linen as nn
import jax
import jax.numpy as jnp

from dl_jax.models import layers

# PyTorch's default initialisation, which the paper's reference models used: weights and biases
# uniform in +-1/sqrt(fan_in) (kaiming_uniform with a=sqrt(5)). It has a third of the variance
# of Flax's lecun_normal, and we measured it to matter on MNIST-1D (see README).
TORCH_KERNEL_INIT = nn.initializers.variance_scaling(1.0 / 3.0, "fan_in", "uniform")


def torch_bias_init(fan_in: int):
    """Bias initialiser uniform in +-1/sqrt(fan_in), as PyTorch's Linear and Conv layers."""
    bound = 1.0 / fan_in**0.5

    def init(key, shape, dtype=jnp.float32):
        return jax.random.uniform(key, shape, dtype, -bound, bound)

    return init


def _dense(features: int, fan_in: int, init_style: str) -> nn.Dense:
    if init_style == "torch":
        return nn.Dense(features, kernel_init=TORCH_KERNEL_INIT, bias_init=torch_bias_init(fan_in))
    return nn.Dense(features)


def _conv(features: int, width: int, in_channels: int, init_style: str) -> nn.Conv:
    # Explicit (1, 1) padding reproduces PyTorch's Conv1d(padding=1) arithmetic exactly.
    kwargs = {"strides": (2,), "padding": [(1, 1)]}
    if init_style == "torch":
        kwargs.update(kernel_init=TORCH_KERNEL_INIT,
                      bias_init=torch_bias_init(width * in_channels))
    return nn.Conv(features, (width,), **kwargs)


class LogisticRegression(nn.Module):
    """Multinomial logistic regression: one dense layer on the flattened input (410 params).

    Attributes:
      num_classes: number of logits.
      init_style: ``'torch'`` (the paper's PyTorch defaults) or ``'flax'`` (lecun_normal, zero
        bias).
    """

    num_classes: int
    init_style: str = "torch"

    @nn.compact
    def __call__(self, x, *, train: bool = False):
        """Returns logits (N, num_classes) for inputs (N, ...)."""
        del train
        x = x.reshape((x.shape[0], -1))
        return _dense(self.num_classes, x.shape[-1], self.init_style)(x)


class MLP(nn.Module):
    """Fully connected ReLU network; MNIST-1D default 40-100-100-10 (15,210 params).

    As in the paper's reference ``MLPBase``, a hidden layer whose width equals its input's adds
    its input back (h = h + relu(W h + b)); ``residual=False`` gives the plain stack.

    Attributes:
      num_classes: number of logits.
      hidden_sizes: widths of the hidden layers.
      residual: skip connections around equal-width hidden layers.
      init_style: ``'torch'`` or ``'flax'`` (see ``LogisticRegression``).
      dropout_rate: dropout after each hidden activation (before the skip connection), active
        only with ``train=True`` (rng stream ``'dropout'``); 0 (the default) is the plain MLP.
    """

    num_classes: int
    hidden_sizes: tuple[int, ...] = (100, 100)
    residual: bool = True
    init_style: str = "torch"
    dropout_rate: float = 0.0

    @nn.compact
    def __call__(self, x, *, train: bool = False):
        """Returns logits (N, num_classes) for inputs (N, ...)."""
        x = x.reshape((x.shape[0], -1))
        for width in self.hidden_sizes:
            h = nn.relu(_dense(width, x.shape[-1], self.init_style)(x))
            h = layers.Dropout(self.dropout_rate, deterministic=not train)(h)
            x = x + h if self.residual and x.shape[-1] == width else h
        return _dense(self.num_classes, x.shape[-1], self.init_style)(x)


class Conv1DNet(nn.Module):
    """Greydanus's MNIST-1D CNN: 3 x (Conv1d stride 2, ReLU) then a linear layer (5,210 params).

    Input (N, L) or (N, L, C); with L = 40 the feature lengths are 40 -> 19 -> 10 -> 5.

    Attributes:
      num_classes: number of logits.
      channels: channels of every convolution (25 in the paper).
      init_style: ``'torch'`` or ``'flax'`` (see ``LogisticRegression``).
    """

    num_classes: int
    channels: int = 25
    init_style: str = "torch"

    @nn.compact
    def __call__(self, x, *, train: bool = False):
        """Returns logits (N, num_classes) for inputs (N, ...)."""
        del train
        if x.ndim == 2:
            x = x[..., None]
        for width in (5, 3, 3):
            x = nn.relu(_conv(self.channels, width, x.shape[-1], self.init_style)(x))
        # Flatten channel-major like the reference (N, C, L) layout; the order does not change
        # what the model can learn but keeps the read-out weights comparable.
        x = jnp.swapaxes(x, 1, 2).reshape((x.shape[0], -1))
        return _dense(self.num_classes, x.shape[-1], self.init_style)(x)
