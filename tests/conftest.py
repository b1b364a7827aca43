"""Test session setup: four CPU devices (multi-device tests), quiet logs, shared fixtures."""

import os

# Must precede the first jax import: every test process sees 4 CPU devices, so data-parallel
# equivalence is tested in-process. Single-device tests pin config.num_devices = 1.
os.environ.setdefault("JAX_NUM_CPU_DEVICES", "4")
os.environ.setdefault("JAX_PLATFORMS", "cpu")

import pytest  # noqa: E402


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
