"""Deep belief net: greedy RBM pretraining vs random initialisation with few labels (digits).

For every seed ``s``: a stack of RBMs (``config.hidden_sizes``) is pretrained greedily on all
training images (labels unused; ``dl_jax.rbm.greedy_pretrain``, an Orbax checkpoint in
WORKDIR/rbm_stack_seed<s>/), a class-stratified subset of ``config.num_labelled`` training
examples is drawn, and the registered ``config.finetune.model`` (``dbn_classifier``) is fine-tuned
on it with ``train_and_evaluate`` twice: built with the stack's weights (WORKDIR/pretrained_seed<s>)
and without them, i.e. randomly initialised (WORKDIR/random_seed<s>). Both runs share the trainer
config ``config.finetune`` (seed ``s``), so they see the same batches and the output layer starts
the same; only the hidden layers' initialisation differs. Evaluation is on the full test split.
As a reference, scikit-learn's logistic regression (C = ``config.pixels_c``) is fitted on the
raw pixels of the same labelled subset. Finished sub-runs and stacks are reused, so re-running
resumes.
"""

from __future__ import annotations

import json
import os
import time
from collections.abc import Sequence

import jax
import ml_collections
import numpy as np

from dl_jax import data as data_lib
from dl_jax import rbm
from dl_jax.errors import UserError
from dl_jax.models import canonical_name, get_model
from dl_jax.models.dbn import PretrainedStack
from dl_jax.training import writers
from dl_jax.training.checkpoints import Checkpointer
from experiments.common import baselines
from experiments.rbm.study import flatten, nudge_images

# Tags folded into a seed's key so pretraining and the labelled subset never share bits.
_PRETRAIN_TAG, _LABELLED_TAG = 0xDB7, 0x1AB
INITS = ("pretrained", "random")
# Models that take a pretrained stack (``pretrained=``) and so can be fine-tuned from one.
MODELS = ("dbn_classifier",)
RESUME_FREE_KEYS = frozenset({"data_dir", "finetune.stop_after_steps",
                              "finetune.log_every_steps"})


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


def _stack_template(config, num_visible: int) -> dict:
    """Zeros with the shapes and dtypes of a pretrained stack and its histories."""
    sizes = (num_visible, *(int(n) for n in config.hidden_sizes))
    layers = [{"W": np.zeros((n_in, n_out), np.float32), "b_v": np.zeros(n_in, np.float32),
               "b_h": np.zeros(n_out, np.float32)}
              for n_in, n_out in zip(sizes[:-1], sizes[1:], strict=True)]
    history = {"reconstruction_error": np.zeros(int(config.pretrain.epochs), np.float64)}
    return {"layers": layers, "histories": [dict(history) for _ in layers]}


def _pretrain_seed(config, workdir: str, seed: int, data: np.ndarray) -> dict:
    """Restores WORKDIR/rbm_stack_seed<s>, or pretrains the stack and checkpoints it there.

    Returns:
        ``{"layers": [RBM params (numpy), bottom first], "histories": [rbm.fit histories]}``.
    """
    checkpointer = Checkpointer(os.path.join(workdir, f"rbm_stack_seed{seed}"), max_to_keep=1)
    num_layers = len(config.hidden_sizes)
    try:
        step, stack = checkpointer.restore_latest(_stack_template(config, data.shape[1]))
        if step == num_layers:
            return jax.tree.map(np.asarray, stack)
        pre = config.pretrain
        layers, histories = rbm.greedy_pretrain(
            jax.random.fold_in(jax.random.key(seed), _PRETRAIN_TAG), data,
            tuple(int(n) for n in config.hidden_sizes), epochs=pre.epochs,
            batch_size=pre.batch_size, learning_rate=pre.learning_rate, k=pre.k,
            momentum=pre.momentum, weight_decay=pre.weight_decay, persistent=pre.persistent,
            init_scale=pre.init_scale, sampler=pre.sampler,
        )
        stack = jax.tree.map(np.asarray, {"layers": layers, "histories": histories})
        checkpointer.save(num_layers, stack)
    finally:
        checkpointer.close()
    return stack


def _finished_summary(subrun: str, num_steps: int) -> dict | None:
    # A finished sub-run is read back instead of rebuilding its model and state (the workdir's
    # config.json already guarantees it was trained with this config).
    path = os.path.join(subrun, "summary.json")
    if not os.path.exists(path):
        return None
    with open(path) as f:
        summary = json.load(f)
    return summary if summary.get("step") == num_steps else None


def _finetune_config(config, seed: int, dataset_name: str) -> ml_collections.ConfigDict:
    sub = ml_collections.ConfigDict(config.finetune.to_dict())
    sub.seed = int(seed)
    sub.dataset = dataset_name
    sub.model_kwargs = ml_collections.ConfigDict(
        {**config.finetune.model_kwargs.to_dict(),
         "hidden_sizes": tuple(int(n) for n in config.hidden_sizes)})
    return sub


def _finetune(config, workdir: str, seed: int, init: str, layers: list,
              labelled: data_lib.Dataset) -> dict | None:
    """One fine-tuning sub-run (read back when finished); None if it stopped early."""
    from dl_jax.training.trainer import train_and_evaluate

    subrun = os.path.join(workdir, f"{init}_seed{seed}")
    summary = _finished_summary(subrun, config.finetune.num_steps)
    if summary is not None:
        return summary
    sub = _finetune_config(config, seed, labelled.name)
    extra = {} if init == "random" else {"pretrained": PretrainedStack.from_rbms(layers)}
    model = get_model(sub.model, labelled.num_classes, **sub.model_kwargs.to_dict(), **extra)
    result = train_and_evaluate(sub, subrun, dataset=labelled, model=model,
                                extra_summary={"init": init, "num_labelled": len(labelled.train)})
    return result.summary if result.finished else None


def _labelled(dataset: data_lib.Dataset, num_labelled: int, seed: int) -> data_lib.Dataset:
    index = labelled_subset(dataset.train.labels, num_labelled, seed)
    return data_lib.Dataset(
        name=f"{dataset.name}_{len(index)}labelled",
        train=data_lib.Split(dataset.train.inputs[index], dataset.train.labels[index]),
        test=dataset.test, num_classes=dataset.num_classes,
    )


def _run_seed(config, workdir: str, seed: int, dataset: data_lib.Dataset,
              pretrain_data: np.ndarray) -> list[dict] | None:
    """Pretraining, the pixel baseline and both fine-tunings of one seed, as metric records."""
    stack = _pretrain_seed(config, workdir, seed, pretrain_data)
    records = [{"step": epoch, "phase": "pretrain", "seed": seed, "layer": layer,
                "reconstruction_error": float(error)}
               for layer, history in enumerate(stack["histories"])
               for epoch, error in enumerate(history["reconstruction_error"], 1)]
    labelled = _labelled(dataset, int(config.num_labelled), seed)
    # Reference: a linear classifier on raw pixels with the same labels.
    pixels = baselines.logistic_regression_accuracy(
        flatten(labelled.train.inputs), labelled.train.labels, flatten(dataset.test.inputs),
        dataset.test.labels, config.pixels_c)
    records.append({"step": 0, "phase": "pixels_logistic_regression", "seed": seed,
                    "test_accuracy": pixels})
    for init in INITS:
        summary = _finetune(config, workdir, seed, init, stack["layers"], labelled)
        if summary is None:
            return None
        records.append({"step": int(summary["step"]), "phase": "finetune", "seed": seed,
                        "init": init, **{k: summary[k] for k in (
                            "test_accuracy", "test_loss", "train_accuracy", "train_loss")}})
    return records


def _mean_std(values: Sequence[float]) -> tuple[float, float]:
    # Sample standard deviation across seeds (0 for a single seed).
    values = np.asarray(values, np.float64)
    return float(values.mean()), float(values.std(ddof=1)) if len(values) > 1 else 0.0


def _summarise(config, records: list[dict]) -> dict:
    """Per init mean ± sample std over seeds, the pixel baseline and the paired gain."""
    accuracies = {init: [r["test_accuracy"] for r in records
                         if r["phase"] == "finetune" and r["init"] == init] for init in INITS}
    pixels = [r["test_accuracy"] for r in records if r["phase"] == "pixels_logistic_regression"]
    summary = {"seeds": [int(s) for s in config.seeds],
               "hidden_sizes": [int(n) for n in config.hidden_sizes],
               "num_labelled": int(config.num_labelled)}
    for init in INITS:
        mean, std = _mean_std(accuracies[init])
        summary.update({f"{init}_test_accuracy_mean": mean, f"{init}_test_accuracy_std": std,
                        f"{init}_test_accuracy": accuracies[init]})
    mean, std = _mean_std(pixels)
    summary.update(pixels_logistic_test_accuracy_mean=mean, pixels_logistic_test_accuracy_std=std,
                   pixels_logistic_test_accuracy=pixels)
    gains = np.subtract(accuracies["pretrained"], accuracies["random"])
    gain_mean, gain_std = _mean_std(gains)
    final = [[r["reconstruction_error"] for r in records if r["phase"] == "pretrain"
              and r["seed"] == seed and r["layer"] == layer][-1]
             for seed in summary["seeds"] for layer in range(len(config.hidden_sizes))]
    summary.update(
        pretraining_gain_mean=gain_mean, pretraining_gain_std=gain_std,
        pretraining_wins=int(np.sum(gains > 0)),
        pretrain_reconstruction_error=np.mean(
            np.reshape(final, (len(summary["seeds"]), -1)), axis=0).tolist(),
    )
    return summary


def _validate(config) -> None:
    seeds = tuple(int(s) for s in config.seeds)
    hidden_sizes = tuple(int(n) for n in config.hidden_sizes)
    if not seeds or not hidden_sizes or min(hidden_sizes) <= 0:
        raise UserError(f"need at least one seed and positive hidden_sizes, got seeds {seeds}, "
                        f"hidden_sizes {hidden_sizes}")
    if canonical_name(config.finetune.model) not in MODELS:
        raise UserError(f"finetune.model {config.finetune.model!r} cannot start from a "
                        f"pretrained stack: choose one of {', '.join(MODELS)}")
    if {"hidden_sizes", "pretrained"} & set(config.finetune.model_kwargs):
        raise UserError("set the widths with config.hidden_sizes, not finetune.model_kwargs "
                        "(the stack and the network share them)")


def run(config, workdir: str, *, dataset: data_lib.Dataset | None = None) -> dict:
    """Greedy DBN pretraining, then fine-tuning vs random init on a few labels, per seed.

    Args:
        config: see experiments/dbn/config.py.
        workdir: run directory: config.json, metrics.jsonl, summary.json and the sub-runs.
        dataset: optional dataset instead of ``load_dataset(config.dataset)`` (tests).

    Returns:
        The summary (empty when a sub-run stopped early via ``finetune.stop_after_steps``).
    """
    wall_start = time.perf_counter()
    _validate(config)
    writers.claim_workdir(workdir, config, resume_free=RESUME_FREE_KEYS)
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
    for seed in config.seeds:
        seed_records = _run_seed(config, workdir, int(seed), dataset, pretrain_data)
        if seed_records is None:
            return {}
        records.extend(seed_records)
    writers.write_jsonl(os.path.join(workdir, "metrics.jsonl"), records)
    summary = _summarise(config, records)
    summary["wall_time_s"] = time.perf_counter() - wall_start
    writers.write_json(os.path.join(workdir, "summary.json"), summary)
    return summary
