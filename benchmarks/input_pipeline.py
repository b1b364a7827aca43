"""Input pipeline throughput: in-memory numpy vs streaming from ArrayRecord (Grain workers).

``python -m benchmarks.input_pipeline [--quick]`` prints one row per (dataset, pipeline) in
training examples per second, reading the trainer's batch schedule (``batch_indices``) on the
host only (no device work):

* ``memory``: ``Split.take`` on the arrays ``load_dataset`` holds (the default path);
* ``stream take``: ``StreamingSplit.take``, the same indices read from the ArrayRecord files in
  the main thread (what the trainer does when handed a streaming dataset);
* ``grain k workers``: ``BatchStream`` with ``k`` spawned Grain worker processes reading and
  decoding ahead (k = 0: the Grain pipeline in the main thread). The worker start-up (spawn and
  imports) is reported separately and not counted in the rate.

``measure(quick)`` returns the rows (``benchmarks.run`` imports it). Datasets are the embedded
ones (generated into the TFDS data_dir on first use), so no network is needed.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import time

DATASETS = ("mnist1d", "digits")
BATCH_SIZE = 128
SEED = 0


def _rate(batches, batch_size: int, seconds: float) -> float:
    return batches * batch_size / seconds


def _row(dataset: str, pipeline: str, examples_per_s: float, steps: int, **extra) -> dict:
    return {"benchmark": "input_pipeline", "dataset": dataset, "pipeline": pipeline,
            "batch_size": BATCH_SIZE, "steps": steps,
            "examples_per_s": round(examples_per_s, 1), **extra}


def _time_take(split, indices: list) -> float:
    start = time.perf_counter()
    for index in indices:
        split.take(index)
    return time.perf_counter() - start


def _time_stream(split, steps: int, num_workers: int) -> tuple[float, float]:
    """(seconds to the first batch, seconds for the remaining ``steps - 1`` batches)."""
    from dl_jax.data import streaming

    start = time.perf_counter()
    with streaming.BatchStream(split, seed=SEED, batch_size=BATCH_SIZE, stop_step=steps,
                               num_workers=num_workers, segment_steps=steps) as stream:
        next(stream)
        first = time.perf_counter()
        for _ in stream:
            pass
    return first - start, time.perf_counter() - first


def measure(quick: bool = False) -> list[dict]:
    """Examples/s of every pipeline on every embedded dataset (host only)."""
    from dl_jax import data as data_lib
    from dl_jax.data import streaming

    steps = 40 if quick else 200
    workers = (0, 2) if quick else (0, 1, 2)
    rows = []
    for name in DATASETS:
        memory = data_lib.load_dataset(name)
        streamed = streaming.load_streaming_dataset(name)
        n = len(memory.train)
        # The schedule is computed (and its permutations cached) outside the timed loops.
        indices = [data_lib.batch_indices(SEED, s, n, BATCH_SIZE) for s in range(steps)]
        for pipeline, split in (("memory", memory.train), ("stream take", streamed.train)):
            rate = _rate(steps, BATCH_SIZE, _time_take(split, indices))
            rows.append(_row(name, pipeline, rate, steps))
        for k in workers:
            startup, seconds = _time_stream(streamed.train, steps, k)
            rows.append(_row(name, f"grain {k} workers", _rate(steps - 1, BATCH_SIZE, seconds),
                             steps, startup_s=round(startup, 2)))
    return rows


def _markdown(rows: list[dict]) -> str:
    lines = ["| dataset | pipeline | examples/s | first batch (s) |", "|---|---|---|---|"]
    for r in rows:
        lines.append(f"| {r['dataset']} | {r['pipeline']} | {r['examples_per_s']:,.0f} | "
                     f"{r.get('startup_s', '')} |")
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> list[dict]:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="fewer steps and worker counts")
    parser.add_argument("--json", help="also write the rows to this JSON file")
    args = parser.parse_args(argv)
    print(f"machine: {platform.processor() or platform.machine()}, {os.cpu_count()} CPUs, "
          f"load {os.getloadavg()[0]:.1f}, batch {BATCH_SIZE}")
    rows = measure(args.quick)
    print(_markdown(rows))
    if args.json:
        with open(args.json, "w") as f:
            json.dump(rows, f, indent=1)
    return rows


if __name__ == "__main__":
    main()
