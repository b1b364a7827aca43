"""The GPU benchmarks run end to end in their tiny smoke configuration (on CPU here), as
``benchmarks.gpu.sh`` runs them (``python -m benchmarks.run --gpu``); ``benchmarks.run`` writes
its one table as JSON and Markdown, skipping a missing peer with a note; the CPU benchmarks'
floor helpers run.

The GPU scripts are meant for a short lent GPU session, where a crash would waste the device
time, so the suite runs every code path except the CUDA peers (PyTorch rows are skipped without
CUDA).
"""

import functools
import importlib.abc
import importlib.util
import json
import math
import sys

import pytest

from benchmarks import lstm_gpu, report, resnet18_gpu, run
from dl_jax.models.cnn import ResNet


def test_gpu_report_smoke(tmp_path, monkeypatch):
    # The script's paths with a two-block ResNet: compiling ResNet-18's step twice (bf16, fp32)
    # on CPU took 30 of this test's 40 s, and ResNet-18 itself is tested in test_cnn_models.
    monkeypatch.setattr(resnet18_gpu, "ResNet18", functools.partial(ResNet, stage_sizes=(1, 1)))
    raw = {}
    for module in (resnet18_gpu, lstm_gpu):
        main = module.main
        monkeypatch.setattr(module, "main", lambda argv, m=main, k=module.__name__:
                            raw.setdefault(k, m(argv)))
    result = run.main(["--gpu", "--smoke", f"--out={tmp_path}"])
    resnet, lstm = raw["benchmarks.resnet18_gpu"], raw["benchmarks.lstm_gpu"]
    assert {"dl_jax bf16", "dl_jax fp32"} <= set(resnet)
    for row in resnet.values():
        assert math.isfinite(row["best"]) and row["best"] > 0
    (times,) = lstm.values()
    assert {"dl_jax LSTM (default)", "dl_jax LSTM autodiff", "flax OptimizedLSTMCell"} <= set(times)
    assert all(ms > 0 for ms in times.values())
    # The same JSON as benchmarks.run: one ResNet row per precision, one LSTM row per shape.
    saved = json.loads((tmp_path / "benchmarks.json").read_text())
    assert saved["mode"] == "gpu-smoke" and saved["rows"] == result["rows"]
    assert [r["benchmark"] for r in saved["rows"]] == [
        "ResNet-18 train step", "ResNet-18 train step", "LSTM train step (GPU)",
        "NMT train step (GPU)"]
    nmt = saved["rows"][3]
    assert nmt["ours"] == "dl_jax Seq2Seq" and nmt["ours_value"] > 0
    cuda = importlib.util.find_spec("torch") is not None and __import__("torch").cuda.is_available()
    assert (nmt["peer"] is not None) == cuda  # without CUDA the PyTorch row is skipped
    assert saved["rows"][0]["ours_value"] == resnet["dl_jax bf16"]["median"]
    assert saved["rows"][2]["ours_value"] == times["dl_jax LSTM (default)"]


class _NoTorch(importlib.abc.MetaPathFinder):
    """Makes ``import torch`` fail as on a machine without it."""

    def find_spec(self, name, path, target=None):
        if name.split(".")[0] == "torch":
            raise ModuleNotFoundError(f"No module named {name!r}")


def test_run_tiny_without_torch_skips_the_peer_with_a_note(tmp_path, monkeypatch):
    monkeypatch.setattr(sys, "meta_path", [_NoTorch(), *sys.meta_path])
    for name in [m for m in sys.modules if m.split(".")[0] == "torch"]:
        monkeypatch.delitem(sys.modules, name)
    result = run.main(["--tiny", "--only=lenet5", f"--out={tmp_path}"])
    saved = json.loads((tmp_path / "benchmarks.json").read_text())
    assert saved == json.loads(json.dumps(result))
    lenet = saved["rows"][0]
    assert lenet["benchmark"] == "LeNet-5 train step" and lenet["ours_value"] > 0
    assert lenet["peer"] is None and lenet["speedup"] is None
    assert any("PyTorch not installed" in note for note in saved["notes"])
    assert set(saved["seconds"]) == {"lenet5"}
    machine = saved["machine"]
    assert machine["cores"] >= 1 and machine["cpu"] and isinstance(machine["isa"], list)
    assert saved["versions"]["jax"] and saved["date"].endswith("UTC")
    markdown = (tmp_path / "benchmarks.md").read_text()
    assert "| LeNet-5 train step |" in markdown and "| skipped |" in markdown
    assert machine["cpu"] in markdown


def test_rows_from_module_results():
    # nmt_cpu.main's {variant: {stat: value}}: ours is the dl_jax variant, medians compared.
    nmt = {"torch 2.13.0 nn.LSTM": {"best_tokens_per_s": 5.0, "median_tokens_per_s": 2.0},
           "dl_jax Seq2Seq": {"best_tokens_per_s": 9.0, "median_tokens_per_s": 6.0}}
    (row,) = report.rows_from_result("NMT", nmt, "tokens/s")
    assert (row["ours"], row["ours_value"], row["peer_value"]) == ("dl_jax Seq2Seq", 6.0, 2.0)
    assert row["speedup"] == pytest.approx(3.0)  # a rate: ours / peer
    # input_pipeline.measure's rows: every streaming pipeline against in-memory numpy.
    pipeline = [{"dataset": "digits", "pipeline": "memory", "examples_per_s": 100.0},
                {"dataset": "digits", "pipeline": "grain 2 workers", "examples_per_s": 50.0,
                 "startup_s": 1.5}]
    (row,) = report.rows_from_result("Input pipeline", pipeline, "examples/s")
    assert row["speedup"] == pytest.approx(0.5) and "1.5 s" in row["note"]
    # Times: speed-up is peer time / our time.
    (row,) = report.rows_from_result("x", {"dl_jax a": 2.0, "peer": 3.0}, "ms/step")
    assert row["speedup"] == pytest.approx(1.5)


def test_run_rejects_an_unknown_benchmark(capsys):
    with pytest.raises(SystemExit):
        run.main(["--only=lenet5,resnet"])
    assert "unknown benchmark(s) resnet" in capsys.readouterr().err


def test_fallback_torch_resnet18_matches_torchvision_size():
    torch = __import__("pytest").importorskip("torch")
    model = resnet18_gpu._torch_resnet18(torch)
    assert sum(p.numel() for p in model.parameters()) == resnet18_gpu.TORCHVISION_RESNET18_PARAMS
    assert model(torch.zeros(1, 3, 64, 64)).shape == (1, resnet18_gpu.NUM_CLASSES)


def test_cpu_matmul_floors_run():
    # The floor rows of lstm_cpu and rbm_cd1 bound what a scanned JAX step can reach on a CPU;
    # they must keep running (and count the FLOPs they claim) when the scripts change.
    import jax.numpy as jnp

    from benchmarks import lstm_cpu, rbm_cd1

    lstm_cpu.matmul_floor_fn(jnp.zeros((lstm_cpu.BATCH, lstm_cpu.LENGTH, lstm_cpu.INPUTS)))(1)
    seconds, flops = rbm_cd1.matmul_floor_seconds(rows=10 * rbm_cd1.BATCH_SIZE)
    assert seconds > 0
    # Five (64 x 64) x (64 x 256)-sized matmuls per step, ten steps.
    assert flops == 10 * 5 * 2 * rbm_cd1.BATCH_SIZE * 64 * rbm_cd1.N_HIDDEN
