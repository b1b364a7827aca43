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
import time

import jax
from absl import logging


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


def read_jsonl(path: str) -> list[dict]:
    """All records of a JSON-lines file ([] if absent)."""
    if not os.path.exists(path):
        return []
    with open(path) as f:
        return [json.loads(line) for line in f if line.strip()]


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
        kept = [r for r in read_jsonl(self.path) if resume_step is not None
                and r["step"] <= resume_step]
        with open(self.path + ".tmp", "w") as f:
            f.writelines(json.dumps(r, sort_keys=True) + "\n" for r in kept)
        os.replace(self.path + ".tmp", self.path)
        try:
            from tensorboardX import SummaryWriter

            self._tb = SummaryWriter(logdir=workdir, flush_secs=30)
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
