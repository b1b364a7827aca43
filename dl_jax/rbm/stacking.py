"""Greedy layer-wise pretraining of a deep belief net (Hinton, Osindero & Teh 2006).

A DBN is pretrained one RBM at a time: the first RBM models the data, each next RBM models the
hidden probabilities p(h | v) that the RBM below produces for the data ("greedy layer-wise
training"; HOT06 show that adding a layer this way, started from the transpose of the layer
below, cannot lower a variational lower bound on log p(v)). ``up_pass`` then maps data through the
stack; ``dl_jax.models.dbn.DBNClassifier`` turns the stack into a network for fine-tuning.
"""

from __future__ import annotations

import functools
from collections.abc import Callable, Mapping, Sequence
from typing import Any

import jax
import jax.numpy as jnp
import numpy as np

from dl_jax.rbm.model import Params, hidden_probs, init
from dl_jax.rbm.training import fit


def up_pass(stack: Sequence[Params], v: jax.Array) -> list[jax.Array]:
    """Hidden probabilities of every layer: h_1 = p(h | v) of RBM 1, h_l = p(h | h_{l-1}).

    Args:
        stack: RBM params, bottom first.
        v: Visible data (N, n_visible).

    Returns:
        One (N, n_hidden_l) array per layer.
    """
    activations = []
    for params in stack:
        v = hidden_probs(params, v)
        activations.append(v)
    return activations


def greedy_pretrain(
    key: jax.Array,
    data: Any,
    hidden_sizes: Sequence[int],
    *,
    epochs: int,
    batch_size: int,
    learning_rate: float,
    k: int = 1,
    momentum: float = 0.0,
    weight_decay: float = 0.0,
    persistent: bool = False,
    init_scale: float = 0.01,
    sampler: str = "threefry",
    callback: Callable[[int, int, Params, Mapping[str, float]], None] | None = None,
) -> tuple[list[Params], list[dict[str, np.ndarray]]]:
    """Trains a stack of RBMs greedily, each on the hidden probabilities of the one below.

    Layer ``l`` (0-based) uses ``init_key, fit_key = split(fold_in(key, l))``: it is initialised
    with ``rbm.init(init_key, n_in, hidden_sizes[l], scale=init_scale, visible_mean=mean of its
    input)`` and trained with ``rbm.fit(..., fit_key, ...)`` on its input, which is the data for
    layer 0 and ``rbm.hidden_probs`` of the trained layer ``l - 1`` on its own input afterwards
    (probabilities, not samples: the lower-variance choice, also made in Hinton &
    Salakhutdinov's 2006 code). Every layer
    uses the same training hyper-parameters.

    Args:
        key: PRNG key.
        data: Training data (N, n_visible), binary or in [0, 1].
        hidden_sizes: Hidden units per layer, bottom first.
        epochs: Epochs per layer.
        batch_size: Minibatch size.
        learning_rate: CD step size.
        k: Gibbs steps per update.
        momentum: Momentum coefficient.
        weight_decay: L2 coefficient on W.
        persistent: PCD instead of CD-k.
        init_scale: Standard deviation of the initial weights.
        sampler: ``"threefry"`` or ``"hash"`` (see ``rbm.cd_update``).
        callback: Called as ``callback(layer, epoch, params, metrics)`` after every epoch.

    Returns:
        ``(stack, histories)``: the trained RBM params bottom first, and per layer the
        ``rbm.fit`` history (per-epoch reconstruction error).
    """
    if not hidden_sizes or any(int(n) <= 0 for n in hidden_sizes):
        raise ValueError(f"hidden_sizes must be positive, got {tuple(hidden_sizes)}")
    inputs = jnp.asarray(data, jnp.float32).reshape(len(data), -1)
    stack, histories = [], []
    for layer, n_hidden in enumerate(hidden_sizes):
        init_key, fit_key = jax.random.split(jax.random.fold_in(key, layer))
        params = init(init_key, inputs.shape[1], int(n_hidden), scale=init_scale,
                          visible_mean=jnp.mean(inputs, axis=0))
        layer_callback = None if callback is None else functools.partial(callback, layer)
        params, history = fit(
            params, inputs, fit_key, epochs=epochs, batch_size=batch_size, k=k,
            learning_rate=learning_rate, momentum=momentum, weight_decay=weight_decay,
            persistent=persistent, sampler=sampler, callback=layer_callback,
        )
        stack.append(params)
        histories.append(history)
        inputs = hidden_probs(params, inputs)
    return stack, histories
