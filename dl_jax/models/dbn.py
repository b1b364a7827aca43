"""Deep belief nets (Hinton, Osindero & Teh 2006): greedy layer-wise RBM stacking and fine-tuning.

A DBN is pretrained one RBM at a time: the first RBM models the data, each next RBM models the
hidden probabilities p(h | v) that the RBM below produces for the data ("greedy layer-wise
training"; HOT06 show that adding a layer this way, started from the transpose of the layer
below, cannot lower a variational lower bound on log p(v)). The stack is then turned into a
discriminative network, as in Hinton & Salakhutdinov (2006) and Bengio et al. (2007): every RBM's
recognition weights W and hidden biases b_h become a sigmoid layer, so the network's l-th hidden
activation is exactly the l-th RBM's p(h | input), and a fresh softmax layer is put on top;
backpropagation then fine-tunes the whole net. (HOT06 itself fine-tunes generatively, with the
up-down algorithm and a label-joint top RBM; that part is not implemented here.)

How the pretrained weights reach the shared trainer: ``train_and_evaluate`` initialises params
itself (``model.init`` from ``key(seed)``), so ``DBNClassifier`` carries the pretrained arrays as a
module attribute (``PretrainedStack``) and uses them as its hidden layers' ``kernel_init`` /
``bias_init``. ``model.init`` then returns exactly the RBM weights for the hidden layers (the key
only draws the output layer), and the trainer needs no special case; a resumed run restores its
checkpoint over them as usual. With ``pretrained=None`` the same module is the randomly initialised
baseline (Glorot-uniform hidden weights, zero biases).

The experiment (``run_experiment``; ``python -m experiments.dbn``) compares pretrained and random
initialisation of the same network on the same small labelled subset, over several seeds.
"""

from __future__ import annotations

import dataclasses
import functools
import json
import os
import time
from collections.abc import Callable, Mapping, Sequence
from typing import Any

import flax.linen as nn
import jax
import jax.numpy as jnp
import numpy as np

from dl_jax import data as data_lib
from dl_jax import rbm
from dl_jax.training import writers
from dl_jax.errors import UserError

Params = rbm.Params

# Tags folded into a seed's key so pretraining and the labelled subset never share bits.
_PRETRAIN_TAG, _LABELLED_TAG = 0xDB7, 0x1AB


# ---------------------------------------------------------------------------------------------
# Greedy layer-wise pretraining.
# ---------------------------------------------------------------------------------------------


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
        v = rbm.hidden_probs(params, v)
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
        params = rbm.init(init_key, inputs.shape[1], int(n_hidden), scale=init_scale,
                          visible_mean=jnp.mean(inputs, axis=0))
        layer_callback = None if callback is None else functools.partial(callback, layer)
        params, history = rbm.fit(
            params, inputs, fit_key, epochs=epochs, batch_size=batch_size, k=k,
            learning_rate=learning_rate, momentum=momentum, weight_decay=weight_decay,
            persistent=persistent, sampler=sampler, callback=layer_callback,
        )
        stack.append(params)
        histories.append(history)
        inputs = rbm.hidden_probs(params, inputs)
    return stack, histories


def save_stack(path: str, stack: Sequence[Params], histories: Sequence[Mapping] = ()) -> None:
    """Writes a stack (and optional pretraining histories) to one ``.npz`` file atomically.

    Args:
        path: Destination, ending in ``.npz``.
        stack: RBM params, bottom first.
        histories: Per-layer ``{metric: (epochs,) array}``.
    """
    arrays = {f"layer{i}/{name}": np.asarray(value)
              for i, params in enumerate(stack) for name, value in params.items()}
    arrays.update({f"history{i}/{name}": np.asarray(value)
                   for i, history in enumerate(histories) for name, value in history.items()})
    tmp = path[: -len(".npz")] + ".tmp.npz"
    np.savez(tmp, num_layers=len(stack), **arrays)
    os.replace(tmp, path)


def load_stack(path: str) -> tuple[list[Params], list[dict[str, np.ndarray]]]:
    """Reads a file written by ``save_stack``.

    Returns:
        ``(stack, histories)`` as numpy arrays (histories empty when none were saved).
    """
    with np.load(path) as saved:
        num_layers = int(saved["num_layers"])
        stack = [{name: saved[f"layer{i}/{name}"] for name in ("W", "b_v", "b_h")}
                 for i in range(num_layers)]
        histories = []
        for i in range(num_layers):
            prefix = f"history{i}/"
            history = {key[len(prefix):]: saved[key] for key in saved.files
                       if key.startswith(prefix)}
            if history:
                histories.append(history)
    return stack, histories


# ---------------------------------------------------------------------------------------------
# The stack as a classifier.
# ---------------------------------------------------------------------------------------------


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


# ---------------------------------------------------------------------------------------------
# The experiment: pretrained vs random initialisation with few labels.
# ---------------------------------------------------------------------------------------------

INITS = ("pretrained", "random")


def labelled_subset(labels: np.ndarray, num_labelled: int, seed: int) -> np.ndarray:
    """Indices of a class-stratified random subset (pure in its arguments).

    Every class gets ``num_labelled // num_classes`` examples and the first
    ``num_labelled % num_classes`` classes one more.

    Args:
        labels: (N,) integer labels.
        num_labelled: Subset size.
        seed: Seed of the draw.

    Returns:
        Sorted indices into ``labels``.

    Raises:
        UserError: the size is not positive or a class has too few examples.
    """
    classes = np.unique(labels)
    if not 0 < num_labelled <= len(labels):
        raise UserError(f"num_labelled must be in [1, {len(labels)}], got {num_labelled}")
    rng = np.random.default_rng([seed, _LABELLED_TAG])
    per_class, extra = divmod(num_labelled, len(classes))
    chosen = []
    for rank, label in enumerate(classes):
        members = np.flatnonzero(labels == label)
        count = per_class + (rank < extra)
        if count > len(members):
            raise UserError(f"class {label} has {len(members)} training examples, fewer than "
                            f"the {count} that num_labelled={num_labelled} asks for")
        chosen.append(rng.choice(members, count, replace=False))
    return np.sort(np.concatenate(chosen))


def _finetune_config(config, seed: int, init: str, dataset_name: str):
    import ml_collections

    sub = ml_collections.ConfigDict(config.finetune.to_dict())
    sub.seed = int(seed)
    sub.model = f"dbn_{init}"
    sub.dataset = dataset_name
    sub.model_kwargs = ml_collections.ConfigDict(
        {"hidden_sizes": tuple(int(n) for n in config.hidden_sizes)})
    return sub


def _pretrain_seed(config, workdir: str, seed: int, data: np.ndarray):
    """Loads WORKDIR/rbm_stack_seed<s>.npz, or pretrains the stack and saves it there."""
    path = os.path.join(workdir, f"rbm_stack_seed{seed}.npz")
    if os.path.exists(path):
        return load_stack(path)
    pre = config.pretrain
    stack, histories = greedy_pretrain(
        jax.random.fold_in(jax.random.key(seed), _PRETRAIN_TAG), data,
        tuple(int(n) for n in config.hidden_sizes), epochs=pre.epochs,
        batch_size=pre.batch_size, learning_rate=pre.learning_rate, k=pre.k,
        momentum=pre.momentum, weight_decay=pre.weight_decay, persistent=pre.persistent,
        init_scale=pre.init_scale, sampler=pre.sampler,
    )
    stack = [{name: np.asarray(value) for name, value in params.items()} for params in stack]
    if jax.process_index() == 0:
        save_stack(path, stack, histories)
    return stack, histories


def _finished_summary(subrun: str, num_steps: int) -> dict | None:
    # A finished sub-run is read back instead of rebuilding its model and state (the workdir's
    # config.json already guarantees it was trained with this config).
    path = os.path.join(subrun, "summary.json")
    if not os.path.exists(path):
        return None
    with open(path) as f:
        summary = json.load(f)
    return summary if summary.get("step") == num_steps else None


def _mean_std(values: Sequence[float]) -> tuple[float, float]:
    # Sample standard deviation across seeds (0 for a single seed).
    values = np.asarray(values, np.float64)
    return float(values.mean()), float(values.std(ddof=1)) if len(values) > 1 else 0.0


def run_experiment(config, workdir: str, *, dataset: data_lib.Dataset | None = None) -> dict:
    """Greedy DBN pretraining, then fine-tuning vs random init on a few labels, per seed.

    For every seed ``s``: a stack of RBMs (``config.hidden_sizes``) is pretrained on all training
    images (labels unused; WORKDIR/rbm_stack_seed<s>.npz), a class-stratified subset of
    ``config.num_labelled`` training examples is drawn, and the same ``DBNClassifier`` is
    fine-tuned on it with ``train_and_evaluate`` twice: from the stack (WORKDIR/pretrained_seed<s>)
    and from a random init (WORKDIR/random_seed<s>). Both runs share the trainer config
    ``config.finetune`` (seed ``s``), so they see the same batches and the output layer starts the
    same; only the hidden layers' initialisation differs. Evaluation is on the full test split.
    As a reference, scikit-learn's logistic regression (C = ``config.pixels_c``) is fitted on the
    raw pixels of the same labelled subset.
    Finished sub-runs and stacks are reused, so re-running resumes.

    Args:
        config: See experiments/configs/dbn.py.
        workdir: Run directory: config.json, metrics.jsonl, summary.json and the sub-runs.
        dataset: Optional dataset instead of ``load_dataset(config.dataset)`` (tests).

    Returns:
        The summary (empty when a sub-run stopped early via ``finetune.stop_after_steps``).
    """
    from dl_jax.rbm_experiment import flatten, logistic_regression_accuracy, nudge_images
    from dl_jax.training.trainer import train_and_evaluate
    from dl_jax.training.writers import claim_workdir, write_jsonl

    wall_start = time.perf_counter()
    seeds = tuple(int(s) for s in config.seeds)
    hidden_sizes = tuple(int(n) for n in config.hidden_sizes)
    if not seeds or not hidden_sizes or min(hidden_sizes) <= 0:
        raise UserError(f"need at least one seed and positive hidden_sizes, got seeds {seeds}, "
                        f"hidden_sizes {hidden_sizes}")
    claim_workdir(workdir, config, resume_free=frozenset(
        {"data_dir", "finetune.stop_after_steps", "finetune.log_every_steps"}))
    if dataset is None:
        dataset = data_lib.load_dataset(config.dataset, data_dir=config.data_dir or None)
    train_images = dataset.train.inputs
    if config.pretrain.nudge:
        # Shifts act on the two spatial axes; flat inputs have none to shift.
        if train_images.ndim < 3:
            raise UserError("pretrain.nudge needs image inputs (N, H, W[, C])")
        train_images = nudge_images(train_images)
    pretrain_data = flatten(train_images)

    records: list[dict] = []
    accuracies: dict[str, list[float]] = {init: [] for init in INITS}
    pixel_accuracies: list[float] = []
    final_reconstruction: list[list[float]] = []
    for seed in seeds:
        stack, histories = _pretrain_seed(config, workdir, seed, pretrain_data)
        for layer, history in enumerate(histories):
            for epoch, error in enumerate(history["reconstruction_error"], 1):
                records.append({"step": epoch, "phase": "pretrain", "seed": seed,
                                "layer": layer, "reconstruction_error": float(error)})
        final_reconstruction.append([float(h["reconstruction_error"][-1]) for h in histories])
        index = labelled_subset(dataset.train.labels, int(config.num_labelled), seed)
        labelled = data_lib.Dataset(
            name=f"{dataset.name}_{len(index)}labelled",
            train=data_lib.Split(dataset.train.inputs[index], dataset.train.labels[index]),
            test=dataset.test, num_classes=dataset.num_classes,
        )
        # Reference: a linear classifier on raw pixels with the same labels.
        pixel_accuracies.append(logistic_regression_accuracy(
            flatten(labelled.train.inputs), labelled.train.labels, flatten(dataset.test.inputs),
            dataset.test.labels, config.pixels_c))
        records.append({"step": 0, "phase": "pixels_logistic_regression", "seed": seed,
                        "test_accuracy": pixel_accuracies[-1]})
        for init in INITS:
            subrun = os.path.join(workdir, f"{init}_seed{seed}")
            summary = _finished_summary(subrun, config.finetune.num_steps)
            if summary is None:
                model = (classifier_from_stack(stack, dataset.num_classes)
                         if init == "pretrained" else DBNClassifier(dataset.num_classes,
                                                                    hidden_sizes))
                result = train_and_evaluate(
                    _finetune_config(config, seed, init, labelled.name), subrun,
                    dataset=labelled, model=model,
                    extra_summary={"init": init, "num_labelled": len(index)},
                )
                if not result.finished:
                    return {}
                summary = result.summary
            accuracies[init].append(float(summary["test_accuracy"]))
            records.append({"step": int(summary["step"]), "phase": "finetune", "seed": seed,
                            "init": init, **{k: summary[k] for k in (
                                "test_accuracy", "test_loss", "train_accuracy", "train_loss")}})

    write_jsonl(os.path.join(workdir, "metrics.jsonl"), records)
    gains = np.subtract(accuracies["pretrained"], accuracies["random"])
    summary = {"seeds": list(seeds), "hidden_sizes": list(hidden_sizes),
               "num_labelled": int(config.num_labelled)}
    for init in INITS:
        mean, std = _mean_std(accuracies[init])
        summary.update({f"{init}_test_accuracy_mean": mean, f"{init}_test_accuracy_std": std,
                        f"{init}_test_accuracy": accuracies[init]})
    mean, std = _mean_std(pixel_accuracies)
    summary.update(pixels_logistic_test_accuracy_mean=mean, pixels_logistic_test_accuracy_std=std,
                   pixels_logistic_test_accuracy=pixel_accuracies)
    gain_mean, gain_std = _mean_std(gains)
    summary.update(
        pretraining_gain_mean=gain_mean, pretraining_gain_std=gain_std,
        pretraining_wins=int(np.sum(gains > 0)),
        pretrain_reconstruction_error=np.mean(final_reconstruction, axis=0).tolist(),
        wall_time_s=time.perf_counter() - wall_start,
    )
    writers.write_json(os.path.join(workdir, "summary.json"), summary)
    return summary
