"""Runs every claim's study over seeds, in-process and resumable, and writes the report.

Each (run, seed) is ``experiments.<study>.study.run(config, WORKDIR/<run>/seed<s>)`` with the
study's own config (``get_config(variant)``, the suite's overrides, the seed). Its result is kept
in ``WORKDIR/<run>/seed<s>.json`` (the config, the summary, the seconds and the load average of
that invocation): a finished sub-run is read back from there and never re-run, an interrupted
one (no record yet) is resumed by the study itself, and a record of another config is refused.
The report is a pure function of the records and the environment, so a re-run on the same
machine writes the same REPORT.md and report.json.

``config.workers`` processes run the (run, seed) pairs side by side: one small JAX program leaves
part of 2 cores idle, so two workers shorten the wall time (quick suite on 2 cores: 5 min 3 s ->
4 min 28 s; each worker still uses ~2 threads for the larger ops). Every pair is a pure
function of its config, so the records do not depend on the number of workers (tested). A stop
(SIGINT/SIGTERM) reaches every worker's trainer, which checkpoints; pairs not yet started are
dropped, and the same command resumes.
"""

from __future__ import annotations

import concurrent.futures
import datetime
import importlib
import json
import multiprocessing
import os
import signal
import time

import jax
import numpy as np
from absl import logging

from dl_jax.errors import UserError
from dl_jax.training import writers
from experiments.common import cli
from experiments.reproduce import claims as claims_lib
from experiments.reproduce import report as report_lib
from experiments.reproduce.config import DEFAULT_SEEDS, SUITES


def selected_runs(config) -> tuple[str, ...]:
    """The run names of ``config.suite``, restricted to ``config.only`` when set."""
    if config.suite not in SUITES:
        raise UserError(f"unknown suite {config.suite!r}: choose one of {', '.join(SUITES)}")
    runs = claims_lib.SUITES[config.suite]
    only = [name.strip() for name in str(config.only).split(",") if name.strip()]
    unknown = sorted(set(only) - set(runs))
    if unknown:
        raise UserError(f"config.only names {unknown[0]!r}, not a run of suite "
                        f"{config.suite!r}: choose from {', '.join(runs)}")
    return tuple(r for r in runs if r in only) if only else runs


def num_seeds(config, run: claims_lib.Run) -> int:
    """``config.seeds`` (0: the suite's default), capped by the run's ``max_seeds``."""
    seeds = int(config.seeds) or DEFAULT_SEEDS[config.suite]
    if seeds < 1:
        raise UserError(f"config.seeds must be a positive number of seeds, got {config.seeds}")
    return min(seeds, run.max_seeds) if run.max_seeds else seeds


def _set(study_config, dotted: str, value) -> None:
    *parents, leaf = dotted.split(".")
    node = study_config
    for parent in parents:
        node = node[parent]
    if leaf not in node:
        raise UserError(f"override {dotted!r}: the study's config has no field {leaf!r}")
    node[leaf] = value


def study_config(config, name: str, seed: int):
    """The study's config for one (run, seed): variant, the suite's overrides, the seed."""
    run = claims_lib.RUNS[name]
    module = importlib.import_module(f"experiments.{run.study}.config")
    study = module.get_config(run.variant) if run.variant else module.get_config()
    overrides, _ = claims_lib.overrides_for(config.suite, name)
    with study.unlocked():
        for dotted, value in overrides:
            _set(study, dotted, value)
        _set(study, run.seed_key, (seed,) if run.seed_key == "seeds" else seed)
        if config.data_dir and "data_dir" in study:
            study.data_dir = config.data_dir
    return study


def availability(study: str) -> str:
    """'' when ``experiments.<study>.study`` imports and has ``run``, else why not."""
    try:
        module = importlib.import_module(f"experiments.{study}.study")
    except Exception as error:  # noqa: BLE001 - a study still being built must not stop the rest
        return f"not yet available ({type(error).__name__})"
    return "" if callable(getattr(module, "run", None)) else "not yet available (no run)"


def _config_json(study) -> dict:
    return json.loads(study.to_json_best_effort())


def run_seed(config, workdir: str, name: str, seed: int) -> dict | None:
    """The record of one (run, seed): read back if finished, else run (or resume) the study.

    Returns:
      ``{'config', 'summary', 'seconds', 'load', 'git_commit', 'date'}`` as stored on disk, or
      None when the study stopped before its end (re-run to resume).

    Raises:
      UserError: the stored record belongs to another config of this run.
    """
    study = study_config(config, name, seed)
    record_path = os.path.join(workdir, name, f"seed{seed}.json")
    if os.path.exists(record_path):
        record = writers.read_json(record_path)
        stored, wanted = record.get("config") or {}, _config_json(study)
        changed = sorted(k for k in set(stored) | set(wanted) if stored.get(k) != wanted.get(k))
        if changed:
            key = changed[0]
            raise UserError(f"{record_path} holds a run of another config of {name!r} ({key}: "
                            f"{stored.get(key)!r} -> {wanted.get(key)!r}); use a fresh "
                            "--workdir (or move that run aside)")
        return record
    module = importlib.import_module(f"experiments.{claims_lib.RUNS[name].study}.study")
    logging.info("reproduce: %s seed %d -> %s", name, seed, os.path.join(workdir, name))
    start = time.perf_counter()
    summary = module.run(study, os.path.join(workdir, name, f"seed{seed}"))
    seconds = time.perf_counter() - start
    if not summary:
        return None
    record = {"config": _config_json(study), "summary": summary, "seconds": seconds,
              "load": os.getloadavg()[0], "git_commit": report_lib.git_state()["commit"],
              "date": datetime.datetime.now(datetime.UTC).strftime("%Y-%m-%d")}
    # Stored and read back, so a first run and a re-run report from the same JSON values.
    writers.write_json(record_path, json.loads(json.dumps(record, default=_plain)))
    return writers.read_json(record_path)


def _plain(value):
    return value.item() if hasattr(value, "item") else str(value)


def _statistics(values: list[float]) -> dict:
    array = np.asarray(values, np.float64)
    return {"mean": float(array.mean()), "n": len(values), "values": [float(v) for v in values],
            "std": float(array.std(ddof=1)) if len(values) > 1 else None}


def claim_row(claim: claims_lib.Claim, records: list[dict] | None, note: str,
              unavailable: str) -> dict:
    """One report row: the seed statistics of ``claim`` and its verdict."""
    title = f"{claim.title} (quick: {note})" if note else claim.title
    row = {"claim": title, "run": claim.run, "metric": claim.metric,
           "published": claim.published, "source": claim.source,
           "tolerance": claim.tolerance or "-",
           "low": claim.low if np.isfinite(claim.low) else None,
           "high": claim.high if np.isfinite(claim.high) else None}
    if records is None:
        return {**row, "status": unavailable, "mean": None, "std": None, "n": 0, "values": [],
                "within_tolerance": None, "seconds": None}
    stats = _statistics([claim.value(r["summary"]) for r in records])
    within = bool(claim.low <= stats["mean"] <= claim.high)
    return {**row, "status": "measured", **stats, "within_tolerance": within,
            "seconds": float(sum(r["seconds"] for r in records))}


def _figures(workdir: str, runs: tuple[str, ...]) -> list[dict]:
    figures = []
    for name in runs:
        for caption, filename in claims_lib.RUNS[name].figures:
            path = os.path.join(name, "seed0", filename)
            if os.path.exists(os.path.join(workdir, path)):
                figures.append({"caption": caption, "path": path})
    return figures


def _init_worker() -> None:
    """A worker process: absl logs, stops only through the trainer's checkpointing handler."""
    logging.use_absl_handler()
    logging.set_verbosity(logging.INFO)
    cli.quiet_library_logs()
    for sig in (signal.SIGINT, signal.SIGTERM):  # the trainer handles them while it trains
        signal.signal(sig, signal.SIG_IGN)
    os.environ.setdefault("XLA_PYTHON_CLIENT_PREALLOCATE", "false")  # workers share a GPU


def _run_in_workers(config, workdir: str, tasks: list[tuple[str, int]]) -> list[dict | None]:
    """``run_seed`` of every task in ``config.workers`` processes; None for a stopped task."""
    context = multiprocessing.get_context("spawn")
    with concurrent.futures.ProcessPoolExecutor(int(config.workers), mp_context=context,
                                                initializer=_init_worker) as pool:
        futures = [pool.submit(run_seed, config, workdir, name, seed) for name, seed in tasks]

        def stop(signum, frame):
            del frame
            logging.warning("signal %d: workers checkpoint and stop; re-run to resume", signum)
            for future in futures:
                future.cancel()
            for child in multiprocessing.active_children():
                os.kill(child.pid, signum)

        previous = {sig: signal.signal(sig, stop) for sig in (signal.SIGINT, signal.SIGTERM)}
        try:  # a failing pair (e.g. a record of another config) ends the wait early
            concurrent.futures.wait(futures, return_when=concurrent.futures.FIRST_EXCEPTION)
            for future in futures:
                future.cancel()
        finally:
            for sig, handler in previous.items():
                signal.signal(sig, handler)
    return [None if future.cancelled() else future.result() for future in futures]


def _run_all(config, workdir: str, runs: tuple[str, ...]) -> dict[str, list[dict] | None] | None:
    """Records per run (None for a study not available); None if a study stopped early."""
    available = [name for name in runs if not availability(claims_lib.RUNS[name].study)]
    tasks = [(name, seed) for name in available
             for seed in range(num_seeds(config, claims_lib.RUNS[name]))]
    if int(config.workers) < 1:
        raise UserError(f"config.workers must be at least 1, got {config.workers}")
    # Several JAX processes of one job (jax.distributed) run the pairs in step, one at a time.
    if int(config.workers) == 1 or len(tasks) < 2 or jax.process_count() > 1:
        records = []
        for name, seed in tasks:
            records.append(run_seed(config, workdir, name, seed))
            if records[-1] is None:
                break
    else:
        records = _run_in_workers(config, workdir, tasks)
    if len(records) < len(tasks) or None in records:
        logging.info("reproduce: stopped early; re-run the same command to resume")
        return None
    results = {name: None for name in runs}
    for (name, _), record in zip(tasks, records, strict=True):
        results[name] = [*(results[name] or []), record]
    return results


def build_report(config, workdir: str, runs: tuple[str, ...], results: dict) -> dict:
    """report.json's content: the rows, the figures, the runs' dates and load, the machine."""
    rows = []
    for claim in claims_lib.claims_of(runs):
        _, note = claims_lib.overrides_for(config.suite, claim.run)
        unavailable = availability(claims_lib.RUNS[claim.run].study)
        rows.append(claim_row(claim, results[claim.run], note, unavailable))
    records = [r for name in runs for r in (results[name] or [])]
    dates = sorted({r["date"] for r in records})
    loads = [r["load"] for r in records]
    return {
        "suite": config.suite,
        "seeds": int(config.seeds) or DEFAULT_SEEDS[config.suite],
        "rows": rows,
        "figures": _figures(workdir, runs),
        "dates": [dates[0], dates[-1]] if dates else [],
        "load_average_1min": [min(loads), max(loads)] if loads else [],
        "seconds": float(sum(r["seconds"] for r in records)),
        "run_commits": sorted({r.get("git_commit", "unknown") for r in records}),
        **report_lib.describe(),
    }


def run(config, workdir: str) -> dict:
    """Runs (or reads back) every claim of ``config.suite``; writes REPORT.md and report.json.

    Returns:
      The summary: per claim the seed mean, std, n and verdict, and where the report is; ``{}``
      if a study stopped before its end (re-run the same command to resume).

    Raises:
      UserError: an unknown suite or run name, a bad seed count, or a workdir whose records
        belong to another config.
    """
    runs = selected_runs(config)
    writers.prepare_workdir(workdir)
    results = _run_all(config, workdir, runs)
    if results is None:
        return {}
    report = build_report(config, workdir, runs, results)
    writers.write_json(os.path.join(workdir, "report.json"), report)
    if jax.process_index() == 0:
        with open(os.path.join(workdir, "REPORT.md"), "w") as f:
            f.write(report_lib.markdown(report))
    measured = [r for r in report["rows"] if r["status"] == "measured"]
    return {
        "report": os.path.join(workdir, "REPORT.md"),
        "suite": report["suite"],
        "claims": {r["claim"]: {k: r[k] for k in ("mean", "std", "n", "within_tolerance")}
                   for r in measured},
        "within_tolerance": sum(bool(r["within_tolerance"]) for r in measured),
        "measured": len(measured),
        "not_available": [r["claim"] for r in report["rows"] if r["status"] != "measured"],
        "seconds": report["seconds"],
    }
