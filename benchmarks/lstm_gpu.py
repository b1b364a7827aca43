"""LSTM training step on one GPU: dl_jax's scanned LSTM vs cuDNN (PyTorch ``nn.LSTM``).

The target of issue 4: float32 step time <= 0.5x cuDNN's at (B64, T128, D256, H512) and
(B32, T1024, D128, H256), same machine. One step = a single-layer LSTM over the whole sequence,
a linear read-out of the last hidden state to 10 classes, softmax cross-entropy, backward and a
plain SGD update (lr 0.1), on a fixed random batch held on the GPU.

Variants: ``dl_jax LSTM`` (the library default: input projection of all steps hoisted into one
matmul, fused gate matmul per step, hand-written backward pass, scan unrolled by 16 off CPU),
``dl_jax unroll=1`` (same, rolled scan), ``dl_jax autodiff`` (``fused_backward=False``), Flax's
``OptimizedLSTMCell`` under ``nn.RNN``, and PyTorch ``nn.LSTM`` (cuDNN, ``batch_first``).
Precision: both frameworks' float32 defaults, which allow TF32 tensor-core matmuls on
Ampere/Hopper (XLA's default precision; ``torch.backends.cudnn.allow_tf32`` is True by default);
``--precision=highest`` makes both strict float32.

Timing: after warm-up, rounds of ``--steps`` steps alternate between the variants; the table
gives ms per step for the best and the median round and the ratio to cuDNN (lower is better).

Run (GPU): ``python -m benchmarks.lstm_gpu``; ``--smoke`` runs one tiny shape for a single round
on any backend (the test suite does this on CPU).
"""

from __future__ import annotations

import argparse
import statistics
import time
from collections.abc import Callable

import flax.linen as nn
import jax
import jax.numpy as jnp
import numpy as np
import optax

from benchmarks.common import (
    interleaved_seconds,
    jax_step_runner,
    torch_lstm_runner,
    use_strict_float32,
)
from dl_jax.models.recurrent import LSTM, ManyToOne, default_unroll

LEARNING_RATE = 0.1
NUM_CLASSES = 10
SHAPES = ((64, 128, 256, 512), (32, 1024, 128, 256))  # (batch, time, inputs, hidden)


class FlaxOptimizedLSTM(nn.Module):
    """Many-to-one reference from Flax's own ``OptimizedLSTMCell`` and ``nn.RNN``."""

    hidden: int

    @nn.compact
    def __call__(self, x):
        """Logits from the last hidden state."""
        outputs = nn.RNN(nn.OptimizedLSTMCell(self.hidden))(x)
        return nn.Dense(NUM_CLASSES)(outputs[:, -1])


def jax_runner(model: nn.Module, x: np.ndarray, y: np.ndarray) -> Callable[[int], float]:
    """``run(n) -> last loss`` performing ``n`` jitted SGD steps of ``model``."""
    x, y = jnp.asarray(x), jnp.asarray(y)
    params = jax.jit(model.init)(jax.random.key(0), x)["params"]
    optimizer = optax.sgd(LEARNING_RATE)

    def loss_fn(params, x, y):
        logits = model.apply({"params": params}, x)
        return optax.softmax_cross_entropy_with_integer_labels(logits, y).mean()

    def train_step(state, x, y):
        params, opt_state = state
        loss, grads = jax.value_and_grad(loss_fn)(params, x, y)
        updates, opt_state = optimizer.update(grads, opt_state, params)
        return (optax.apply_updates(params, updates), opt_state), loss

    return jax_step_runner(train_step, (params, optimizer.init(params)), x, y)


def main(argv: list[str] | None = None) -> dict[tuple[int, ...], dict[str, float]]:
    """Runs the benchmark; returns the best ms per step of every variant per shape."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rounds", type=int, default=5)
    parser.add_argument("--steps", type=int, default=10, help="steps per timed round")
    parser.add_argument("--warmup", type=int, default=3, help="untimed steps per variant")
    parser.add_argument("--precision", choices=("default", "highest"), default="default")
    parser.add_argument("--smoke", action="store_true", help="one tiny shape, one short round")
    args = parser.parse_args(argv)
    shapes = SHAPES
    if args.smoke:
        shapes, args.rounds, args.steps, args.warmup = ((2, 8, 4, 8),), 1, 1, 1
    if args.precision == "highest":
        use_strict_float32()
    device = jax.devices()[0]
    print(f"LSTM many-to-one train step, float32 ({args.precision} precision), SGD | jax "
          f"{jax.__version__} on {device.platform} ({device.device_kind})")

    results = {}
    rng = np.random.default_rng(0)
    unroll = default_unroll(jax.default_backend())  # the layers never read the backend
    for batch, length, inputs, hidden in shapes:
        x = rng.standard_normal((batch, length, inputs), np.float32)
        y = rng.integers(0, NUM_CLASSES, batch).astype(np.int32)
        variants = {
            "dl_jax LSTM (default)": jax_runner(
                ManyToOne(LSTM(hidden, unroll=unroll), NUM_CLASSES), x, y),
            "dl_jax LSTM unroll=1": jax_runner(
                ManyToOne(LSTM(hidden, unroll=1), NUM_CLASSES), x, y),
            "dl_jax LSTM autodiff": jax_runner(
                ManyToOne(LSTM(hidden, unroll=unroll, fused_backward=False), NUM_CLASSES), x, y),
            "flax OptimizedLSTMCell": jax_runner(FlaxOptimizedLSTM(hidden), x, y),
        }
        peer = torch_lstm_runner(x, y, hidden, NUM_CLASSES, LEARNING_RATE, device="cuda")
        reference_name = None
        if peer is not None:
            import torch

            reference_name = "torch nn.LSTM (cuDNN)"
            variants[reference_name] = peer[0]
            peer = f"torch {peer[1]}, cuDNN {torch.backends.cudnn.version()}"
        print(f"\nB{batch} T{length} D{inputs} H{hidden}" + (f" | peer: {peer}" if peer else ""))
        for name, run in variants.items():
            start = time.perf_counter()
            loss = run(args.warmup)
            print(f"  warm-up {name}: {time.perf_counter() - start:.1f} s (compile included), "
                  f"loss {loss:.3f}")
        times = {
            name: [t * 1e3 for t in values]
            for name, values in interleaved_seconds(variants, args.rounds, args.steps).items()
        }
        reference = min(times[reference_name]) if reference_name else None
        print(f"  {'variant':<26}{'best ms':>10}{'median ms':>11}{'vs cuDNN':>10}")
        for name, values in times.items():
            ratio = f"{min(values) / reference:.2f}x" if reference else "n/a"
            print(f"  {name:<26}{min(values):>10.3f}{statistics.median(values):>11.3f}{ratio:>10}")
        results[(batch, length, inputs, hidden)] = {name: min(v) for name, v in times.items()}
        if reference_name is None:
            print("  (no PyTorch with CUDA here: the cuDNN row is skipped)")
    return results


if __name__ == "__main__":
    main()
