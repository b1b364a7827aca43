"""The GPU benchmarks run end to end in their tiny smoke configuration (on CPU here).

They are meant for a short lent GPU session, where a crash would waste the device time, so the
suite runs every code path except the CUDA peers (PyTorch rows are skipped without CUDA).
"""

import math

from benchmarks import lstm_gpu, resnet18_gpu


def test_resnet18_gpu_smoke():
    results = resnet18_gpu.main(["--smoke"])
    assert {"dl_jax bf16", "dl_jax fp32"} <= set(results)
    for row in results.values():
        assert math.isfinite(row["best"]) and row["best"] > 0


def test_lstm_gpu_smoke():
    results = lstm_gpu.main(["--smoke"])
    (rows,) = results.values()
    assert {"dl_jax LSTM (default)", "dl_jax LSTM autodiff", "flax OptimizedLSTMCell"} <= set(rows)
    assert all(ms > 0 for ms in rows.values())


def test_fallback_torch_resnet18_matches_torchvision_size():
    torch = __import__("pytest").importorskip("torch")
    model = resnet18_gpu._torch_resnet18(torch)
    assert sum(p.numel() for p in model.parameters()) == resnet18_gpu.TORCHVISION_RESNET18_PARAMS
    assert model(torch.zeros(1, 3, 64, 64)).shape == (1, resnet18_gpu.NUM_CLASSES)
