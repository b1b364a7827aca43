"""Train state, objectives and the pure train / eval steps shared by all experiments.

A step is ``(state, batch) -> (state, metrics)``: no hidden state, randomness derived from
``fold_in(key(seed), state.step)``. It is written for the global batch (``axis_name=None``, run
under ``jax.jit`` with a sharded batch: the compiler inserts the all-reduce); the explicit
per-device forms build it with ``axis_name='data'`` and it then averages gradients, batch
statistics and metrics with ``lax.pmean``, so every mode computes the same update.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Callable
from typing import Any

import flax
import jax
import jax.numpy as jnp
import optax

from dl_jax.training import parallel

Array = jax.Array
PyTree = Any

# rng stream tags folded into the step key, so dropout and augmentation never share bits.
_DROPOUT_TAG, _AUGMENT_TAG = 1, 2


@flax.struct.dataclass
class TrainState:
    """Everything a run needs to continue: what checkpoints hold.

    Attributes:
      step: number of completed updates; batch ``step`` is the next one consumed.
      params: model parameters (the ``params`` collection).
      batch_stats: batch-norm running statistics (empty dict when the model has none).
      opt_state: optimizer state.
    """

    step: Array
    params: PyTree
    batch_stats: PyTree
    opt_state: PyTree


# ---------------------------------------------------------------------------------------------
# Objectives: per-example losses and metrics, so train (mean) and eval (masked sum) share them.
# ---------------------------------------------------------------------------------------------


@dataclasses.dataclass(frozen=True)
class Objective:
    """What is minimised and what is reported.

    Attributes:
      per_example: ``(outputs, targets) -> {name: Array[N]}``; must contain ``'loss'``.
    """

    per_example: Callable[[Array, Array], dict[str, Array]]


def _classification(logits, labels):
    loss = optax.softmax_cross_entropy_with_integer_labels(logits.astype(jnp.float32), labels)
    accuracy = (jnp.argmax(logits, -1) == labels).astype(jnp.float32)
    return {"loss": loss, "accuracy": accuracy}


def _regression(outputs, targets):
    error = outputs.reshape(targets.shape) - targets
    return {"loss": jnp.mean(jnp.square(error).reshape(error.shape[0], -1), axis=-1)}


CLASSIFICATION = Objective(_classification)
REGRESSION = Objective(_regression)


def create_train_state(model, tx, example_input, seed: int) -> TrainState:
    """Initialises parameters from ``key(seed)`` (same on every host and device count)."""
    key = jax.random.fold_in(jax.random.key(seed), 0)
    variables = jax.jit(lambda k, x: model.init({"params": k, "dropout": k}, x, train=False))(
        key, example_input
    )
    params = variables["params"]
    return TrainState(
        step=jnp.zeros((), jnp.int32),
        params=params,
        batch_stats=variables.get("batch_stats", {}),
        opt_state=tx.init(params),
    )


def param_count(params: PyTree) -> int:
    """Number of scalars in a pytree."""
    return int(sum(x.size for x in jax.tree.leaves(params)))


# ---------------------------------------------------------------------------------------------
# The steps.
# ---------------------------------------------------------------------------------------------


def make_train_step(
    model,
    tx: optax.GradientTransformation,
    objective: Objective,
    *,
    seed: int,
    axis_name: str | None,
    augment_fn: Callable[[Array, Array], Array] | None = None,
) -> Callable[[TrainState, dict], tuple[TrainState, dict]]:
    """Builds the pure per-device step ``(state, batch) -> (state, metrics)``.

    Args:
      model: a linen classifier/regressor called as ``apply(vars, x, train=True)``.
      tx: the optimizer.
      objective: per-example loss and metrics.
      seed: the run's seed; the step key is ``fold_in(key(seed), state.step)``.
      axis_name: the data axis to average over (None when not data parallel).
      augment_fn: optional ``(keys[N], inputs[N, ...]) -> inputs``; each example gets the key
        folded with its position in the global batch, so augmentation does not depend on the
        number of devices.

    Returns:
      The per-device step; metrics are means over the global batch.
    """
    aux_weight = getattr(model, "aux_loss_weight", None)

    def train_step(state: TrainState, batch: dict) -> tuple[TrainState, dict]:
        step_key = jax.random.fold_in(jax.random.key(seed), state.step)
        inputs, targets = batch["inputs"], batch["targets"]
        if augment_fn is not None:
            local = inputs.shape[0]
            offset = parallel.device_index(axis_name) * local
            example_keys = jax.vmap(
                lambda i: jax.random.fold_in(jax.random.fold_in(step_key, _AUGMENT_TAG), i)
            )(offset + jnp.arange(local))
            inputs = augment_fn(example_keys, inputs)
        # One dropout key for the global batch: dl_jax.models.layers.Dropout draws the global
        # batch's mask in every data-parallel mode. (The fold with 0 keeps the keys of runs
        # recorded when keys were folded with a device index, which was 0 on one device.)
        dropout_key = jax.random.fold_in(jax.random.fold_in(step_key, _DROPOUT_TAG), 0)
        has_bn = bool(jax.tree.leaves(state.batch_stats))

        def loss_fn(params):
            variables = {"params": params}
            if has_bn:
                variables["batch_stats"] = state.batch_stats
            outputs, updates = model.apply(
                variables, inputs, train=True, rngs={"dropout": dropout_key},
                mutable=["batch_stats"] if has_bn else [],
            )
            outputs, aux = _split_aux(outputs)
            if aux and aux_weight is None:
                raise ValueError(f"{type(model).__name__} returns auxiliary outputs but has no "
                                 "aux_loss_weight attribute")
            per_example = objective.per_example(outputs, targets)
            loss = jnp.mean(per_example["loss"])
            # Auxiliary heads (GoogLeNet) add their loss with the model's own weight.
            for extra in aux:
                loss = loss + aux_weight * jnp.mean(objective.per_example(extra, targets)["loss"])
            metrics = {k: jnp.mean(v) for k, v in per_example.items()}
            return loss, (metrics, updates.get("batch_stats", state.batch_stats))

        grads, (metrics, batch_stats) = jax.grad(loss_fn, has_aux=True)(state.params)
        grads = parallel.maybe_pmean(grads, axis_name)
        # Per-device batch statistics are averaged so every replica keeps identical state.
        batch_stats = parallel.maybe_pmean(batch_stats, axis_name)
        metrics = parallel.maybe_pmean(metrics, axis_name)
        updates, opt_state = tx.update(grads, state.opt_state, state.params)
        params = optax.apply_updates(state.params, updates)
        metrics["grad_norm"] = jnp.sqrt(sum(jnp.sum(jnp.square(g)) for g in jax.tree.leaves(grads)))
        new_state = state.replace(
            step=state.step + 1, params=params, batch_stats=batch_stats, opt_state=opt_state
        )
        return new_state, metrics

    return train_step


def make_eval_step(model, objective: Objective, *, axis_name: str | None):
    """Builds the per-device eval step ``(state, batch) -> sums`` (masked, psum over devices).

    ``batch['mask']`` marks real examples (the last batch is padded to a static shape); the
    result holds the sum of every per-example metric and ``'count'``.
    """

    def eval_step(state: TrainState, batch: dict) -> dict:
        variables = {"params": state.params}
        if jax.tree.leaves(state.batch_stats):
            variables["batch_stats"] = state.batch_stats
        outputs, _ = _split_aux(model.apply(variables, batch["inputs"], train=False))
        per_example = objective.per_example(outputs, batch["targets"])
        mask = batch["mask"]
        sums = {k: jnp.sum(v * mask) for k, v in per_example.items()}
        sums["count"] = jnp.sum(mask)
        return parallel.maybe_psum(sums, axis_name)

    return eval_step


def _split_aux(outputs) -> tuple[Array, tuple]:
    """A model's output as (main, auxiliary outputs): logits, or a tuple (logits, aux1, ...)."""
    if isinstance(outputs, tuple | list):
        return outputs[0], tuple(outputs[1:])
    return outputs, ()
