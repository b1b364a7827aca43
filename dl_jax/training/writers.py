"""Run outputs: ``metrics.jsonl``, ``summary.json``, ``config.json``, TensorBoard events, progress.

Only process 0 writes. ``metrics.jsonl`` has one JSON object per logged step; when a run resumes,
lines after the restored step are dropped first, so an interrupted-and-resumed run ends with the
same file as an uninterrupted one. TensorBoard events are written with tensorboardX (no TensorFlow);
if it is not installed (e.g. a bare GPU image) events are skipped with a warning.
"""

from __future__ import annotations

import json
import math
import os
import sys
import time

import jax
from absl import logging

from dl_jax.errors import UserError

# Config keys that may change between the invocations of one workdir without changing results.
RESUME_FREE_KEYS = frozenset({"stop_after_steps", "log_every_steps", "data_dir"})


def _is_writer() -> bool:
    return jax.process_index() == 0


def _to_builtin(value):
    if hasattr(value, "item"):
        value = value.item()
    if isinstance(value, float) and not math.isfinite(value):
        return str(value)  # JSON has no NaN/Inf; keep them visible as strings.
    return value


def write_json(path: str, obj: dict) -> None:
    """Atomically writes ``obj`` as pretty JSON (a crash never leaves half a file)."""
    if not _is_writer():
        return
    tmp = path + ".tmp"
    with open(tmp, "w") as f:
        json.dump({k: _to_builtin(v) for k, v in obj.items()}, f, indent=2, sort_keys=True)
        f.write("\n")
    os.replace(tmp, path)


def write_jsonl(path: str, records) -> None:
    """Atomically replaces ``path`` with one JSON object per record."""
    if not _is_writer():
        return
    with open(path + ".tmp", "w") as f:
        f.writelines(json.dumps(r, sort_keys=True) + "\n" for r in records)
    os.replace(path + ".tmp", path)


def _without(config_dict: dict, dotted_keys) -> dict:
    """A copy of a JSON config without the given (possibly nested, dotted) keys."""
    result = json.loads(json.dumps(config_dict))
    for dotted in dotted_keys:
        *parents, leaf = dotted.split(".")
        node = result
        for parent in parents:
            node = node.get(parent, {}) if isinstance(node, dict) else {}
        if isinstance(node, dict):
            node.pop(leaf, None)
    return result


def claim_workdir(workdir: str, config, resume_free=RESUME_FREE_KEYS, added_defaults=None) -> None:
    """Writes WORKDIR/config.json, refusing a workdir that holds a run of another config.

    Args:
      workdir: the run directory (created).
      config: an ``ml_collections.ConfigDict``.
      resume_free: keys allowed to differ from the stored config; ``"a.b"`` names field ``b``
        of the nested config ``a``.
      added_defaults: a config of default values (e.g. the trainer's ``default_config()``): a
        top-level key that a stored config lacks — a field added to dl_jax after the run began
        — is accepted when the new value is its default, so older runs still resume.

    Raises:
      UserError: the stored config differs in a key outside ``resume_free`` (nothing is
        written, so the earlier run's outputs stay as they are).
    """
    prepare_workdir(workdir)
    path = os.path.join(workdir, "config.json")
    new = json.loads(config.to_json_best_effort())
    if os.path.exists(path):
        old = read_json(path)
        old_kept, new_kept = _without(old, resume_free), _without(new, resume_free)
        defaults = json.loads(added_defaults.to_json_best_effort()) if added_defaults else {}
        changed = sorted(k for k in set(old_kept) | set(new_kept)
                         if old_kept.get(k) != new_kept.get(k)
                         and not (k not in old and k in defaults and new[k] == defaults[k]))
        if changed:
            key = changed[0]
            raise UserError(
                f"{workdir} holds a run with a different config ({key}: {old.get(key)!r} -> "
                f"{new.get(key)!r}); use a fresh --workdir or the original config"
            )
    write_json(path, new)


def read_json(path: str) -> dict:
    """One JSON object from ``path``; a garbled file is a UserError naming it (file untouched)."""
    try:
        with open(path) as f:
            value = json.load(f)
    except (OSError, UnicodeDecodeError, json.JSONDecodeError) as error:
        raise UserError(f"cannot read {path}: {error}; fix or move it aside") from error
    if not isinstance(value, dict):
        raise UserError(f"cannot read {path}: expected a JSON object; fix or move it aside")
    return value


def read_jsonl(path: str) -> list[dict]:
    """All records of a JSON-lines file ([] if absent); a garbled line is a UserError."""
    if not os.path.exists(path):
        return []
    try:
        with open(path) as f:
            lines = list(enumerate(f, 1))
    except (OSError, UnicodeDecodeError) as error:
        raise UserError(f"cannot read {path}: {error}; fix or move it aside") from error
    records = []
    for number, line in lines:
        if not line.strip():
            continue
        try:
            records.append(json.loads(line))
        except json.JSONDecodeError as error:
            raise UserError(f"cannot read {path} (line {number}): {error}; fix or move it "
                            "aside") from error
    if not all(isinstance(r, dict) and "step" in r for r in records):
        raise UserError(f"cannot read {path}: every line must be an object with a 'step'")
    return records


def prepare_workdir(workdir: str) -> None:
    """Creates ``workdir``; a path that is a file or not writable is a one-line UserError."""
    if os.path.exists(workdir) and not os.path.isdir(workdir):
        raise UserError(f"--workdir {workdir} is a file, not a directory")
    try:
        os.makedirs(workdir, exist_ok=True)
    except OSError as error:
        raise UserError(f"cannot create --workdir {workdir}: {error.strerror}") from error
    if not os.access(workdir, os.W_OK | os.X_OK):
        raise UserError(f"--workdir {workdir} is not writable")


def _summary_writer_class():
    """The ``SummaryWriter`` of tensorboardX, imported without PyTorch.

    tensorboardX imports torch at import time when it is installed (3 s of every run's start on
    a machine with torch), only to accept torch tensors; we write Python floats. A ``None`` in
    ``sys.modules`` makes that one ``import torch`` fail fast; torch itself stays importable.
    """
    if "torch" in sys.modules or "tensorboardX" in sys.modules:
        from tensorboardX import SummaryWriter
        return SummaryWriter
    sys.modules["torch"] = None
    try:
        from tensorboardX import SummaryWriter
    finally:
        del sys.modules["torch"]
    return SummaryWriter


class MetricWriter:
    """Appends step records to ``metrics.jsonl`` and TensorBoard scalars under ``workdir``.

    Args:
      workdir: the run directory.
      resume_step: records with ``step`` greater than this are dropped (None = fresh run).
    """

    def __init__(self, workdir: str, resume_step: int | None):
        self.path = os.path.join(workdir, "metrics.jsonl")
        self._tb = None
        if not _is_writer():
            return
        write_jsonl(self.path, [r for r in read_jsonl(self.path)
                                if resume_step is not None and r["step"] <= resume_step])
        try:
            self._tb = _summary_writer_class()(logdir=workdir, flush_secs=30)
        except ImportError:
            logging.warning("tensorboardX is not installed: no TensorBoard events are written")

    def write(self, step: int, metrics: dict) -> None:
        """Writes one record; ``metrics`` values are Python or numpy scalars."""
        if not _is_writer():
            return
        record = {"step": int(step), **{k: _to_builtin(v) for k, v in metrics.items()}}
        with open(self.path, "a") as f:
            f.write(json.dumps(record, sort_keys=True) + "\n")
        if self._tb is not None:
            for name, value in record.items():
                if name != "step" and isinstance(value, int | float):
                    self._tb.add_scalar(name, value, int(step))

    def close(self) -> None:
        """Flushes TensorBoard events."""
        if self._tb is not None:
            self._tb.close()


class Progress:
    """Step, steps/s and ETA for long runs (absl logging, every log step)."""

    def __init__(self, total_steps: int, first_step: int):
        self.total = total_steps
        self._last_step = first_step
        self._last_time = time.perf_counter()

    def report(self, step: int, extra: str = "") -> float:
        """Logs progress since the last report and returns steps/s."""
        now = time.perf_counter()
        rate = (step - self._last_step) / max(now - self._last_time, 1e-9)
        self._last_step, self._last_time = step, now
        remaining = (self.total - step) / rate if rate > 0 else float("inf")
        eta = time.strftime("%H:%M:%S", time.gmtime(remaining)) if math.isfinite(remaining) else "?"
        logging.info(
            "step %d/%d (%.0f%%) | %.1f steps/s | ETA %s%s",
            step, self.total, 100.0 * step / self.total, rate, eta, extra,
        )
        return rate
