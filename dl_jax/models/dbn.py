"""A deep belief net as a classifier: sigmoid layers initialised from a greedy RBM stack.

The stack (``dl_jax.rbm.greedy_pretrain``) is turned into a discriminative network, as in Hinton &
Salakhutdinov (2006) and Bengio et al. (2007): every RBM's recognition weights W and hidden
biases b_h become a sigmoid layer, so the network's l-th hidden activation is exactly the l-th
RBM's p(h | input), and a fresh softmax layer is put on top; backpropagation then fine-tunes the
whole net. (Hinton, Osindero & Teh 2006 fine-tune generatively, with the up-down algorithm and a
label-joint top RBM; that is not implemented here.)

How the pretrained weights reach the shared trainer: ``train_and_evaluate`` initialises params
itself (``model.init`` from ``key(seed)``), so ``DBNClassifier`` carries the pretrained arrays as a
module attribute (``PretrainedStack``) and uses them as its hidden layers' ``kernel_init`` /
``bias_init``. ``model.init`` then returns exactly the RBM weights for the hidden layers (the key
only draws the output layer), and the trainer needs no special case; a resumed run restores its
checkpoint over them as usual. With ``pretrained=None`` the same module is the randomly initialised
baseline (Glorot-uniform hidden weights, zero biases). Registered as ``dbn_classifier``.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Callable, Sequence

import flax.linen as nn
import jax
import jax.numpy as jnp
import numpy as np

Params = dict[str, jax.Array]


@dataclasses.dataclass(frozen=True, eq=False)
class PretrainedStack:
    """Recognition weights of a pretrained stack, held by ``DBNClassifier`` as initialisers.

    ``eq=False`` makes it hash by identity: Flax modules must be hashable and numpy arrays are
    not.

    Attributes:
        weights: Per layer the RBM's W (n_in, n_hidden), bottom first.
        hidden_biases: Per layer the RBM's b_h (n_hidden,).
    """

    weights: tuple[np.ndarray, ...]
    hidden_biases: tuple[np.ndarray, ...]

    @classmethod
    def from_rbms(cls, stack: Sequence[Params]) -> PretrainedStack:
        """Takes W and b_h of every RBM (host copies, float32)."""
        return cls(
            weights=tuple(np.asarray(p["W"], np.float32) for p in stack),
            hidden_biases=tuple(np.asarray(p["b_h"], np.float32) for p in stack),
        )

    @property
    def hidden_sizes(self) -> tuple[int, ...]:
        """Hidden units per layer."""
        return tuple(int(w.shape[1]) for w in self.weights)


def constant_initializer(value: np.ndarray) -> Callable[..., jax.Array]:
    """A Flax initialiser that ignores its key and returns ``value`` (shape-checked).

    Args:
        value: The array every initialisation returns.

    Returns:
        ``init(key, shape, dtype) -> value`` cast to ``dtype``.
    """
    value = np.asarray(value)

    def init(key, shape, dtype=jnp.float32):
        del key
        if tuple(shape) != value.shape:
            raise ValueError(f"pretrained array has shape {value.shape}, the layer wants "
                             f"{tuple(shape)}")
        return jnp.asarray(value, dtype)

    return init


class DBNClassifier(nn.Module):
    """Sigmoid MLP with the DBN's shape: flatten, sigmoid layers, softmax read-out (logits).

    With ``pretrained`` the hidden layers start as the RBMs' recognition weights (W, b_h), so the
    l-th hidden activation equals the l-th RBM's p(h | input); otherwise they start
    Glorot-uniform (Glorot & Bengio 2010, the usual sigmoid-net choice) with zero biases. The
    output layer is always fresh (Glorot-uniform, zero bias, drawn from the init key). Each hidden
    activation is sown into the ``intermediates`` collection as ``activation_<l>`` (the
    parameters of that layer are ``hidden_<l>``).

    Attributes:
        num_classes: Number of logits.
        hidden_sizes: Hidden widths; must match ``pretrained`` when both are given (empty means
            take them from ``pretrained``).
        pretrained: Optional recognition weights of a pretrained stack.
    """

    num_classes: int
    hidden_sizes: tuple[int, ...] = ()
    pretrained: PretrainedStack | None = None

    def layer_sizes(self) -> tuple[int, ...]:
        """The hidden widths actually used (checked against the pretrained stack)."""
        if self.pretrained is None:
            if not self.hidden_sizes:
                raise ValueError("DBNClassifier needs hidden_sizes or pretrained weights")
            return tuple(self.hidden_sizes)
        sizes = self.pretrained.hidden_sizes
        if self.hidden_sizes and tuple(self.hidden_sizes) != sizes:
            raise ValueError(f"hidden_sizes {tuple(self.hidden_sizes)} do not match the "
                             f"pretrained stack's {sizes}")
        return sizes

    @nn.compact
    def __call__(self, x, *, train: bool = False):
        """Returns logits (N, num_classes) for inputs (N, ...)."""
        del train
        h = x.reshape((x.shape[0], -1))
        for layer, width in enumerate(self.layer_sizes()):
            if self.pretrained is None:
                kernel_init, bias_init = nn.initializers.xavier_uniform(), nn.initializers.zeros
            else:
                kernel_init = constant_initializer(self.pretrained.weights[layer])
                bias_init = constant_initializer(self.pretrained.hidden_biases[layer])
            h = nn.sigmoid(nn.Dense(width, kernel_init=kernel_init, bias_init=bias_init,
                                    name=f"hidden_{layer}")(h))
            self.sow("intermediates", f"activation_{layer}", h)
        return nn.Dense(self.num_classes, kernel_init=nn.initializers.xavier_uniform(),
                        name="output")(h)


def classifier_from_stack(stack: Sequence[Params], num_classes: int) -> DBNClassifier:
    """The pretrained stack as a classifier: sigmoid layers from (W, b_h), fresh softmax on top.

    Args:
        stack: RBM params, bottom first (the first RBM's visible units = flattened inputs).
        num_classes: Number of logits.

    Returns:
        A ``DBNClassifier`` whose ``init`` returns the RBM weights for its hidden layers.
    """
    return DBNClassifier(num_classes=num_classes, pretrained=PretrainedStack.from_rbms(stack))
