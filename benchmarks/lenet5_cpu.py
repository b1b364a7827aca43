"""LeNet-5 training step on CPU: JAX/Flax versus PyTorch, measured in the same run.

One step = forward, cross-entropy, backward and an SGD update (lr 0.01, momentum 0.9) on a
fixed batch of 128 random 32x32x1 images. Both frameworks start from the same weights (the Flax
initialisation, transposed into PyTorch's layouts), and the first-step losses are printed to
show that they compute the same thing.

JAX steps are jitted with the train state donated, warmed up and timed with
``block_until_ready``. Two JAX variants are timed:

* ``1 device``: the plain jitted step of ``LeNet5(conv_form='toeplitz')`` (the form the lenet5
  study picks on CPU), which computes C1 and C3 as banded (Toeplitz) matmuls
  (``ops.conv2d_toeplitz``);
* ``1 device, lax conv``: the same network with ``conv_form='lax'`` (``nn.Conv``, XLA's own
  convolution), the form used before the Toeplitz one was measured faster here;
* ``batch over N devices``: the same step with the batch sharded over one XLA CPU device per
  core (``jax_num_cpu_devices``) and replicated parameters; XLA inserts the gradient
  all-reduce. Small convolutions parallelise poorly inside one op, so splitting the batch
  keeps every core busy.

PyTorch runs eagerly with ``torch.set_num_threads(os.cpu_count())`` and, because OpenMP
barriers suffer badly when other processes share the cores, also with one thread. Timing
alternates short rounds of every variant so that all see the same background load; each round
starts after a pause (so the previous variant's spinning threads have stopped) with two untimed
steps (so no variant is timed cold); the median over all timed steps is reported with its
quartiles.

Run: ``python -m benchmarks.lenet5_cpu [--batch 128] [--rounds 20] [--steps 10]``. PyTorch is
optional (``pip install torch==2.13.0``); without it only the JAX rows are printed.
"""

from __future__ import annotations

import argparse
import os
import statistics
import time

import jax
import jax.numpy as jnp
import numpy as np
import optax
from jax.sharding import NamedSharding, PartitionSpec

from dl_jax.models.cnn import LeNet5

LEARNING_RATE = 0.01
MOMENTUM = 0.9


def make_jax_step(model, optimizer):
    """Jitted train step ``(params, opt_state), images, labels -> (state, loss)``.

    The state is donated so XLA updates parameters and momentum in place.
    """

    def train_step(state, images, labels):
        params, opt_state = state

        def loss_fn(params):
            logits = model.apply({"params": params}, images, train=True)
            return optax.softmax_cross_entropy_with_integer_labels(logits, labels).mean()

        loss, grads = jax.value_and_grad(loss_fn)(params)
        updates, opt_state = optimizer.update(grads, opt_state, params)
        return (optax.apply_updates(params, updates), opt_state), loss

    return jax.jit(train_step, donate_argnums=0)


def torch_lenet5(params):
    """The same LeNet-5 in PyTorch (NCHW), initialised from the Flax ``params``."""
    import torch

    model = torch.nn.Sequential(
        torch.nn.Conv2d(1, 6, 5),
        torch.nn.Tanh(),
        torch.nn.AvgPool2d(2, 2),
        torch.nn.Conv2d(6, 16, 5),
        torch.nn.Tanh(),
        torch.nn.AvgPool2d(2, 2),
        torch.nn.Flatten(),
        torch.nn.Linear(400, 120),
        torch.nn.Tanh(),
        torch.nn.Linear(120, 84),
        torch.nn.Tanh(),
        torch.nn.Linear(84, 10),
    )
    p = jax.tree.map(np.asarray, params)
    weights = [
        p["c1"]["kernel"].transpose(3, 2, 0, 1),  # HWIO -> OIHW
        p["c3"]["kernel"].transpose(3, 2, 0, 1),
        # Flax flattens (h, w, c), PyTorch (c, h, w): permute the input rows of c5 to match.
        p["c5"]["kernel"].reshape(5, 5, 16, 120).transpose(3, 2, 0, 1).reshape(120, 400),
        p["f6"]["kernel"].T,
        p["logits"]["kernel"].T,
    ]
    biases = [p[name]["bias"] for name in ("c1", "c3", "c5", "f6", "logits")]
    layers = [m for m in model if isinstance(m, torch.nn.Conv2d | torch.nn.Linear)]
    with torch.no_grad():
        for layer, weight, bias in zip(layers, weights, biases, strict=True):
            layer.weight.copy_(torch.from_numpy(np.ascontiguousarray(weight)))
            layer.bias.copy_(torch.from_numpy(np.ascontiguousarray(bias)))
    return model


def make_torch_step(model):
    """Eager PyTorch train step ``(images, labels) -> loss`` with SGD + momentum."""
    import torch

    optimizer = torch.optim.SGD(model.parameters(), lr=LEARNING_RATE, momentum=MOMENTUM)
    loss_fn = torch.nn.CrossEntropyLoss()

    def train_step(images, labels):
        optimizer.zero_grad(set_to_none=True)
        loss = loss_fn(model(images), labels)
        loss.backward()
        optimizer.step()
        return loss

    return train_step


def jax_runner(step, state, images, labels, first_losses, label):
    """Closure that runs and times ``steps`` JAX steps, carrying the donated state."""
    box = [state]

    def run(steps, times):
        for _ in range(steps):
            start = time.perf_counter()
            box[0], loss = step(box[0], images, labels)
            loss.block_until_ready()
            if times is not None:
                times.append(time.perf_counter() - start)
            first_losses.setdefault(label, float(loss))

    return run


def torch_runner(torch_step, images_nhwc, labels, num_threads, first_losses):
    """Closure that runs and times ``steps`` eager PyTorch steps on ``num_threads`` threads."""
    import torch

    torch_images = torch.from_numpy(np.ascontiguousarray(images_nhwc.transpose(0, 3, 1, 2)))
    torch_labels = torch.from_numpy(np.asarray(labels))

    def run(steps, times):
        torch.set_num_threads(num_threads)
        for _ in range(steps):
            start = time.perf_counter()
            loss = torch_step(torch_images, torch_labels)
            if times is not None:
                times.append(time.perf_counter() - start)
            first_losses.setdefault("PyTorch", loss.item())

    return run


def time_rounds(runners, rounds, steps, warmup, pause, round_warmup):
    """Seconds of every timed step per runner: alternating rounds, each after a pause."""
    times = {label: [] for label in runners}
    for run in runners.values():
        run(warmup, None)  # compilation, allocator and thread-pool warm-up
    for _ in range(rounds):
        for label, run in runners.items():
            # Let the previous variant's worker threads (OpenMP, Eigen) stop spinning first, then
            # wake this variant's own threads and caches with untimed steps.
            time.sleep(pause)
            run(round_warmup, None)
            run(steps, times[label])
    return times


def measure(batch=128, rounds=20, steps=10, warmup=5, pause=0.3, round_warmup=10) -> list:
    """The ``benchmarks.run`` row: one-device ``LeNet5()`` step vs PyTorch on all threads."""
    from benchmarks.common import comparison_row

    rng = np.random.default_rng(0)
    images = rng.standard_normal((batch, 32, 32, 1)).astype(np.float32)
    labels = rng.integers(0, 10, size=batch)
    model = LeNet5(num_classes=10, conv_form="toeplitz")
    optimizer = optax.sgd(LEARNING_RATE, momentum=MOMENTUM)
    params = jax.jit(model.init)(jax.random.key(0), jnp.zeros((1, 32, 32, 1)))["params"]
    host_params = jax.tree.map(np.array, params)
    first_losses = {}
    ours = "dl_jax LeNet5 (Toeplitz convs), jit, 1 device"
    runners = {ours: jax_runner(make_jax_step(model, optimizer),
                                (params, optimizer.init(params)), jnp.asarray(images),
                                jnp.asarray(labels), first_losses, ours)}
    peer, note = None, "PyTorch not installed (pip install torch==2.13.0): peer skipped"
    try:
        import torch
    except ImportError:
        torch = None
    if torch is not None:
        torch_step = make_torch_step(torch_lenet5(host_params))
        for threads in dict.fromkeys((os.cpu_count() or 1, 1)):
            runners[f"PyTorch {torch.__version__} eager, {threads} thread(s)"] = torch_runner(
                torch_step, images, labels, threads, first_losses)
    times = time_rounds(runners, rounds, steps, warmup, pause, round_warmup)
    if torch is not None:
        # OpenMP barriers collapse when other processes share the cores: the faster of all
        # threads and one thread is the peer, so a loaded machine does not flatter ours.
        medians = {k: statistics.median(v) * 1e3 for k, v in times.items() if k != ours}
        peer = min(medians, key=medians.get)
        note = ("faster of " + ", ".join(f"{k.split(', ')[-1]} {v:.2f} ms"
                                         for k, v in medians.items()) +
                "; same weights and batch, first-step loss " +
                " vs ".join(f"{v:.5f}" for v in first_losses.values()))
    return [comparison_row(
        "LeNet-5 train step", f"batch {batch}x32x32x1, SGD+momentum, median step", "ms/step",
        ours, statistics.median(times[ours]) * 1e3,
        peer, statistics.median(times[peer]) * 1e3 if peer else None,
        higher_is_better=False, target="<= 1.0x PyTorch time", note=note)]


def main(argv=None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--batch", type=int, default=128)
    parser.add_argument("--rounds", type=int, default=20, help="alternating timing rounds")
    parser.add_argument("--steps", type=int, default=10, help="timed steps per round")
    parser.add_argument("--warmup", type=int, default=5)
    parser.add_argument(
        "--pause", type=float, default=0.3, help="seconds of idle time before each round"
    )
    parser.add_argument(
        "--round-warmup", type=int, default=10,
        help="untimed steps at the start of every round, after the pause",
    )
    parser.add_argument(
        "--jax-devices",
        type=int,
        default=os.cpu_count() or 1,
        help="XLA CPU devices for the batch-sharded JAX variant (1 disables it)",
    )
    args = parser.parse_args(argv)
    cores = os.cpu_count() or 1
    # Must happen before JAX creates its CPU backend (nothing above touched it).
    jax.config.update("jax_num_cpu_devices", args.jax_devices)

    rng = np.random.default_rng(0)
    images_nhwc = rng.standard_normal((args.batch, 32, 32, 1)).astype(np.float32)
    labels_np = rng.integers(0, 10, size=args.batch)

    model = LeNet5(num_classes=10, conv_form="toeplitz")
    optimizer = optax.sgd(LEARNING_RATE, momentum=MOMENTUM)
    params = jax.jit(model.init)(jax.random.key(0), jnp.zeros((1, 32, 32, 1)))["params"]
    host_params = jax.tree.map(np.array, params)  # JAX's buffers get donated below
    first_losses: dict[str, float] = {}
    runners = {}

    def add_jax_runner(label, variant, params_sharding, data_sharding):
        params = jax.device_put(host_params, params_sharding)
        runners[label] = jax_runner(
            make_jax_step(variant, optimizer),
            (params, optimizer.init(params)),
            jax.device_put(images_nhwc, data_sharding),
            jax.device_put(labels_np, data_sharding),
            first_losses,
            label,
        )

    device = jax.devices()[0]
    add_jax_runner("JAX/Flax jit, 1 device", model, device, device)
    add_jax_runner("JAX/Flax jit, 1 device, lax conv", LeNet5(num_classes=10, conv_form="lax"),
                   device, device)
    num_devices = len(jax.devices())
    if num_devices > 1 and args.batch % num_devices == 0:
        # Auto axes: XLA's partitioner places the all-reduce (the library's own meshes are Auto).
        mesh = jax.make_mesh(
            (num_devices,), ("batch",), axis_types=(jax.sharding.AxisType.Auto,))
        add_jax_runner(f"JAX/Flax jit, batch over {num_devices} devices", model,
                       NamedSharding(mesh, PartitionSpec()),
                       NamedSharding(mesh, PartitionSpec("batch")))

    try:
        import torch
    except ImportError:
        torch = None
    if torch is not None:
        torch_step = make_torch_step(torch_lenet5(host_params))
        for num_threads in dict.fromkeys((cores, 1)):
            plural = "s" if num_threads > 1 else ""
            label = f"PyTorch {torch.__version__} eager, {num_threads} thread{plural}"
            runners[label] = torch_runner(torch_step, images_nhwc, labels_np, num_threads,
                                          first_losses)

    times = time_rounds(runners, args.rounds, args.steps, args.warmup, args.pause,
                        args.round_warmup)

    print_table(times, first_losses, args.batch, args.rounds, args.steps)


def print_table(times, first_losses, batch, rounds, steps) -> None:
    """Prints the medians with quartiles, the first-step losses and the JAX/PyTorch ratios."""
    cores = os.cpu_count() or 1
    print(
        f"LeNet-5 train step: batch {batch}x32x32x1, tanh, SGD(lr={LEARNING_RATE}, "
        f"momentum={MOMENTUM}), cross-entropy; {cores} CPU cores; "
        f"median of {rounds}x{steps} alternating steps"
    )
    print(f"{'variant':<44} {'ms/step':>8} {'p25':>8} {'p75':>8}")
    medians = {}
    for label, samples in times.items():
        ms = np.array(samples) * 1e3
        medians[label] = statistics.median(ms)
        print(
            f"{label:<44} {medians[label]:8.2f} {np.percentile(ms, 25):8.2f} "
            f"{np.percentile(ms, 75):8.2f}"
        )
    losses = ", ".join(f"{label} {loss:.6f}" for label, loss in first_losses.items())
    print(f"first-step loss (same weights, same batch): {losses}")
    jax_labels = [label for label in medians if label.startswith("JAX")]
    torch_labels = [label for label in medians if label.startswith("PyTorch")]
    if not torch_labels:
        print("PyTorch not installed (pip install torch==2.13.0): peer skipped")
        return
    best_jax = min(jax_labels, key=medians.get)
    for jax_label in dict.fromkeys(("JAX/Flax jit, 1 device", best_jax)):
        for label in torch_labels:
            ratio = medians[jax_label] / medians[label]
            print(f"ratio JAX/PyTorch ({jax_label} vs {label}): {ratio:.2f}x (target <= 1.00x)")


if __name__ == "__main__":
    main()
