"""LSTM many-to-one training step on CPU: dl_jax's fast LSTM vs PyTorch ``nn.LSTM`` vs Flax.

Batch 32, 100 steps, 32 inputs, 128 hidden units, 10 classes, plain SGD on the cross-entropy of
a linear read-out of the last hidden state. Every variant runs in this one process; the timed
rounds interleave the variants so that load from other processes hits them alike, and the table
gives the best and the median round (ms per training step).

Variants: ``dl_jax`` (default ``LSTM``: hoisted input projection, fused gate matmul,
hand-written backward pass), ``dl_jax autodiff`` (same forward, ``fused_backward=False``),
``dl_jax unroll=16``, ``dl_jax data-parallel`` (the default LSTM with the batch split over one
XLA CPU device per core), ``flax OptimizedLSTMCell`` (``nn.RNN`` over Flax's own cell) and
``torch nn.LSTM`` (``torch.set_num_threads(os.cpu_count())``; skipped if torch is missing).

The ``matmuls only`` row is not an LSTM: it runs just the step's matmuls (see
``matmul_floor_fn``), the floor that any scanned LSTM under XLA:CPU stays above on one device.

Why the data-parallel row: XLA:CPU runs each per-step (32, 128) x (128, 512) matmul of the
recurrence on one thread (we measured the loop's time to grow linearly with the batch), while
PyTorch's oneDNN RNN splits it over all cores. One CPU device per core (``JAX_NUM_CPU_DEVICES``,
set below before JAX starts unless already set) lets the two halves of the batch run on two
cores, with the gradient averaged across them as in multi-GPU data parallelism.

Run: ``python -m benchmarks.lstm_cpu [--rounds 40] [--steps 3]``.
"""

import os

os.environ.setdefault("JAX_NUM_CPU_DEVICES", str(os.cpu_count() or 1))

import argparse  # noqa: E402
import statistics  # noqa: E402

import flax.linen as nn  # noqa: E402
import jax  # noqa: E402
import jax.numpy as jnp  # noqa: E402
import numpy as np  # noqa: E402
import optax  # noqa: E402
from jax.sharding import Mesh, NamedSharding, PartitionSpec  # noqa: E402

from benchmarks.common import interleaved_seconds, torch_lstm_runner  # noqa: E402
from dl_jax.models.recurrent import LSTM, ManyToOne  # noqa: E402

BATCH, LENGTH, INPUTS, HIDDEN, CLASSES = 32, 100, 32, 128, 10
LEARNING_RATE = 0.1


class FlaxOptimizedLSTM(nn.Module):
    """Many-to-one reference built from Flax's own ``OptimizedLSTMCell`` and ``nn.RNN``."""

    @nn.compact
    def __call__(self, x):
        """Logits from the last hidden state."""
        outputs = nn.RNN(nn.OptimizedLSTMCell(HIDDEN))(x)
        return nn.Dense(CLASSES)(outputs[:, -1])


def jax_step_fn(model, x, y, data_parallel=False):
    """A runner of ``n`` jitted SGD steps on one batch (sharded over all devices if asked)."""
    params = jax.jit(model.init)(jax.random.key(0), x)["params"]
    optimizer = optax.sgd(LEARNING_RATE)
    opt_state = optimizer.init(params)
    if data_parallel:
        mesh = Mesh(np.array(jax.devices()), ("data",))
        replicated = NamedSharding(mesh, PartitionSpec())
        split = NamedSharding(mesh, PartitionSpec("data"))
        params, opt_state = jax.device_put((params, opt_state), replicated)
        x, y = jax.device_put(x, split), jax.device_put(y, split)

    def loss_fn(p, x, y):
        logits = model.apply({"params": p}, x)
        return optax.softmax_cross_entropy_with_integer_labels(logits, y).mean()

    @jax.jit
    def step(p, opt_state, x, y):
        loss, grads = jax.value_and_grad(loss_fn)(p, x, y)
        updates, opt_state = optimizer.update(grads, opt_state, p)
        return optax.apply_updates(p, updates), opt_state, loss

    state = [params, opt_state]

    def run(n):
        for _ in range(n):
            state[0], state[1], loss = step(state[0], state[1], x, y)
        jax.block_until_ready(loss)

    return run


def matmul_floor_fn(x):
    """A runner of the LSTM step's matmuls alone: a lower bound for any scanned JAX LSTM here.

    The same FLOPs as one training step's matmuls, in the same shapes and order: the hoisted input
    projection, 100 chained (B, H) x (H, 4H) forward products, 100 chained (B, 4H) x (4H, H)
    backward products, and the two weight-gradient products over all steps. The only other work
    is one small fused add-and-slice per step that chains them, so no gate nonlinearity, no saved
    residual and no read-out: what XLA:CPU cannot go below with its single-threaded per-step
    matmuls.
    """
    key_in, key_rec = jax.random.split(jax.random.key(0))
    w_in = 0.1 * jax.random.normal(key_in, (INPUTS, 4 * HIDDEN))
    w_rec = 0.1 * jax.random.normal(key_rec, (HIDDEN, 4 * HIDDEN))
    xs = jnp.swapaxes(x, 0, 1)  # time-major

    @jax.jit
    def matmuls(w_in, w_rec, xs):
        projected = xs @ w_in

        def forward(h, z_in):
            h = (z_in + h @ w_rec)[:, :HIDDEN]
            return h, h

        _, hs = jax.lax.scan(forward, jnp.zeros((BATCH, HIDDEN)), projected)

        def backward(dh, z_in):
            dz = z_in + jnp.tile(dh, (1, 4))
            return dz @ w_rec.T, dz

        _, dzs = jax.lax.scan(backward, jnp.zeros((BATCH, HIDDEN)), projected, reverse=True)
        return (jnp.einsum("tbi,tbj->ij", hs, dzs), jnp.einsum("tbi,tbj->ij", xs, dzs))

    def run(n):
        for _ in range(n):
            out = matmuls(w_in, w_rec, xs)
        jax.block_until_ready(out)

    return run


def torch_step_fn(x, y):
    """The same step in PyTorch on all CPU cores, or None when torch is not installed."""
    try:
        import torch
    except ImportError:
        return None
    torch.set_num_threads(os.cpu_count() or 1)
    return torch_lstm_runner(x, y, HIDDEN, CLASSES, LEARNING_RATE)


def measure(rounds=40, steps=3, length=LENGTH) -> list:
    """The ``benchmarks.run`` rows: dl_jax's LSTM step vs ``torch.nn.LSTM`` and plain Flax."""
    from benchmarks.common import comparison_row

    rng = np.random.default_rng(0)
    x = rng.normal(size=(BATCH, length, INPUTS)).astype(np.float32)
    y = rng.integers(0, CLASSES, size=BATCH).astype(np.int32)
    xj, yj = jnp.asarray(x), jnp.asarray(y)
    ours, flax_name = "dl_jax LSTM (fused backward), 1 device", "flax nn.RNN(OptimizedLSTMCell)"
    variants = {ours: jax_step_fn(ManyToOne(LSTM(HIDDEN), CLASSES), xj, yj),
                flax_name: jax_step_fn(FlaxOptimizedLSTM(), xj, yj)}
    torch_run = torch_step_fn(x, y)
    if torch_run:
        import torch

        def with_threads(threads, run=torch_run[0]):
            def timed(n):
                torch.set_num_threads(threads)
                return run(n)
            return timed

        for threads in dict.fromkeys((os.cpu_count() or 1, 1)):
            variants[f"torch {torch_run[1]} nn.LSTM, {threads} thread(s)"] = with_threads(threads)
    for run in variants.values():  # compile and warm up
        run(2)
    times = {name: statistics.median(values) * 1e3
             for name, values in interleaved_seconds(variants, rounds, steps).items()}
    peers = {k: v for k, v in times.items() if k.startswith("torch")}
    # The faster of all threads and one thread (OpenMP suffers when the cores are shared).
    torch_name = min(peers, key=peers.get) if peers else None
    note = ("faster of " + ", ".join(f"{k.split(', ')[-1]} {v:.2f} ms" for k, v in peers.items())
            if peers else "torch not installed: peer skipped")
    setting = f"B{BATCH} T{length} D{INPUTS} H{HIDDEN}, SGD, median step"
    rows = [comparison_row("LSTM train step", setting, "ms/step", ours, times[ours],
                           torch_name, times.get(torch_name), higher_is_better=False,
                           target="<= 1.0x torch time", note=note)]
    rows.append(comparison_row("LSTM train step", setting, "ms/step", ours, times[ours],
                               flax_name, times[flax_name], higher_is_better=False))
    return rows


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rounds", type=int, default=40)
    parser.add_argument("--steps", type=int, default=3, help="training steps per timed round")
    args = parser.parse_args()

    rng = np.random.default_rng(0)
    x = rng.normal(size=(BATCH, LENGTH, INPUTS)).astype(np.float32)
    y = rng.integers(0, CLASSES, size=BATCH).astype(np.int32)
    xj, yj = jnp.asarray(x), jnp.asarray(y)

    variants = {
        "dl_jax LSTM (default)": jax_step_fn(ManyToOne(LSTM(HIDDEN), CLASSES), xj, yj),
        "dl_jax LSTM autodiff": jax_step_fn(
            ManyToOne(LSTM(HIDDEN, fused_backward=False), CLASSES), xj, yj),
        "dl_jax LSTM unroll=16": jax_step_fn(ManyToOne(LSTM(HIDDEN, unroll=16), CLASSES), xj, yj),
        "flax OptimizedLSTMCell": jax_step_fn(FlaxOptimizedLSTM(), xj, yj),
    }
    devices = jax.local_device_count()
    if devices > 1 and BATCH % devices == 0:
        variants[f"dl_jax LSTM data-parallel x{devices}"] = jax_step_fn(
            ManyToOne(LSTM(HIDDEN), CLASSES), xj, yj, data_parallel=True)
    variants["matmuls only (JAX floor)"] = matmul_floor_fn(xj)
    torch_run = torch_step_fn(x, y)
    torch_name = None
    if torch_run is not None:
        torch_name = f"torch {torch_run[1]} nn.LSTM"
        variants[torch_name] = torch_run[0]

    for run in variants.values():  # compile and warm up
        run(3)
    times = {
        name: [t * 1e3 for t in values]
        for name, values in interleaved_seconds(variants, args.rounds, args.steps).items()
    }

    print(f"LSTM train step: batch {BATCH}, T {LENGTH}, in {INPUTS}, hidden {HIDDEN}, "
          f"{CLASSES} classes, SGD; jax {jax.__version__} on {jax.default_backend()}, "
          f"{os.cpu_count()} cores, {args.rounds} rounds x {args.steps} steps, "
          f"load average {os.getloadavg()[0]:.1f}")
    reference = min(times[torch_name]) if torch_name else None
    print(f"{'variant':<32}{'best ms':>10}{'median ms':>11}{'vs torch':>10}")
    for name, values in times.items():
        ratio = f"{min(values) / reference:.2f}x" if reference else "n/a"
        print(f"{name:<32}{min(values):>10.2f}{statistics.median(values):>11.2f}{ratio:>10}")
    if torch_name is None:
        print("torch missing: install the peer with `pip install torch==2.13.0`")


if __name__ == "__main__":
    main()
