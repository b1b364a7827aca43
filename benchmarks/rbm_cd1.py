"""RBM CD-1 epoch time and pseudo-log-likelihood: dl_jax.rbm vs scikit-learn's BernoulliRBM.

Data: scikit-learn's 8x8 digits scaled to [0, 1] (/16) and tiled x20 (35,940 rows, 64 visible).
Model and hyper-parameters shared by every row: 256 hidden units, batch 64, learning rate 0.1,
no momentum or weight decay, 5 epochs, W ~ N(0, 0.01²). scikit-learn's BernoulliRBM runs PCD-1
(persistent chain of hidden samples) over the rows in order; dl_jax runs CD-1 or PCD-1 over rows
shuffled each epoch (the last 36 rows of each shuffle are dropped); dl_jax initialises b_v to the
data's log-odds (Hinton's guide; one row repeats CD-1 with scikit-learn's b_v = 0).

Times are per epoch: the median of 5 timed epochs for dl_jax (compilation excluded; the first
call, compile plus one epoch, is reported separately; the configurations' epochs interleave)
and total / 5 of ``fit(n_iter=5)`` for scikit-learn (the faster of two fits, one before and one
after the dl_jax rows), in float64 and float32, with default and single-thread BLAS; speed-ups
are given against the default configuration and against the fastest scikit-learn row. The PLL is
dl_jax.rbm.pseudo_log_likelihood (exact sum over the 64 units, cross-entropy form for grey
values) on the 1,797 untiled digits for every model, scikit-learn's converted to the params
pytree. The machine may be shared: the load average is printed with the results.

Data-parallel rows: XLA:CPU runs each small CD-1 matmul on one thread, so the script starts JAX
with one CPU device per core (``JAX_NUM_CPU_DEVICES``, unless already set) and passes a 1-D
``'data'`` mesh over them to train_epoch: each core takes its share of every minibatch's rows and
the CD statistics are averaged across cores once per step (the same update as one device).

scikit-learn's speed depends on the OpenBLAS kernel numpy loads: a machine that sets
``OPENBLAS_CORETYPE`` (e.g. to Haswell, as some shared machines do to dodge bugs of old OpenBLAS
builds) gives the peer an older, slower kernel. The header prints the kernel in use; for a fair
peer run with both variables unset in that command alone:
``env -u OPENBLAS_CORETYPE -u OPENBLAS_L2_SIZE python -m benchmarks.rbm_cd1``.

Run: python -m benchmarks.rbm_cd1
"""

from __future__ import annotations

import os

os.environ.setdefault("JAX_NUM_CPU_DEVICES", str(os.cpu_count() or 1))

import platform  # noqa: E402
import time  # noqa: E402
from itertools import product  # noqa: E402

import jax  # noqa: E402
import jax.numpy as jnp  # noqa: E402
import numpy as np  # noqa: E402

from dl_jax import rbm  # noqa: E402

N_HIDDEN = 256
BATCH_SIZE = 64
LEARNING_RATE = 0.1
EPOCHS = 5
TILES = 20


def load_data():
    from sklearn.datasets import load_digits

    digits = load_digits().data / 16.0
    return digits, np.tile(digits, (TILES, 1))


class DlJaxRun:
    """One dl_jax configuration, compiled up front and then trained one epoch per call."""

    def __init__(self, train, *, persistent, sampler, data_init=True, seed=0, mesh=None):
        self.data = jnp.asarray(train, jnp.float32)
        key = jax.random.key(seed)
        init_key, chain_key, self.epoch_key = jax.random.split(key, 3)
        visible_mean = train.mean(axis=0) if data_init else None
        self.params = rbm.init(
            init_key, train.shape[1], N_HIDDEN, scale=0.01, visible_mean=visible_mean
        )
        self.velocity = jax.tree.map(jnp.zeros_like, self.params)
        self.chain = (
            rbm.init_persistent_chain(self.params, chain_key, BATCH_SIZE) if persistent else None
        )
        self.kwargs = dict(
            batch_size=BATCH_SIZE, learning_rate=LEARNING_RATE, sampler=sampler, mesh=mesh
        )
        if mesh is not None:
            # Place the inputs on every device once, so no epoch pays for copying the data set.
            replicated = jax.sharding.NamedSharding(mesh, jax.sharding.PartitionSpec())
            self.data, self.params, self.velocity = jax.device_put(
                (self.data, self.params, self.velocity), replicated
            )
            if self.chain is not None:
                rows = jax.sharding.NamedSharding(mesh, jax.sharding.PartitionSpec(rbm.DATA_AXIS))
                self.chain = jax.device_put(self.chain, rows)
        start = time.perf_counter()
        # Compile plus one epoch whose result is discarded: training starts from the init.
        jax.block_until_ready(
            rbm.train_epoch(
                self.params, self.velocity, self.chain, self.data, self.epoch_key, **self.kwargs
            )
        )
        self.compile_seconds = time.perf_counter() - start
        self.epoch_seconds = []

    def epoch(self):
        """Trains the next epoch and records its wall time."""
        start = time.perf_counter()
        self.params, self.velocity, self.chain, _ = rbm.train_epoch(
            self.params,
            self.velocity,
            self.chain,
            self.data,
            jax.random.fold_in(self.epoch_key, len(self.epoch_seconds)),
            **self.kwargs,
        )
        jax.block_until_ready(self.params)
        self.epoch_seconds.append(time.perf_counter() - start)


def time_sklearn(train, dtype, blas_threads=None, epochs=EPOCHS):
    """Fits BernoulliRBM for ``epochs`` epochs; returns (s/epoch, params pytree)."""
    from sklearn.neural_network import BernoulliRBM
    from threadpoolctl import threadpool_limits

    model = BernoulliRBM(
        n_components=N_HIDDEN,
        learning_rate=LEARNING_RATE,
        batch_size=BATCH_SIZE,
        n_iter=epochs,
        random_state=0,
    )
    x = np.asarray(train, dtype)
    with threadpool_limits(limits=blas_threads, user_api="blas"):
        start = time.perf_counter()
        model.fit(x)
        seconds = (time.perf_counter() - start) / epochs
    params = {
        "W": jnp.asarray(model.components_.T, jnp.float32),
        "b_v": jnp.asarray(model.intercept_visible_, jnp.float32),
        "b_h": jnp.asarray(model.intercept_hidden_, jnp.float32),
    }
    return seconds, params


def matmul_floor_seconds(rows):
    """Seconds per epoch of CD-1's five matmuls alone, scanned over the epoch's minibatches.

    No sigmoid, sampling, bias or shuffle: only v0 W, h0 Wᵀ, v1 W and the two statistics
    products, chained so that nothing can be hoisted. No CD-1 epoch on one device can beat this,
    so it bounds what XLA:CPU can reach on this machine.
    """
    steps = rows // BATCH_SIZE
    key_data, key_w = jax.random.split(jax.random.key(0))
    batches = jax.random.uniform(key_data, (steps, BATCH_SIZE, 64))
    weights = 0.01 * jax.random.normal(key_w, (64, N_HIDDEN))

    @jax.jit
    def epoch(weights, batches):
        def step(weights, v0):
            h0 = v0 @ weights
            v1 = h0 @ weights.T
            h1 = v1 @ weights
            return weights + 1e-6 * (v0.T @ h0 - v1.T @ h1), None

        return jax.lax.scan(step, weights, batches)[0]

    jax.block_until_ready(epoch(weights, batches))
    seconds = []
    for _ in range(10):
        start = time.perf_counter()
        jax.block_until_ready(epoch(weights, batches))
        seconds.append(time.perf_counter() - start)
    return float(np.median(seconds)), steps * 5 * 2 * BATCH_SIZE * 64 * N_HIDDEN


def blas_kernels():
    """The BLAS libraries numpy loaded and the CPU kernel each runs, e.g. 'openblas SkylakeX'."""
    try:
        from threadpoolctl import threadpool_info
    except ImportError:
        return "unknown (threadpoolctl missing)"
    found = {
        f"{info.get('internal_api')} {info.get('architecture')}"
        for info in threadpool_info()
        if info.get("user_api") == "blas"
    }
    return ", ".join(sorted(found)) or "none found"


def evaluate(params, digits):
    v = jnp.asarray(digits, jnp.float32)
    return float(rbm.pseudo_log_likelihood(params, v)), float(rbm.reconstruction_error(params, v))


def measure(tiles=TILES, epochs=EPOCHS) -> list:
    """The ``benchmarks.run`` row: dl_jax CD-1 (hash sampler, 1 device) epoch vs scikit-learn.

    scikit-learn's ``BernoulliRBM`` (PCD-1, float64) is fitted with default and with one BLAS
    thread, before and after the dl_jax epochs; the fastest fit is the peer, both PLLs go in
    the note.
    """
    from benchmarks.common import comparison_row

    digits = load_data()[0]
    train = np.tile(digits, (tiles, 1))
    run = DlJaxRun(train, persistent=False, sampler="hash")
    try:  # default BLAS threads and one thread (faster when other processes load the cores)
        first = {t: time_sklearn(train, np.float64, t, epochs) for t in (None, 1)}
    except ImportError:
        first = None
    for _ in range(epochs):
        run.epoch()
    ours_value = float(np.median(run.epoch_seconds))
    ours_pll = evaluate(run.params, digits)[0]
    setting = f"digits x{tiles} ({train.shape[0]} rows), 64x{N_HIDDEN}, batch {BATCH_SIZE}"
    ours = "dl_jax rbm CD-1 (hash sampler), 1 device"
    if first is None:
        return [comparison_row("RBM epoch", setting, "s/epoch", ours, ours_value, None, None,
                               higher_is_better=False, target=">= 10x scikit-learn",
                               note="scikit-learn not installed: peer skipped")]
    import sklearn

    # Each configuration is fitted again after the dl_jax epochs; the fastest fit is the peer.
    seconds = {t: min(first[t][0], time_sklearn(train, np.float64, t, epochs)[0])
               for t in first}
    threads = min(seconds, key=seconds.get)
    note = (f"faster of default BLAS threads {seconds[None]:.3f} s, 1 thread {seconds[1]:.3f} s;"
            f" PLL after {epochs} epochs {ours_pll:.2f} (ours) vs "
            f"{evaluate(first[threads][1], digits)[0]:.2f} (sklearn, PCD-1)")
    return [comparison_row("RBM epoch", setting, "s/epoch", ours, ours_value,
                           f"scikit-learn {sklearn.__version__} BernoulliRBM float64"
                           + (", 1 BLAS thread" if threads == 1 else ""), seconds[threads],
                           higher_is_better=False, target=">= 10x scikit-learn", note=note)]


def main():
    digits, train = load_data()
    print(
        f"RBM 64x{N_HIDDEN}, {train.shape[0]} rows, batch {BATCH_SIZE}, lr {LEARNING_RATE}, "
        f"{EPOCHS} epochs | jax {jax.__version__} on {jax.devices()[0].platform}, "
        f"{os.cpu_count()} CPUs ({platform.processor() or platform.machine()}), "
        f"{jax.device_count()} JAX devices, "
        f"load avg {os.getloadavg()[0]:.1f}"
    )
    print(f"numpy BLAS for the scikit-learn peer: {blas_kernels()}")
    rows = []
    try:
        # OpenBLAS spins its threads; on a busy machine one BLAS thread can be the faster peer.
        # Each scikit-learn row is fitted twice (before and after the dl_jax rows) and the faster
        # fit counts, so a slow moment of the machine does not flatter dl_jax.
        sklearn_configs = list(product((np.float64, np.float32), (None, 1)))
        first = [time_sklearn(train, dtype, threads) for dtype, threads in sklearn_configs]
    except ImportError:
        print("scikit-learn missing: peer rows skipped")
        sklearn_configs, first = [], []

    configs = [
        ("dl_jax CD-1, threefry", dict(persistent=False, sampler="threefry")),
        ("dl_jax CD-1, hash sampler", dict(persistent=False, sampler="hash")),
        ("dl_jax PCD-1, threefry", dict(persistent=True, sampler="threefry")),
        ("dl_jax PCD-1, hash sampler", dict(persistent=True, sampler="hash")),
        ("dl_jax CD-1, hash, b_v=0 init", dict(persistent=False, sampler="hash", data_init=False)),
    ]
    num_devices = jax.device_count()
    if num_devices > 1 and BATCH_SIZE % num_devices == 0:
        mesh = jax.sharding.Mesh(np.array(jax.devices()), (rbm.DATA_AXIS,))
        configs += [
            (f"dl_jax CD-1, hash, {num_devices} devices", dict(persistent=False, sampler="hash")),
            (f"dl_jax PCD-1, hash, {num_devices} devices", dict(persistent=True, sampler="hash")),
            (
                f"dl_jax CD-1, threefry, {num_devices} dev",
                dict(persistent=False, sampler="threefry"),
            ),
        ]
        for _, config in configs[-3:]:
            config["mesh"] = mesh
    runs = {name: DlJaxRun(train, **config) for name, config in configs}
    # Epochs interleave across configurations (round e trains epoch e of every one), so that a
    # busy or slow moment of the machine falls on all of them alike.
    for _ in range(EPOCHS):
        for run in runs.values():
            run.epoch()

    for (dtype, threads), (seconds, params) in zip(sklearn_configs, first, strict=True):
        again, _ = time_sklearn(train, dtype, threads)
        name = f"sklearn PCD-1 {np.dtype(dtype).name}" + (", 1 thread" if threads else "")
        rows.append((name, min(seconds, again), None, *evaluate(params, digits)))
    for name, run in runs.items():
        rows.append(
            (name, float(np.median(run.epoch_seconds)), run.compile_seconds,
             *evaluate(run.params, digits))
        )

    # Two baselines: scikit-learn as configured by default (float64 digits, all BLAS threads) and,
    # to stay honest on a busy machine, the fastest scikit-learn row measured in this run.
    sklearn_rows = {name: seconds for name, seconds, *_ in rows if name.startswith("sklearn")}
    default = sklearn_rows.get("sklearn PCD-1 float64")
    fastest = min(sklearn_rows.values()) if sklearn_rows else None

    def ratio(reference, seconds):
        return f"{reference / seconds:7.1f}x" if reference else f"{'n/a':>8s}"

    print(
        f"{'implementation':34s} {'s/epoch':>8s} {'vs dflt':>8s} {'vs best':>8s} "
        f"{'1st call s':>10s} {'PLL@5':>8s} {'recon MSE':>9s}"
    )
    for name, seconds, compile_seconds, pll, recon in rows:
        first = f"{compile_seconds:10.2f}" if compile_seconds is not None else f"{'-':>10s}"
        print(
            f"{name:34s} {seconds:8.4f} {ratio(default, seconds)} {ratio(fastest, seconds)} "
            f"{first} {pll:8.3f} {recon:9.5f}"
        )
    print("vs dflt: speed-up over sklearn float64 with default BLAS threads; vs best: over the")
    print("fastest sklearn row. dl_jax s/epoch is the median of 5 epochs after compilation.")
    print("PLL@5: mean exact pseudo-log-likelihood (nats, higher is better) on the 1,797 digits.")
    floor, flops = matmul_floor_seconds(train.shape[0])
    print(f"Floor: CD-1's five matmuls alone, one device: {floor:.4f} s/epoch "
          f"({flops / floor / 1e9:.0f} GFLOP/s)" + (f", {default / floor:.1f}x sklearn float64"
                                                     if default else ""))


if __name__ == "__main__":
    main()
