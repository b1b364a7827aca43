"""Test session setup (four CPU devices, quiet logs) and the fixtures every test file shares."""

import json
import os
import shutil
import subprocess
import sys
import tempfile

# Must precede the first jax import: every test process sees 4 CPU devices, so data-parallel
# equivalence is tested in-process. Single-device tests pin config.num_devices = 1.
os.environ.setdefault("JAX_NUM_CPU_DEVICES", "4")
os.environ.setdefault("JAX_PLATFORMS", "cpu")
# Enough CPU-client threads for 4 devices' collectives (see experiments.common.cli).
os.environ.setdefault("PJRT_NPROC", "16")
# Compiling dominates the suite, and many tests compile the same programs (fresh closures of one
# step, the two xdist workers, the subprocesses of CLI tests). JAX's persistent compilation cache
# in one directory per test run (made by the first process, inherited by workers and
# subprocesses, removed at its end) compiles each program once; it changes no result.
_OWN_XLA_CACHE = "JAX_COMPILATION_CACHE_DIR" not in os.environ
if _OWN_XLA_CACHE:
    os.environ["JAX_COMPILATION_CACHE_DIR"] = tempfile.mkdtemp(prefix="dl_jax_tests_xla_cache_")
os.environ.setdefault("JAX_PERSISTENT_CACHE_MIN_COMPILE_TIME_SECS", "0")

# Test programs are tiny, so compiling them costs far more than running them. Without LLVM
# optimisation and with XLA's classic CPU emitters, compiling is 2-3x faster (test_nmt and
# test_autoencoder: 115 -> 52 s of CPU). Numbers may round differently from an optimised build,
# as they do across CPUs; tests compare within tolerances or within one build. An XLA that does
# not know a flag aborts, so the first test process probes each set once (workers inherit it).
_QUICK_COMPILE_FLAGS = ("--xla_backend_optimization_level=0 --xla_cpu_use_fusion_emitters=false",
                        "--xla_backend_optimization_level=0", "")


def _quick_compile_xla_flags() -> str:
    for flags in _QUICK_COMPILE_FLAGS:
        combined = f"{os.environ.get('XLA_FLAGS', '')} {flags}".strip()
        probe = subprocess.run([sys.executable, "-c", "import jax; jax.jit(abs)(-1.0)"],
                               env={**os.environ, "XLA_FLAGS": combined}, capture_output=True)
        if probe.returncode == 0:
            return combined
    return os.environ.get("XLA_FLAGS", "")


if "DL_JAX_TESTS_XLA_FLAGS" not in os.environ:
    os.environ["XLA_FLAGS"] = os.environ["DL_JAX_TESTS_XLA_FLAGS"] = _quick_compile_xla_flags()

import pytest  # noqa: E402

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))


def pytest_unconfigure(config):
    if _OWN_XLA_CACHE:
        shutil.rmtree(os.environ["JAX_COMPILATION_CACHE_DIR"], ignore_errors=True)


@pytest.fixture(scope="session")
def tfds_dir(tmp_path_factory):
    """One TFDS data_dir per test session (embedded datasets are generated into it once)."""
    path = str(tmp_path_factory.mktemp("tfds"))
    os.environ["TFDS_DATA_DIR"] = path
    return path


@pytest.fixture(scope="session")
def mnist1d(tfds_dir):
    from dl_jax.data import load_dataset

    return load_dataset("mnist1d", data_dir=tfds_dir)


@pytest.fixture(scope="session")
def digits(tfds_dir):
    from dl_jax.data import load_dataset

    return load_dataset("digits", data_dir=tfds_dir)


@pytest.fixture(scope="session")
def subset():
    """``subset(dataset, n_train, n_test=200)``: the first examples of each split."""
    from dl_jax import data as data_lib

    def take(dataset, n_train, n_test=200):
        return data_lib.Dataset(
            name=dataset.name,
            train=data_lib.Split(dataset.train.inputs[:n_train], dataset.train.labels[:n_train]),
            test=data_lib.Split(dataset.test.inputs[:n_test], dataset.test.labels[:n_test]),
            num_classes=dataset.num_classes,
        )

    return take


@pytest.fixture(scope="session")
def tiny_config():
    """``tiny_config(**overrides)``: a short one-device trainer config (MNIST-1D MLP, 40 steps).

    Overrides replace fields (``model_kwargs`` is replaced, not merged); new keys are added.
    """
    from dl_jax.training.trainer import default_config

    def make(**overrides):
        config = default_config()
        config.dataset = "mnist1d"
        config.model = "mlp"
        config.model_kwargs = {"hidden_sizes": (32,)}
        config.batch_size = 32
        config.eval_batch_size = 256
        config.num_steps = 40
        config.log_every_steps = 10
        config.eval_every_steps = 20
        config.checkpoint_every_steps = 20
        config.num_devices = 1
        with config.unlocked():
            for key, value in overrides.items():
                setattr(config, key, value)
        return config

    return make


def read_jsonl(path):
    with open(path) as f:
        return [json.loads(line) for line in f if line.strip()]


def without_wall_time(summary):
    return {k: v for k, v in summary.items() if k != "wall_time_s"}


@pytest.fixture(scope="session")
def run_study(tfds_dir):
    """``run_study(study, args, devices="1", timeout=300)``: ``python -m experiments.<study>``.

    Runs the command as a user would (a subprocess in the repository root) and returns the
    ``subprocess.CompletedProcess`` with text stdout/stderr. ``env`` adds variables (a value of
    None removes one).
    """

    def run(study, args, devices="1", timeout=300, env=None):
        full_env = {**os.environ, "TFDS_DATA_DIR": tfds_dir, "JAX_NUM_CPU_DEVICES": devices,
                    "PYTHONPATH": ROOT, **(env or {})}
        full_env = {k: v for k, v in full_env.items() if v is not None}  # None removes a key
        return subprocess.run([sys.executable, "-m", f"experiments.{study}", *args], cwd=ROOT,
                              env=full_env, capture_output=True, text=True, timeout=timeout)

    return run
