"""The report's environment (machine, devices, library versions, git commit) and its Markdown."""

from __future__ import annotations

import importlib.metadata
import os
import platform
import subprocess

import jax

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
PACKAGES = ("jax", "jaxlib", "flax", "optax", "orbax-checkpoint", "numpy", "scikit-learn",
            "tensorflow-datasets", "ml-collections", "sacrebleu")
COLUMNS = ("claim", "metric", "ours (mean ± std over seeds, n)", "published", "source",
           "within tolerance?", "seconds")


def _cpu() -> dict:
    """CPU model, the vector ISA extensions XLA can use, and the core count."""
    model, flags = platform.processor() or platform.machine(), set()
    try:
        with open("/proc/cpuinfo") as f:
            for line in f:
                key, _, value = line.partition(":")
                if key.strip() == "model name" and value.strip():
                    model = value.strip()
                elif key.strip() == "flags":
                    flags = set(value.split())
    except OSError:
        pass
    isa = [name for name in ("avx", "avx2", "fma", "avx512f", "avx512_bf16", "amx_tile")
           if name in flags]
    usable = len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else None
    return {"cpu": model, "isa": isa, "cores": os.cpu_count(), "usable_cores": usable,
            "platform": platform.platform(), "python": platform.python_version()}


def _versions() -> dict:
    versions = {}
    for package in PACKAGES:
        try:
            versions[package] = importlib.metadata.version(package)
        except importlib.metadata.PackageNotFoundError:
            versions[package] = "not installed"
    return versions


def git_state() -> dict:
    """The checkout's ``commit`` and whether it has ``uncommitted_changes`` (tracked files)."""

    def git(*args: str) -> str:
        try:
            return subprocess.run(["git", "-C", ROOT, *args], capture_output=True, text=True,
                                  timeout=20, check=True).stdout.strip()
        except (OSError, subprocess.SubprocessError):
            return ""

    commit = git("rev-parse", "HEAD")
    return {"commit": commit or "unknown",
            "uncommitted_changes": bool(git("status", "--porcelain", "--untracked-files=no"))}


def describe() -> dict:
    """``machine``, ``devices``, ``versions`` and ``git`` of this process."""
    devices = jax.devices()
    return {
        "machine": _cpu(),
        "devices": {"backend": jax.default_backend(), "count": len(devices),
                    "kinds": sorted({d.device_kind for d in devices}),
                    "processes": jax.process_count()},
        "versions": _versions(),
        "git": git_state(),
    }


def _number(value: float) -> str:
    return f"{value:.4g}"


def ours(row: dict) -> str:
    """``mean ± std (n=N)``; the status for a claim that was not measured."""
    if row["status"] != "measured":
        return row["status"]
    spread = f" ± {row['std']:.2g}" if row["std"] is not None else ""
    return f"{_number(row['mean'])}{spread} (n={row['n']})"


def _verdict(row: dict) -> str:
    if row["within_tolerance"] is None:
        return "-"
    return f"{'yes' if row['within_tolerance'] else '**no**'}: {row['tolerance']}"


def table(rows: list[dict]) -> str:
    """The claims table, one line per claim."""
    lines = ["| " + " | ".join(COLUMNS) + " |", "|" + "---|" * len(COLUMNS)]
    for row in rows:
        seconds = "-" if row["seconds"] is None else f"{row['seconds']:.0f}"
        cells = (row["claim"], row["metric"], ours(row), row["published"], row["source"],
                 _verdict(row), seconds)
        lines.append("| " + " | ".join(str(c).replace("|", "\\|") for c in cells) + " |")
    return "\n".join(lines)


def _environment_lines(report: dict) -> list[str]:
    machine, devices, git = report["machine"], report["devices"], report["git"]
    dates = " to ".join(dict.fromkeys(report["dates"])) or "-"
    load = "-" if not report["load_average_1min"] else (
        "{:.1f}-{:.1f}".format(*report["load_average_1min"]))
    return [
        f"* Machine: {machine['cpu']} ({', '.join(machine['isa']) or 'no AVX'}), "
        f"{machine['cores']} cores ({machine['usable_cores']} usable), {machine['platform']}, "
        f"Python {machine['python']}",
        f"* Devices: {devices['count']} x {', '.join(devices['kinds'])} "
        f"(backend {devices['backend']}, {devices['processes']} process(es))",
        f"* Runs finished (UTC): {dates}; 1-minute load average at their ends: {load}; "
        f"total {report['seconds']:.0f} s of study time",
        "* Versions: " + ", ".join(f"{k} {v}" for k, v in report["versions"].items()),
        f"* Git commit now: {git['commit']}"
        + (" (with uncommitted changes)" if git["uncommitted_changes"] else "")
        + "; runs made at: " + (", ".join(report.get("run_commits", [])) or "-"),
    ]


def markdown(report: dict) -> str:
    """REPORT.md: the table, the tolerances' meaning, the figures and the environment."""
    measured = [r for r in report["rows"] if r["status"] == "measured"]
    within = sum(bool(r["within_tolerance"]) for r in measured)
    lines = [
        f"# Reproduction report: suite `{report['suite']}`, seeds 0-{report['seeds'] - 1}",
        "",
        f"{within} of {len(measured)} measured claims within tolerance. `ours` is the mean over "
        "seeds ± the sample standard deviation (n seeds; a claim may cap n); the verdict compares "
        "the seed mean with the stated tolerance. `seconds`: the study time summed over seeds, "
        "as measured when each run finished (a read-back run keeps its time).",
        "",
        table(report["rows"]),
        "",
    ]
    if report["figures"]:
        lines += ["## Figures (seed 0)", ""]
        for figure in report["figures"]:
            lines += [f"**{figure['caption']}** (`{figure['path']}`)", "",
                      f"![{figure['caption']}]({figure['path']})", ""]
    lines += ["## Environment", "", *_environment_lines(report), ""]
    return "\n".join(lines)
