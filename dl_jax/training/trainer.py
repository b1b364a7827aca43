"""The one trainer shared by every experiment: ``train_and_evaluate(config, workdir)``.

Contract (every experiment follows it):

* ``WORKDIR/config.json`` — the resolved config; re-running in the same workdir with a different
  config is refused (nothing saved is overwritten).
* ``WORKDIR/metrics.jsonl`` — one JSON object per logged step: ``step``, ``train_loss``,
  ``train_<metric>``, ``grad_norm``, ``learning_rate``, ``steps_per_sec`` and, at eval steps,
  ``test_<metric>``.
* ``WORKDIR/summary.json`` — final metrics (``test_accuracy`` ...), seed, steps, parameter count and
  ``wall_time_s``; everything but the wall time is a pure function of the config.
* TensorBoard events in ``WORKDIR``; Orbax checkpoints in ``WORKDIR/checkpoints/<step>``.
* Re-running the same command resumes from the newest checkpoint and ends with exactly the params,
  metrics and summary of an uninterrupted run: batch ``s`` is a pure function of (seed, s) and all
  randomness is ``fold_in(key(seed), step)``.
* SIGTERM/SIGINT (preemption) stop the run at the next log step with a checkpoint.
* A NaN/Inf loss stops the run with one line naming the step; the newest checkpoint is the last
  finite one (parameters are checked before every save).
"""

from __future__ import annotations

import dataclasses
import json
import math
import os
import signal
import time
from collections.abc import Callable

import jax
import jax.numpy as jnp
import ml_collections
import numpy as np
from absl import logging

from dl_jax import data as data_lib
from dl_jax.training import steps as steps_lib
from dl_jax.training import writers
from dl_jax.errors import UserError
from dl_jax.training.parallel import DataParallel


def default_config() -> ml_collections.ConfigDict:
    """The trainer's config fields with their defaults (experiment configs override them)."""
    config = ml_collections.ConfigDict()
    config.seed = 0
    config.dataset = "mnist1d"
    config.data_dir = ""  # "" = TFDS default ($TFDS_DATA_DIR or ~/tensorflow_datasets).
    config.model = "cnn"
    config.model_kwargs = ml_collections.ConfigDict()
    config.optimizer = "adam"  # sgd | momentum | nesterov | adam | adamw | rmsprop
    config.learning_rate = 1e-2
    config.schedule = "constant"  # constant | cosine | warmup_cosine | piecewise
    config.warmup_steps = 0
    config.schedule_boundaries = ()
    config.schedule_factor = 0.1
    config.momentum = 0.9
    config.weight_decay = 0.0
    config.grad_clip_norm = 0.0
    config.batch_size = 100  # global, split over all devices
    config.eval_batch_size = 1000
    config.num_steps = 1000
    config.log_every_steps = 100
    config.eval_every_steps = 1000
    config.checkpoint_every_steps = 1000
    config.keep_checkpoints = 2
    config.parallel = "shard_map"  # shard_map | pmap | none
    config.num_devices = 0  # 0 = all devices
    # Stop (with a checkpoint) after this many steps of this invocation, rounded up to a log
    # step; the next invocation resumes. 0 = run to num_steps. Simulates preemption.
    config.stop_after_steps = 0
    return config


@dataclasses.dataclass
class TrainResult:
    """What ``train_and_evaluate`` returns: the summary and one host copy of the final state."""

    summary: dict
    state: steps_lib.TrainState
    finished: bool


class _StopFlag:
    """Set by SIGTERM/SIGINT; checked at log steps so a stop leaves an exact checkpoint."""

    def __init__(self):
        self.raised = False
        self._previous = {}

    def __enter__(self):
        for sig in (signal.SIGTERM, signal.SIGINT):
            try:
                self._previous[sig] = signal.signal(sig, self._handle)
            except ValueError:  # Not the main thread: leave signals alone.
                pass
        return self

    def _handle(self, signum, frame):
        del frame
        logging.warning("signal %d: stopping at the next log step with a checkpoint", signum)
        self.raised = True

    def __exit__(self, *exc):
        for sig, handler in self._previous.items():
            signal.signal(sig, handler)


def _validate(config) -> None:
    for name in ("num_steps", "batch_size", "eval_batch_size", "log_every_steps",
                 "eval_every_steps", "checkpoint_every_steps"):
        if int(config[name]) <= 0:
            raise UserError(f"config.{name} must be positive, got {config[name]}")
    if config.checkpoint_every_steps % config.log_every_steps:
        raise UserError("config.checkpoint_every_steps must be a multiple of log_every_steps "
                        "(checkpoints are taken at log steps so resumed logs stay exact)")


def _eval_batches(split: data_lib.Split, batch_size: int, parallel: DataParallel):
    """Host batches covering ``split`` once, the last one padded and masked."""
    batch_size = -(-batch_size // parallel.num_devices) * parallel.num_devices
    n = len(split)
    batch_size = min(batch_size, -(-n // parallel.num_devices) * parallel.num_devices)
    process = data_lib.process_slice(batch_size)
    batches = []
    for start in range(0, n, batch_size):
        idx = np.arange(start, start + batch_size)
        mask = (idx < n).astype(np.float32)
        idx = np.minimum(idx, n - 1)
        batch = {"inputs": split.inputs[idx], "targets": split.labels[idx], "mask": mask}
        batches.append(jax.tree.map(lambda x: x[process], batch))
    return batches


def evaluate(eval_step, state, batches, parallel: DataParallel, prefix: str = "test_") -> dict:
    """Mean of every per-example metric over a split."""
    totals = None
    for batch in batches:
        sums = eval_step(state, parallel.shard_batch(batch))
        totals = sums if totals is None else jax.tree.map(jnp.add, totals, sums)
    totals = jax.device_get(parallel.unreplicate(totals))
    count = float(totals.pop("count"))
    return {prefix + k: float(v) / count for k, v in totals.items()}


def _all_finite(tree) -> bool:
    leaves = [jnp.all(jnp.isfinite(x)) for x in jax.tree.leaves(tree)
              if jnp.issubdtype(x.dtype, jnp.inexact)]
    return bool(jnp.all(jnp.stack(leaves))) if leaves else True


def train_and_evaluate(
    config: ml_collections.ConfigDict,
    workdir: str,
    *,
    dataset: data_lib.Dataset | None = None,
    model=None,
    objective: steps_lib.Objective = steps_lib.CLASSIFICATION,
    augment_fn: Callable | None = None,
    extra_summary: dict | Callable[[dict], dict] | None = None,
) -> TrainResult:
    """Trains ``config.model`` on ``config.dataset`` and writes the run outputs to ``workdir``.

    Args:
      config: a config with the fields of ``default_config()``.
      workdir: run directory (created); resumes if it holds checkpoints.
      dataset: use this dataset instead of ``load_dataset(config.dataset)`` (experiments that
        preprocess, e.g. resize digits to 32x32).
      model: use this module instead of the registry's ``config.model``.
      objective: per-example loss and metrics (classification by default).
      augment_fn: optional per-example training augmentation (see ``make_train_step``).
      extra_summary: additional entries for summary.json, or a function of the final summary
        returning them (for verdicts such as "solved" that depend on the final metrics).

    Returns:
      The summary, the final state (one host copy) and whether num_steps was reached.

    Raises:
      UserError: invalid config, unknown model/dataset, indivisible batch, NaN/Inf loss.
    """
    wall_start = time.perf_counter()
    _validate(config)
    parallel = DataParallel(config.parallel, config.num_devices)
    parallel.check_batch_size(config.batch_size)
    if dataset is None:
        dataset = data_lib.load_dataset(config.dataset, data_dir=config.data_dir or None)
    if model is None:
        from dl_jax.models import get_model

        model = get_model(config.model, dataset.num_classes, **config.model_kwargs.to_dict())
    # Claimed only once the config is known to be runnable, so a typo in the model, dataset or
    # batch size leaves no config.json behind to block the corrected command.
    os.makedirs(workdir, exist_ok=True)
    writers.claim_workdir(workdir, config)

    tx = steps_lib.make_optimizer(config)
    schedule = steps_lib.make_schedule(config)
    state = steps_lib.create_train_state(model, tx, dataset.train.inputs[:1], config.seed)
    num_params = steps_lib.param_count(state.params)

    from dl_jax.training.checkpoints import Checkpointer

    checkpointer = Checkpointer(os.path.join(workdir, "checkpoints"), config.keep_checkpoints)
    start_step = checkpointer.latest_step() or 0
    if start_step:
        state = checkpointer.restore(state, start_step)
        logging.info("resuming from checkpoint at step %d", start_step)
    writer = writers.MetricWriter(workdir, resume_step=start_step if start_step else None)

    axis = parallel.axis_name
    train_step = parallel.map(
        steps_lib.make_train_step(model, tx, objective, seed=config.seed, axis_name=axis,
                                  augment_fn=augment_fn),
        donate_state=True,
    )
    eval_step = parallel.map(steps_lib.make_eval_step(model, objective, axis_name=axis),
                             donate_state=False)
    eval_batches = _eval_batches(dataset.test, config.eval_batch_size, parallel)
    device_state = parallel.replicate(state)

    num_steps, log_every = config.num_steps, config.log_every_steps
    stop_step = num_steps
    if config.stop_after_steps:
        stop_step = min(num_steps,
                        -(-(start_step + config.stop_after_steps) // log_every) * log_every)
    train_x, train_y, n_train = dataset.train.inputs, dataset.train.labels, len(dataset.train)
    process = data_lib.process_slice(config.batch_size)
    progress = writers.Progress(num_steps, start_step)
    pending: list[dict] = []
    last_train: dict = {}
    last_eval: dict = {}
    logging.info("%s on %s: %d params, %d device(s) (%s), steps %d -> %d",
                 type(model).__name__, dataset.name, num_params, parallel.num_devices,
                 parallel.mode, start_step, num_steps)

    try:
        with _StopFlag() as stop_flag:
            step = start_step
            while step < stop_step:
                idx = data_lib.batch_indices(config.seed, step, n_train, config.batch_size)[process]
                batch = parallel.shard_batch({"inputs": train_x[idx], "targets": train_y[idx]})
                device_state, metrics = train_step(device_state, batch)
                pending.append(metrics)
                step += 1
                at_end = step == num_steps
                if step % log_every and not at_end:
                    continue
                # A log step: fetch the interval's metrics, check them, maybe eval and checkpoint.
                last_train = _reduce_interval(pending, step - len(pending) + 1, parallel)
                pending = []
                record = dict(last_train)
                record["learning_rate"] = float(schedule(step - 1))
                record["steps_per_sec"] = progress.report(
                    step, f" | train_loss {last_train['train_loss']:.4f}")
                if step % config.eval_every_steps == 0 or at_end:
                    last_eval = evaluate(eval_step, device_state, eval_batches, parallel)
                    record.update(last_eval)
                    logging.info("step %d: %s", step,
                                 ", ".join(f"{k} {v:.4f}" for k, v in last_eval.items()))
                writer.write(step, record)
                stopping = at_end or step == stop_step or stop_flag.raised
                if step % config.checkpoint_every_steps == 0 or stopping:
                    host_state = jax.device_get(parallel.unreplicate(device_state))
                    if not _all_finite(host_state.params):
                        raise UserError(f"parameters became NaN/Inf by step {step}; the last "
                                        f"finite checkpoint is kept in {checkpointer.directory}")
                    checkpointer.save(step, host_state)
                if stop_flag.raised:
                    break
    finally:
        # Pending asynchronous saves complete even when a step raised (e.g. NaN).
        checkpointer.close()
        writer.close()

    final_state = jax.device_get(parallel.unreplicate(device_state))
    finished = step >= num_steps
    summary_path = os.path.join(workdir, "summary.json")
    if start_step >= num_steps:
        # Re-running a finished command: report the run as it ended, recomputing (without
        # training) only what a crash after the last checkpoint may have left unwritten.
        if os.path.exists(summary_path):
            with open(summary_path) as f:
                summary = json.load(f)
            logging.info("run already finished at step %d", start_step)
            return TrainResult(summary=summary, state=final_state, finished=True)
        last_train = {k: v for k, v in writers.read_jsonl(writer.path)[-1].items()
                      if k.startswith("train_") or k == "grad_norm"}
        last_eval = evaluate(eval_step, device_state, eval_batches, parallel)
    if not finished:
        logging.info("stopped at step %d of %d; re-run the same command to resume", step,
                     num_steps)
        return TrainResult(summary={}, state=final_state, finished=False)
    summary = {
        **last_eval,
        **{k: v for k, v in last_train.items()},
        "step": step,
        "seed": config.seed,
        "model": config.model,
        "dataset": dataset.name,
        "num_params": num_params,
        "wall_time_s": time.perf_counter() - wall_start,
    }
    if callable(extra_summary):
        summary.update(extra_summary(summary))
    elif extra_summary:
        summary.update(extra_summary)
    writers.write_json(summary_path, summary)
    return TrainResult(summary=summary, state=final_state, finished=True)


def _reduce_interval(pending: list[dict], first_step: int, parallel: DataParallel) -> dict:
    """Means of the per-step metrics of one log interval; stops on a NaN/Inf loss."""
    host = jax.device_get([parallel.unreplicate(m) for m in pending])
    for offset, metrics in enumerate(host):
        bad = [k for k in ("loss", "grad_norm") if not math.isfinite(float(metrics[k]))]
        if bad:
            raise UserError(
                f"{bad[0]} is {float(metrics[bad[0]])} at step {first_step + offset}; stopping "
                f"(the newest checkpoint, before this step, is finite and kept)"
            )
    names = host[0].keys()
    means = {k: float(np.mean([float(m[k]) for m in host])) for k in names}
    return {("grad_norm" if k == "grad_norm" else f"train_{k}"): v for k, v in means.items()}
