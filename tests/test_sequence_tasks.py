"""Adding problem and copy task (dl_jax.sequence_tasks): data layout, metrics, tiny runs."""

import json
import math
import os

import jax
import jax.numpy as jnp
import ml_collections
import numpy as np
import pytest

from dl_jax import sequence_tasks as st
from dl_jax.errors import UserError
from dl_jax.training.trainer import default_config


def test_adding_sequences_have_two_markers_one_per_half_and_the_sum_target():
    for seq_len in (20, 21):
        inputs, targets = st.adding_problem(jax.random.key(3), 500, seq_len)
        assert inputs.shape == (500, seq_len, 2) and targets.shape == (500,)
        assert inputs.dtype == np.float32 and targets.dtype == np.float32
        values, markers = inputs[..., 0], inputs[..., 1]
        assert values.min() >= 0.0 and values.max() < 1.0
        assert set(np.unique(markers)) == {0.0, 1.0}
        half = seq_len // 2
        np.testing.assert_array_equal(markers[:, :half].sum(1), 1.0)
        np.testing.assert_array_equal(markers[:, half:].sum(1), 1.0)
        first = markers[:, :half].argmax(1)
        second = half + markers[:, half:].argmax(1)
        rows = np.arange(500)
        np.testing.assert_allclose(targets, values[rows, first] + values[rows, second], rtol=1e-6)
        # Every position of each half is used (uniform positions, not a fixed one).
        assert len(np.unique(first)) == half and len(np.unique(second)) == seq_len - half


def test_adding_data_is_a_pure_function_of_the_key_and_splits_differ():
    a = st.adding_problem(jax.random.key(0), 10_000, 8)  # crosses a generator chunk boundary
    b = st.adding_problem(jax.random.key(0), 10_000, 8)
    np.testing.assert_array_equal(a[0], b[0])
    # Chunks do not repeat each other's sequences.
    assert len(np.unique(a[0][..., 0], axis=0)) == 10_000
    dataset = st.adding_dataset(0, 8, 50, 50)
    assert dataset.num_classes == 1 and dataset.input_shape == (8, 2)
    assert not np.array_equal(dataset.train.inputs, dataset.test.inputs)


def test_within_tolerance_metric_matches_a_hand_computation():
    outputs = jnp.array([[1.0], [1.05], [0.97], [0.5], [0.25]])
    targets = jnp.array([1.02, 1.0, 1.0, 0.5399, 0.2099])
    metrics = st.adding_per_example(outputs, targets)
    # |errors| = 0.02, 0.05, 0.03, 0.0399, 0.0401 -> inside, outside, inside, inside, outside.
    np.testing.assert_array_equal(metrics["within_0.04"], [1.0, 0.0, 1.0, 1.0, 0.0])
    np.testing.assert_allclose(metrics["squared_error"],
                               [0.02**2, 0.05**2, 0.03**2, 0.0399**2, 0.0401**2], rtol=1e-4)
    np.testing.assert_array_equal(metrics["loss"], metrics["squared_error"])


def test_constant_baseline_by_hand_and_in_theory():
    hand = st.constant_baseline(np.array([1.0, 1.03, 0.5, 1.5]))
    assert hand["mse"] == pytest.approx((0.03**2 + 0.25 + 0.25) / 4)
    assert hand["within_0.04"] == 0.5
    _, targets = st.adding_problem(jax.random.key(1), 40_000, 4)
    measured = st.constant_baseline(targets)
    assert measured["mse"] == pytest.approx(st.ADDING_CONSTANT_MSE, abs=0.005)
    assert measured["within_0.04"] == pytest.approx(st.ADDING_CONSTANT_WITHIN, abs=0.006)
    assert st.ADDING_CONSTANT_WITHIN == pytest.approx(0.0784)


def test_copy_task_layout():
    k, d, a = 4, 5, 6
    inputs, targets = st.copy_task(jax.random.key(0), 300, k, d, alphabet=a)
    assert inputs.shape == targets.shape == (300, 2 * k + d)
    symbols = inputs[:, :k]
    assert symbols.min() == 1 and symbols.max() == a
    np.testing.assert_array_equal(inputs[:, k:k + d - 1], st.BLANK)
    np.testing.assert_array_equal(inputs[:, k + d - 1], a + 1)  # the marker
    np.testing.assert_array_equal(inputs[:, k + d:], st.BLANK)
    np.testing.assert_array_equal(targets[:, :k + d], st.BLANK)
    np.testing.assert_array_equal(targets[:, k + d:], symbols)
    assert st.copy_vocab_size(a) == a + 2


def test_copy_objective_perfect_and_memoryless_predictions():
    k, d, a = 3, 4, 8
    inputs, targets = st.copy_task(jax.random.key(2), 16, k, d, alphabet=a)
    vocab = st.copy_vocab_size(a)
    objective = st.copy_objective(k)
    perfect = objective.per_example(50.0 * jax.nn.one_hot(targets, vocab), jnp.asarray(targets))
    np.testing.assert_allclose(perfect["symbol_accuracy"], 1.0)
    np.testing.assert_allclose(perfect["sequence_accuracy"], 1.0)
    assert float(jnp.max(perfect["loss"])) < 1e-6
    # Memoryless: certain blank before the symbols, uniform over the data symbols after.
    logits = np.full((16, 2 * k + d, vocab), -1e4, np.float32)
    logits[:, :k + d, st.BLANK] = 0.0
    logits[:, k + d:, 1:a + 1] = 0.0
    blind = objective.per_example(jnp.asarray(logits), jnp.asarray(targets))
    baseline = st.copy_memoryless_baseline(k, d, a)
    np.testing.assert_allclose(blind["symbol_cross_entropy"], math.log(a), rtol=1e-5)
    np.testing.assert_allclose(blind["loss"], baseline["loss"], rtol=1e-5)
    assert baseline["symbol_accuracy"] == 1 / a


def _adding_config(**overrides):
    config = default_config()
    config.dataset = "adding"
    config.model = "lstm"
    config.model_kwargs = ml_collections.ConfigDict({"features": 16, "num_layers": 1})
    config.seq_len = 6
    config.num_train = 4096
    config.num_test = 500
    config.data_seed = 0
    config.learning_rate = 1e-2
    config.grad_clip_norm = 1.0
    config.batch_size = 64
    config.eval_batch_size = 500
    config.num_steps = 200
    config.log_every_steps = 100
    config.eval_every_steps = 200
    config.checkpoint_every_steps = 200
    config.parallel = "none"
    config.num_devices = 1
    for key, value in overrides.items():
        setattr(config, key, value)
    return config


def test_adding_run_learns_a_short_sequence_and_records_the_baseline(tmp_path):
    summary = st.run_adding_problem(_adding_config(), str(tmp_path))
    assert summary["baseline_test_mse"] == pytest.approx(1 / 6, abs=0.03)
    assert summary["test_squared_error"] < 0.2 * summary["baseline_test_mse"]
    assert summary["beats_baseline"]
    assert 0.0 <= summary["test_within_0.04"] <= 1.0
    with open(os.path.join(tmp_path, "summary.json")) as f:
        assert json.load(f)["solved"] == summary["solved"]
    with pytest.raises(UserError, match="model"):
        st.run_adding_problem(_adding_config(model="transformer"), str(tmp_path / "other"))


def test_copy_run_end_to_end(tmp_path):
    config = _adding_config(num_steps=20, log_every_steps=10, eval_every_steps=20,
                            checkpoint_every_steps=20, model="gru", num_test=64)
    config.num_symbols, config.delay, config.alphabet = 3, 2, 4
    summary = st.run_copy_task(config, str(tmp_path))
    assert summary["sequence_length"] == 8
    assert summary["baseline_symbol_accuracy"] == 0.25
    for name in ("test_symbol_accuracy", "test_symbol_cross_entropy", "test_sequence_accuracy"):
        assert np.isfinite(summary[name])
