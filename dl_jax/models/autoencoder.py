"""Deep dense autoencoder (Hinton & Salakhutdinov 2006, "Reducing the dimensionality of data").

Their MNIST autoencoder is 784-1000-500-250-30 with logistic hidden units, a *linear* 30-unit
code layer and a mirrored decoder whose logistic output units reconstruct the [0, 1] pixels. At
30 dimensions it reconstructs MNIST test images with an average squared error of 3.00 per image,
against 13.87 for PCA. ``DenseAutoencoder`` keeps that shape (any widths, linear code, mirrored
decoder, sigmoid output) but is trained end to end with backpropagation from a random start
instead of their RBM pre-training; the hidden non-linearity is configurable.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence

import flax.linen as nn
import jax

Array = jax.Array

# Non-linearities selectable by name, so configs (which hold strings) can pick one.
ACTIVATIONS: dict[str, Callable[[Array], Array]] = {
    "relu": nn.relu,
    "elu": nn.elu,
    "gelu": nn.gelu,
    "tanh": nn.tanh,
    "sigmoid": nn.sigmoid,
}


def get_activation(activation: str | Callable[[Array], Array]) -> Callable[[Array], Array]:
    """Resolves an activation given by name (see ``ACTIVATIONS``) or as a function.

    Raises:
      ValueError: an unknown name.
    """
    if callable(activation):
        return activation
    if activation not in ACTIVATIONS:
        raise ValueError(f"unknown activation {activation!r}: choose one of "
                         f"{', '.join(sorted(ACTIVATIONS))}")
    return ACTIVATIONS[activation]


class DenseAutoencoder(nn.Module):
    """Fully connected autoencoder with a linear code layer and a mirrored decoder.

    The encoder is ``data -> encoder_sizes[0] -> ... -> encoder_sizes[-1] -> code`` (activation
    after every hidden layer, none on the code); the decoder runs the hidden widths in reverse
    and ends in ``prod(data_shape)`` sigmoid units reshaped to ``data_shape``. With
    ``encoder_sizes=(1000, 500, 250)``, ``code_size=30`` and ``data_shape=(28, 28, 1)`` this is
    the 784-1000-500-250-30 MNIST network of Hinton & Salakhutdinov (2006).

    Attributes:
      encoder_sizes: widths of the encoder's hidden layers (the decoder mirrors them).
      code_size: dimension of the linear code.
      activation: hidden non-linearity, a name in ``ACTIVATIONS`` or a function.
      data_shape: shape of one example (without the batch axis); 8x8x1 is scikit-learn digits.
    """

    encoder_sizes: Sequence[int] = (256, 128)
    code_size: int = 8
    activation: str | Callable[[Array], Array] = "relu"
    data_shape: Sequence[int] = (8, 8, 1)

    def setup(self):
        """Creates the layers (explicit, so ``encode`` and ``decode`` can be applied alone)."""
        num_pixels = 1
        for size in self.data_shape:
            num_pixels *= int(size)
        self.encoder_layers = [nn.Dense(int(w)) for w in self.encoder_sizes]
        self.code_layer = nn.Dense(int(self.code_size))
        self.decoder_layers = [nn.Dense(int(w)) for w in reversed(self.encoder_sizes)]
        self.output_layer = nn.Dense(num_pixels)

    def encode(self, x: Array) -> Array:
        """Maps inputs (N, *data_shape) (or already flat (N, D)) to linear codes (N, code_size)."""
        act = get_activation(self.activation)
        h = x.reshape((x.shape[0], -1))
        for layer in self.encoder_layers:
            h = act(layer(h))
        return self.code_layer(h)

    def decode(self, code: Array) -> Array:
        """Maps codes (N, code_size) to reconstructions (N, *data_shape) in (0, 1)."""
        act = get_activation(self.activation)
        h = code
        for layer in self.decoder_layers:
            h = act(layer(h))
        return nn.sigmoid(self.output_layer(h)).reshape((code.shape[0], *self.data_shape))

    def __call__(self, x: Array, *, train: bool = False) -> Array:
        """Returns the reconstruction of ``x`` with ``x``'s shape (``train`` is unused)."""
        del train
        return self.decode(self.encode(x)).reshape(x.shape)
