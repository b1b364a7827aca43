"""The report of ``benchmarks.run``: machine and versions, rows from module results, JSON/Markdown.

Imports only the standard library at module level (jax is imported when the machine is read).
"""

from __future__ import annotations

import datetime
import importlib.metadata
import json
import os
import platform
import subprocess

from benchmarks.common import comparison_row

ISA_FLAGS = ("avx", "avx2", "fma", "avx512f", "avx512bw", "avx512_vnni", "avx512_bf16",
             "amx_tile", "amx_bf16")
PACKAGES = ("jax", "jaxlib", "flax", "optax", "numpy", "torch", "scikit-learn", "grain",
            "tensorflow-datasets")
ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))


def cpu_info() -> dict:
    """CPU model, the vector ISA flags that matter to XLA/oneDNN, and the core count."""
    model, flags = platform.processor() or platform.machine(), set()
    try:
        with open("/proc/cpuinfo") as f:
            for line in f:
                key, _, value = line.partition(":")
                if key.strip() == "model name":
                    model = value.strip()
                elif key.strip() == "flags":
                    flags = set(value.split())
    except OSError:
        pass
    return {"cpu": model, "isa": [flag for flag in ISA_FLAGS if flag in flags],
            "cores": os.cpu_count(), "platform": platform.platform()}


def versions() -> dict:
    """Installed versions of the libraries and peers (None: not installed), and Python's."""
    found = {"python": platform.python_version()}
    for name in PACKAGES:
        try:
            found[name] = importlib.metadata.version(name)
        except importlib.metadata.PackageNotFoundError:
            found[name] = None
    return found


def git_commit() -> str | None:
    """The checkout's commit, with ``+dirty`` when tracked files changed; None outside git."""
    try:
        commit = subprocess.run(["git", "rev-parse", "HEAD"], cwd=ROOT, capture_output=True,
                                text=True, check=True).stdout.strip()
        dirty = subprocess.run(["git", "status", "--porcelain", "--untracked-files=no"],
                               cwd=ROOT, capture_output=True, text=True).stdout.strip()
    except (OSError, subprocess.CalledProcessError):
        return None
    return commit + ("+dirty" if dirty else "")


def environment(load_before: float) -> dict:
    """Date, machine (CPU, devices, load before and after the run), versions and commit."""
    import jax

    devices = jax.devices()
    machine = {**cpu_info(), "jax_backend": devices[0].platform,
               "devices": f"{len(devices)} x {devices[0].device_kind}",
               "load_average_before": round(load_before, 2),
               "load_average_after": round(os.getloadavg()[0], 2)}
    return {"date": datetime.datetime.now(datetime.UTC).strftime("%Y-%m-%d %H:%M UTC"),
            "machine": machine, "versions": versions(), "git_commit": git_commit()}


def _value(entry) -> float:
    """A number from a module's result entry: the number itself or its median/first number."""
    if isinstance(entry, int | float):
        return float(entry)
    numbers = {k: v for k, v in entry.items() if isinstance(v, int | float)}
    median = [k for k in numbers if "median" in k]
    return float(numbers[median[0]] if median else next(iter(numbers.values())))


def rows_from_result(benchmark: str, result, unit: str, setting: str = "") -> list:
    """Rows from ``{variant: number or {stat: number}}`` (ours: the first ``dl_jax`` variant).

    A list of ready rows (dicts with ``benchmark``) passes through unchanged. Every other
    variant becomes a peer row; with none, ours stands alone (no peer to compare).
    """
    if isinstance(result, list):
        return result if all("ours" in row for row in result) else pipeline_rows(result)
    names = list(result)
    ours = next((n for n in names if n.lower().startswith(("dl_jax", "ours"))), names[0])
    higher = not unit.startswith(("s", "ms"))
    peers = [n for n in names if n != ours]
    return [comparison_row(benchmark, setting, unit, ours, _value(result[ours]), peer,
                           None if peer is None else _value(result[peer]),
                           higher_is_better=higher)
            for peer in (peers or [None])]


def pipeline_rows(result: list) -> list:
    """Rows from ``benchmarks.input_pipeline.measure``: each pipeline vs in-memory numpy.

    Its rows carry ``dataset``, ``pipeline`` and ``examples_per_s``; the ``memory`` pipeline
    (numpy gathers from arrays in RAM) is the reference of the streaming ones per dataset.
    """
    memory = {row["dataset"]: row for row in result if row["pipeline"] == "memory"}
    rows = []
    for row in result:
        if row["pipeline"] == "memory":
            continue
        reference = memory.get(row["dataset"])
        startup = f"first batch {row['startup_s']} s" if "startup_s" in row else ""
        rows.append(comparison_row(
            "Input pipeline", f"{row['dataset']}, batch {row.get('batch_size', '?')}, "
            f"{row.get('steps', '?')} batches", "examples/s", f"dl_jax {row['pipeline']}",
            row["examples_per_s"], "in-memory numpy" if reference else None,
            reference["examples_per_s"] if reference else None, higher_is_better=True,
            note=startup))
    return rows


def resnet_rows(results: dict) -> list:
    """ResNet-18 images/s rows (``benchmarks.resnet18_gpu.main``): dl_jax vs torch per dtype."""
    rows = []
    for precision in ("bf16", "fp32"):
        ours, peer = f"dl_jax {precision}", f"torch eager {precision}"
        if ours not in results:
            continue
        note = "" if peer in results else "torch/torchvision or CUDA missing: peer skipped"
        rows.append(comparison_row(
            "ResNet-18 train step", f"{precision}, median round", "images/s", ours,
            results[ours]["median"], peer if peer in results else None,
            results[peer]["median"] if peer in results else None, higher_is_better=True,
            target=">= 1.3x torchvision" if precision == "bf16" else ">= 1.0x torchvision",
            note=note))
    return rows


def lstm_gpu_rows(results: dict) -> list:
    """LSTM ms/step rows (``benchmarks.lstm_gpu.main``): dl_jax's default LSTM vs cuDNN."""
    rows = []
    for shape, times in results.items():
        ours, peer = "dl_jax LSTM (default)", "torch nn.LSTM (cuDNN)"
        rows.append(comparison_row(
            "LSTM train step (GPU)", "B{} T{} D{} H{}, best round".format(*shape), "ms/step",
            ours, times[ours], peer if peer in times else None, times.get(peer),
            higher_is_better=False, target="<= 0.5x cuDNN time (speed-up >= 2)",
            note="" if peer in times else "torch or CUDA missing: peer skipped"))
    return rows


def _number(value) -> str:
    if value is None:
        return "-"
    return f"{value:,.0f}" if abs(value) >= 1000 else f"{value:.4g}"


def markdown(result: dict) -> str:
    """The report as Markdown: header (date, machine, versions) and the one table."""
    machine, found = result["machine"], result["versions"]
    lines = [f"# dl_jax benchmarks ({result['mode']}), {result['date']}", "",
             f"Machine: {machine['cpu']}, {machine['cores']} cores, ISA "
             f"{' '.join(machine['isa']) or 'n/a'}; JAX devices {machine['devices']}; load "
             f"average {machine['load_average_before']} before, "
             f"{machine['load_average_after']} after.",
             "Versions: " + ", ".join(f"{k} {v}" for k, v in found.items() if v) +
             (f"; commit {result['git_commit']}" if result.get("git_commit") else "") + ".", "",
             "| benchmark | setting | ours | peer | unit | ours | peer | speed-up | target |"
             " note |", "|---|---|---|---|---|---:|---:|---:|---|---|"]
    for row in result["rows"]:
        speedup = f"{row['speedup']:.3g}x" if row["speedup"] is not None else "-"
        lines.append(f"| {row['benchmark']} | {row['setting']} | {row['ours']} | "
                     f"{row['peer'] or 'skipped'} | {row['unit']} | {_number(row['ours_value'])}"
                     f" | {_number(row['peer_value'])} | {speedup} | {row['target']} |"
                     f" {row['note']} |")
    lines += ["", "speed-up > 1: ours is faster (peer time / our time, or our rate / peer rate)."]
    lines += [f"- {note}" for note in dict.fromkeys(result["notes"])]
    if result.get("seconds"):
        lines.append("Seconds per benchmark: " + ", ".join(
            f"{k} {v}" for k, v in result["seconds"].items()) + ".")
    return "\n".join(lines) + "\n"


def write(result: dict, out_dir: str) -> list[str]:
    """Writes ``benchmarks.json`` and ``benchmarks.md`` under ``out_dir``; returns the paths."""
    os.makedirs(out_dir, exist_ok=True)
    paths = [os.path.join(out_dir, "benchmarks.json"), os.path.join(out_dir, "benchmarks.md")]
    with open(paths[0], "w") as f:
        json.dump(result, f, indent=2, sort_keys=True)
        f.write("\n")
    with open(paths[1], "w") as f:
        f.write(markdown(result))
    return paths
