"""The GPU benchmarks run end to end in their tiny smoke configuration (on CPU here), and the
CPU benchmarks' floor helpers run.

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
