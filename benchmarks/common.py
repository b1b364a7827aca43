"""Pieces the benchmark scripts share: interleaved timing, strict float32, the PyTorch LSTM peer.

Imports only numpy and the standard library at module level; torch is imported lazily.
"""

from __future__ import annotations

import time
from collections.abc import Callable

import numpy as np


def interleaved_seconds(
    variants: dict[str, Callable[[int], object]], rounds: int, steps: int
) -> dict[str, list[float]]:
    """Seconds per step of every variant over ``rounds`` rounds of ``steps`` steps each.

    The rounds alternate between the variants, so load from other processes, clock changes or
    thermal drift fall on all of them alike. Each ``run(n)`` must finish its ``n`` steps
    (synchronise with the device) before returning.
    """
    seconds = {name: [] for name in variants}
    for _ in range(rounds):
        for name, run in variants.items():
            start = time.perf_counter()
            run(steps)
            seconds[name].append((time.perf_counter() - start) / steps)
    return seconds


def jax_step_runner(train_step: Callable, state, *batch) -> Callable[[int], float]:
    """``run(n) -> last loss``: ``n`` steps of ``jax.jit(train_step, donate_argnums=0)``.

    ``train_step(state, *batch) -> (state, loss)``; the state is donated so parameters and
    optimizer state update in place, and ``run`` waits for the last loss.
    """
    import jax

    step = jax.jit(train_step, donate_argnums=0)
    holder = [state]

    def run(n: int) -> float:
        loss = None
        for _ in range(n):
            holder[0], loss = step(holder[0], *batch)
        return float(jax.block_until_ready(loss))

    return run


def use_strict_float32() -> None:
    """Makes float32 mean float32 in both frameworks: no TF32 tensor-core matmuls/convolutions."""
    import jax

    jax.config.update("jax_default_matmul_precision", "highest")
    try:
        import torch
    except ImportError:
        return
    torch.backends.cudnn.allow_tf32 = False
    torch.backends.cuda.matmul.allow_tf32 = False


def torch_lstm_runner(
    x: np.ndarray, y: np.ndarray, hidden: int, num_classes: int, learning_rate: float,
    device: str = "cpu",
):
    """``(run, torch_version)`` for the PyTorch many-to-one LSTM SGD step, or None.

    ``nn.LSTM`` (cuDNN on CUDA) over ``x`` (batch, time, inputs), a linear read-out of the last
    hidden state, cross-entropy against ``y``, plain SGD. None when torch is not installed or
    the device is CUDA and none is available.
    """
    try:
        import torch
    except ImportError:
        return None
    if device == "cuda" and not torch.cuda.is_available():
        return None
    torch.manual_seed(0)
    lstm = torch.nn.LSTM(x.shape[-1], hidden, batch_first=True).to(device)
    head = torch.nn.Linear(hidden, num_classes).to(device)
    optimizer = torch.optim.SGD([*lstm.parameters(), *head.parameters()], lr=learning_rate)
    tx = torch.from_numpy(np.asarray(x)).to(device)
    ty = torch.from_numpy(np.asarray(y)).long().to(device)

    def run(n: int) -> float:
        loss = None
        for _ in range(n):
            optimizer.zero_grad(set_to_none=True)
            _, (h_last, _) = lstm(tx)
            loss = torch.nn.functional.cross_entropy(head(h_last[-1]), ty)
            loss.backward()
            optimizer.step()
        if device == "cuda":
            torch.cuda.synchronize()
        return float(loss.detach())

    return run, torch.__version__


def comparison_row(
    benchmark: str, setting: str, unit: str, ours: str, ours_value: float,
    peer: str | None, peer_value: float | None, *, higher_is_better: bool, target: str = "",
    note: str = "",
) -> dict:
    """One row of ``benchmarks.run``'s table: ours vs a peer (or reference) in one unit.

    ``speedup`` > 1 means ours is faster: peer/ours for times, ours/peer for rates; None when
    the peer was skipped.
    """
    speedup = None
    if peer_value is not None and ours_value and peer_value:
        speedup = ours_value / peer_value if higher_is_better else peer_value / ours_value
    return {"benchmark": benchmark, "setting": setting, "unit": unit, "ours": ours,
            "ours_value": float(ours_value), "peer": peer,
            "peer_value": None if peer_value is None else float(peer_value),
            "higher_is_better": higher_is_better, "speedup": speedup, "target": target,
            "note": note}
