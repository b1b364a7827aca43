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
from dl_jax.errors import UserError
from dl_jax.training import optimizers, writers
from dl_jax.training import steps as steps_lib
from dl_jax.training.checkpoints import Checkpointer
from dl_jax.training.parallel import DataParallel


def default_config() -> ml_collections.ConfigDict:
    """The trainer's config fields with their defaults (experiment configs override them)."""
    config = ml_collections.ConfigDict()
    config.seed = 0
    config.dataset = "mnist1d"
    config.data_dir = ""  # "" = TFDS default ($TFDS_DATA_DIR or ~/tensorflow_datasets).
    # memory: the dataset held as numpy arrays; stream: read from its ArrayRecord files at each
    # step (dl_jax.data.streaming, for data larger than memory). Same batches either way.
    config.data_mode = "memory"
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
    config.parallel = "jit"  # jit (global batch) | shard_map | pmap (per device) | none
    config.num_devices = 0  # 0 = all devices
    # GPU: XLA's deterministic ops (bit-identical reruns; slower scatter/reductions). Applied by
    # the experiments' CLI before JAX starts its backends (an XLA flag, not a run-time switch).
    config.deterministic = False
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


DATA_MODES = ("memory", "stream")


def _validate(config) -> None:
    """Every check that needs no data or devices (run before the workdir is claimed)."""
    for name in ("num_steps", "batch_size", "eval_batch_size", "log_every_steps",
                 "eval_every_steps", "checkpoint_every_steps", "keep_checkpoints"):
        if int(config[name]) <= 0:
            raise UserError(f"config.{name} must be positive, got {config[name]}")
    if config.checkpoint_every_steps % config.log_every_steps:
        raise UserError("config.checkpoint_every_steps must be a multiple of log_every_steps "
                        "(checkpoints are taken at log steps so resumed logs stay exact)")
    if config.warmup_steps < 0 or config.stop_after_steps < 0:
        raise UserError("config.warmup_steps and config.stop_after_steps must be >= 0")
    if config.data_mode not in DATA_MODES:
        raise UserError(f"unknown data_mode {config.data_mode!r}: choose one of "
                        f"{', '.join(DATA_MODES)}")
    optimizers.make_optimizer(config)  # unknown optimizer/schedule, warm-up past the end


def _load_dataset(config) -> data_lib.Dataset:
    """``config.dataset`` in memory or streamed from disk (``config.data_mode``)."""
    data_dir = config.data_dir or None
    if config.data_mode == "stream":
        from dl_jax.data.streaming import load_streaming_dataset

        return load_streaming_dataset(config.dataset, data_dir=data_dir)
    return data_lib.load_dataset(config.dataset, data_dir=data_dir)


def _eval_batches(split: data_lib.Split, batch_size: int, parallel: DataParallel):
    """Host batches covering ``split`` once, the last one padded and masked."""
    batch_size = -(-batch_size // parallel.num_devices) * parallel.num_devices
    n = len(split)
    batch_size = min(batch_size, -(-n // parallel.num_devices) * parallel.num_devices)
    process = data_lib.process_slice(batch_size)
    batches = []
    for start in range(0, n, batch_size):
        idx = np.arange(start, start + batch_size)
        batch = split.take(np.minimum(idx, n - 1))
        batch["mask"] = (idx < n).astype(np.float32)
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


@dataclasses.dataclass
class _Run:
    """Everything one invocation of the trainer holds (built by ``_setup``)."""

    config: ml_collections.ConfigDict
    workdir: str
    dataset: data_lib.Dataset
    model: object
    parallel: DataParallel
    schedule: Callable
    checkpointer: Checkpointer
    writer: writers.MetricWriter
    start_step: int
    num_params: int
    train_step: Callable
    eval_step: Callable
    eval_batches: list


def _setup(config, workdir, dataset, model, objective, augment_fn) -> tuple[_Run, object]:
    """Validates, claims the workdir, restores the newest checkpoint; returns (run, state)."""
    _validate(config)
    parallel = DataParallel(config.parallel, config.num_devices)
    parallel.check_batch_size(config.batch_size)
    if dataset is None:
        dataset = _load_dataset(config)
    if model is None:
        from dl_jax.models import get_model

        model = get_model(config.model, dataset.num_classes, **config.model_kwargs.to_dict())
    # Claimed only once the config is known to be runnable, so a typo in the model, dataset or
    # batch size leaves no config.json behind to block the corrected command.
    writers.claim_workdir(workdir, config, added_defaults=default_config())
    tx = optimizers.make_optimizer(config)
    example = jax.tree.map(lambda a: a[:1], dataset.train.inputs)
    state = steps_lib.create_train_state(model, tx, example, config.seed)
    checkpointer = Checkpointer(os.path.join(workdir, "checkpoints"), config.keep_checkpoints)
    start_step, state = checkpointer.restore_latest(state)
    if start_step:
        logging.info("resuming from checkpoint at step %d", start_step)
    axis = parallel.axis_name
    train_step = steps_lib.make_train_step(model, tx, objective, seed=config.seed,
                                           axis_name=axis, augment_fn=augment_fn)
    eval_step = steps_lib.make_eval_step(model, objective, axis_name=axis)
    run = _Run(
        config=config, workdir=workdir, dataset=dataset, model=model, parallel=parallel,
        schedule=optimizers.make_schedule(config), checkpointer=checkpointer,
        writer=writers.MetricWriter(workdir, resume_step=start_step or None),
        start_step=start_step or 0, num_params=steps_lib.param_count(state.params),
        train_step=parallel.map(train_step, donate_state=True),
        eval_step=parallel.map(eval_step, donate_state=False),
        eval_batches=_eval_batches(dataset.test, config.eval_batch_size, parallel),
    )
    return run, parallel.replicate(state)


def _stop_step(config, start_step: int) -> int:
    """Where this invocation stops: num_steps, or after ``stop_after_steps`` (at a log step)."""
    if not config.stop_after_steps:
        return config.num_steps
    log_every = config.log_every_steps
    return min(config.num_steps,
               -(-(start_step + config.stop_after_steps) // log_every) * log_every)


def _train_loop(run: _Run, device_state, stop_flag) -> tuple[object, int, dict, dict]:
    """Trains from ``run.start_step``; returns (state, step reached, last train, last eval)."""
    config, parallel = run.config, run.parallel
    train, n_train = run.dataset.train, len(run.dataset.train)
    process = data_lib.process_slice(config.batch_size)
    progress = writers.Progress(config.num_steps, run.start_step)
    stop_step = _stop_step(config, run.start_step)
    pending, last_train, last_eval = [], {}, {}
    step = run.start_step
    while step < stop_step:
        idx = data_lib.batch_indices(config.seed, step, n_train, config.batch_size)[process]
        device_state, metrics = run.train_step(device_state, parallel.shard_batch(train.take(idx)))
        pending.append(metrics)
        step += 1
        at_end = step == config.num_steps
        if step % config.log_every_steps and not at_end:
            continue
        # A log step: fetch the interval's metrics, check them, maybe eval and checkpoint.
        last_train = _reduce_interval(pending, step - len(pending) + 1, parallel, run)
        pending = []
        record = dict(last_train)
        record["learning_rate"] = float(run.schedule(step - 1))
        record["steps_per_sec"] = progress.report(
            step, f" | train_loss {last_train['train_loss']:.4f}")
        if step % config.eval_every_steps == 0 or at_end:
            last_eval = evaluate(run.eval_step, device_state, run.eval_batches, parallel)
            record.update(last_eval)
            logging.info("step %d: %s", step,
                         ", ".join(f"{k} {v:.4f}" for k, v in last_eval.items()))
        run.writer.write(step, record)
        stopping = at_end or step == stop_step or stop_flag.raised
        if step % config.checkpoint_every_steps == 0 or stopping:
            _save_checkpoint(run, device_state, step)
        if stop_flag.raised:
            break
    return device_state, step, last_train, last_eval


def _save_checkpoint(run: _Run, device_state, step: int) -> None:
    """Saves a host copy of the state, refusing to save non-finite parameters."""
    host_state = jax.device_get(run.parallel.unreplicate(device_state))
    if not _all_finite(host_state.params):
        raise UserError(f"parameters became NaN/Inf by step {step}; "
                        f"{_kept_checkpoint_note(run)}")
    run.checkpointer.save(step, host_state)


def _kept_checkpoint_note(run: _Run) -> str:
    """What a stopped run leaves behind to resume from (for NaN/Inf messages)."""
    latest = run.checkpointer.latest_step()
    if latest is None:
        return "no checkpoint was saved yet (nothing to resume from; lower the learning rate)"
    return (f"the newest checkpoint (step {latest}) is finite and kept in "
            f"{run.checkpointer.directory}")


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
    # The stop flag covers setup and the first compile too: a signal there stops the run at
    # its first log step, with a checkpoint, instead of a traceback.
    with _StopFlag() as stop_flag:
        run, device_state = _setup(config, workdir, dataset, model, objective, augment_fn)
        logging.info("%s on %s: %d params, %d device(s) (%s), steps %d -> %d",
                     type(run.model).__name__, run.dataset.name, run.num_params,
                     run.parallel.num_devices, run.parallel.mode, run.start_step,
                     config.num_steps)
        try:
            device_state, step, last_train, last_eval = _train_loop(run, device_state,
                                                                    stop_flag)
        finally:
            # Pending asynchronous saves complete even when a step raised (e.g. NaN).
            run.checkpointer.close()
            run.writer.close()
    final_state = jax.device_get(run.parallel.unreplicate(device_state))
    if step < config.num_steps:
        logging.info("stopped at step %d of %d; re-run the same command to resume", step,
                     config.num_steps)
        return TrainResult(summary={}, state=final_state, finished=False)
    summary_path = os.path.join(workdir, "summary.json")
    if run.start_step >= config.num_steps:
        if os.path.exists(summary_path):
            logging.info("run already finished at step %d", run.start_step)
            return TrainResult(summary=writers.read_json(summary_path), state=final_state,
                               finished=True)
        # A crash after the last checkpoint left no summary: recompute it without training.
        last_train = {k: v for k, v in writers.read_jsonl(run.writer.path)[-1].items()
                      if k.startswith("train_") or k == "grad_norm"}
        last_eval = evaluate(run.eval_step, device_state, run.eval_batches, run.parallel)
    summary = {
        **last_eval, **last_train, "step": step, "seed": config.seed, "model": config.model,
        "dataset": run.dataset.name, "num_params": run.num_params,
        "wall_time_s": time.perf_counter() - wall_start,
    }
    summary.update((extra_summary(summary) if callable(extra_summary) else extra_summary) or {})
    writers.write_json(summary_path, summary)
    return TrainResult(summary=summary, state=final_state, finished=True)


def _reduce_interval(pending: list[dict], first_step: int, parallel: DataParallel,
                     run: _Run) -> dict:
    """Means of the per-step metrics of one log interval; stops on a NaN/Inf loss."""
    host = jax.device_get([parallel.unreplicate(m) for m in pending])
    for offset, metrics in enumerate(host):
        bad = [k for k in ("loss", "grad_norm") if not math.isfinite(float(metrics[k]))]
        if bad:
            raise UserError(f"{bad[0]} is {float(metrics[bad[0]])} at step {first_step + offset};"
                            f" stopping ({_kept_checkpoint_note(run)})")
    names = host[0].keys()
    means = {k: float(np.mean([float(m[k]) for m in host])) for k in names}
    return {("grad_norm" if k == "grad_norm" else f"train_{k}"): v for k, v in means.items()}
