"""One table of dl_jax vs its peers, measured side by side in one run, as JSON and Markdown.

    python -m benchmarks.run --out=DIR [--quick | --tiny] [--only=lenet5,lstm,...]
    python -m benchmarks.run --gpu --out=DIR        # the GPU targets (benchmarks/gpu.sh)

Rows (``--only`` picks some): ``lenet5`` LeNet-5 step vs PyTorch; ``lstm`` LSTM step vs
``torch.nn.LSTM`` and plain Flax; ``rbm`` RBM CD-1 epoch vs scikit-learn; ``grad_norms``
``state_grad_norms`` vs one gradient and the LSTM's compile time at T=10 vs T=1000;
``pipeline`` input pipeline examples/s (``benchmarks.input_pipeline.measure``); ``nmt``
translation tokens/s vs PyTorch (``benchmarks.nmt_cpu``). Each comparison reuses its module's
``measure``; a peer that is not installed is skipped with a note. On 2 shared cores (load ~4)
the full table took ~15 minutes and ``--quick`` 2; ``--tiny`` (tests) runs every path at toy
sizes and measures nothing meaningful. ``DIR/benchmarks.json`` and ``DIR/benchmarks.md`` hold
the rows with the machine (CPU model, AVX2/AVX-512, cores, load), the date and the versions.
"""

from __future__ import annotations

import os

# One XLA CPU device per core unless set (the modules' data-parallel rows; ours use device 0).
os.environ.setdefault("JAX_NUM_CPU_DEVICES", str(os.cpu_count() or 1))

import argparse  # noqa: E402
import contextlib  # noqa: E402
import importlib  # noqa: E402
import io  # noqa: E402
import time  # noqa: E402

from benchmarks import report  # noqa: E402

SIZES = {
    "full": dict(lenet5=dict(rounds=20, steps=10), lstm=dict(rounds=40, steps=3),
                 rbm=dict(tiles=20, epochs=5),
                 grad_norms=dict(rounds=7, length=1000, compile_rounds=3),
                 nmt=["--rounds", "10", "--steps", "2"]),
    "quick": dict(lenet5=dict(rounds=5, steps=5, round_warmup=3),
                  lstm=dict(rounds=8, steps=2), rbm=dict(tiles=5, epochs=3),
                  grad_norms=dict(rounds=3, length=1000, compile_rounds=1),
                  nmt=["--rounds", "3", "--steps", "1"]),
    "tiny": dict(lenet5=dict(batch=8, rounds=1, steps=1, warmup=1, pause=0.0, round_warmup=0),
                 lstm=dict(rounds=1, steps=1, length=5), rbm=dict(tiles=1, epochs=1),
                 grad_norms=dict(rounds=1, length=5, compile_lengths=(3, 12),
                                 compile_rounds=1),
                 nmt=None),
}
BENCHMARKS = ("lenet5", "lstm", "rbm", "grad_norms", "pipeline", "nmt")


def _module_rows(module: str, size: str, name: str) -> tuple[list, list]:
    """Rows of ``benchmarks.<module>.measure(**SIZES[size][name])``."""
    measure = importlib.import_module(f"benchmarks.{module}").measure
    return measure(**SIZES[size][name]), []


def _pipeline_rows(size: str) -> tuple[list, list]:
    """Rows of ``benchmarks.input_pipeline.measure(quick)`` if that module exists."""
    try:
        module = importlib.import_module("benchmarks.input_pipeline")
    except ModuleNotFoundError:
        return [], ["input pipeline: benchmarks/input_pipeline.py not present; row skipped"]
    if not hasattr(module, "measure"):
        return [], ["input pipeline: benchmarks.input_pipeline has no measure(); row skipped"]
    return report.rows_from_result("Input pipeline", module.measure(size != "full"),
                                   "examples/s"), []


def _nmt_rows(size: str) -> tuple[list, list]:
    """Rows of ``benchmarks.nmt_cpu`` (its ``measure`` if it has one, else its ``main``)."""
    argv = SIZES[size]["nmt"]
    if argv is None:
        return [], ["NMT tokens/s: not run in --tiny mode (compiles the full-size model)"]
    try:
        module = importlib.import_module("benchmarks.nmt_cpu")
    except ModuleNotFoundError:
        return [], ["NMT tokens/s: benchmarks/nmt_cpu.py not present; row skipped"]
    if hasattr(module, "measure"):
        result = module.measure(size != "full")
    else:
        with contextlib.redirect_stdout(io.StringIO()):
            result = module.main(argv)
    return report.rows_from_result(
        "NMT train step", result, "tokens/s",
        setting=f"Seq2Seq attention, B{module.BATCH} S{module.SOURCE} T{module.TARGET}, "
                "median round"), []


def _measure_one(name: str, size: str) -> tuple[list, list]:
    """(rows, notes) of one benchmark."""
    if name == "pipeline":
        return _pipeline_rows(size)
    if name == "nmt":
        return _nmt_rows(size)
    module = {"lenet5": "lenet5_cpu", "lstm": "lstm_cpu", "rbm": "rbm_cd1"}.get(name, name)
    return _module_rows(module, size, name)


def measure_all(size: str, only: tuple[str, ...] = BENCHMARKS) -> dict:
    """Runs the chosen benchmarks; returns the report dict (rows, notes, machine, seconds)."""
    rows, notes, seconds = [], [], {}
    load_before = os.getloadavg()[0]
    for name in only:
        start = time.perf_counter()
        try:
            new_rows, new_notes = _measure_one(name, size)
        except Exception as error:  # noqa: BLE001 - one broken benchmark must not lose the rest
            new_rows, new_notes = [], [f"{name}: failed ({type(error).__name__}: {error})"]
        rows += new_rows
        notes += new_notes + [row["note"] for row in new_rows if "skipped" in row.get("note", "")]
        seconds[name] = round(time.perf_counter() - start, 2)
        print(f"[benchmarks.run] {name}: {len(new_rows)} row(s) in {seconds[name]:.1f} s",
              flush=True)
    return {"mode": size, "rows": rows, "notes": notes, "seconds": seconds,
            **report.environment(load_before)}


def measure_gpu(smoke: bool = False) -> dict:
    """The GPU rows (ResNet-18 vs torchvision, LSTM and NMT vs cuDNN) of the same report."""
    from benchmarks import lstm_gpu, nmt_cpu, resnet18_gpu

    load_before = os.getloadavg()[0]
    argv = ["--smoke"] if smoke else []
    rows = report.resnet_rows(resnet18_gpu.main(argv)) + report.lstm_gpu_rows(lstm_gpu.main(argv))
    rows += report.rows_from_result(
        "NMT train step (GPU)", nmt_cpu.main([*argv, "--device=cuda"]), "tokens/s",
        setting="Seq2Seq attention vs nn.LSTM (cuDNN), " + (
            "smoke batch" if smoke else f"B{nmt_cpu.BATCH} S{nmt_cpu.SOURCE} T{nmt_cpu.TARGET}"))
    notes = [row["note"] for row in rows if "skipped" in row["note"]]
    return {"mode": "gpu-smoke" if smoke else "gpu", "rows": rows, "notes": notes,
            "seconds": {}, **report.environment(load_before)}


def main(argv: list[str] | None = None) -> dict:
    """Parses the flags, measures, writes ``benchmarks.json``/``.md``; returns the report."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--out", default="benchmark_results", help="output directory")
    size = parser.add_mutually_exclusive_group()
    size.add_argument("--quick", action="store_true", help="about 2 minutes on 2 cores")
    size.add_argument("--tiny", action="store_true", help="seconds; smoke test of every path")
    size.add_argument("--gpu", action="store_true", help="ResNet-18 and LSTM vs PyTorch (CUDA)")
    parser.add_argument("--smoke", action="store_true", help="with --gpu: tiny shapes")
    parser.add_argument("--only", default=",".join(BENCHMARKS),
                        help=f"comma-separated subset of {','.join(BENCHMARKS)}")
    args = parser.parse_args(argv)
    only = tuple(name for name in args.only.split(",") if name)
    unknown = sorted(set(only) - set(BENCHMARKS))
    if unknown:
        parser.error(f"unknown benchmark(s) {', '.join(unknown)}: choose from "
                     f"{', '.join(BENCHMARKS)}")
    if args.gpu:
        result = measure_gpu(args.smoke)
    else:
        result = measure_all("tiny" if args.tiny else "quick" if args.quick else "full", only)
    paths = report.write(result, args.out)
    print(report.markdown(result))
    print(f"written: {', '.join(paths)}")
    return result


if __name__ == "__main__":
    main()
