"""Adding problem and copy task: data (dl_jax.data.synthetic), objectives, baselines, tiny runs
(experiments.adding_problem, experiments.copy_task)."""

import json
import math
import os

import jax
import jax.numpy as jnp
import numpy as np
import pytest

from dl_jax.data import synthetic as st
from dl_jax.errors import UserError
from experiments.adding_problem import config as adding_config
from experiments.adding_problem import study as adding
from experiments.copy_task import config as copy_config
from experiments.copy_task import study as copy


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
    metrics = adding.adding_per_example(outputs, targets)
    # |errors| = 0.02, 0.05, 0.03, 0.0399, 0.0401 -> inside, outside, inside, inside, outside.
    np.testing.assert_array_equal(metrics["within_0.04"], [1.0, 0.0, 1.0, 1.0, 0.0])
    np.testing.assert_allclose(metrics["squared_error"],
                               [0.02**2, 0.05**2, 0.03**2, 0.0399**2, 0.0401**2], rtol=1e-4)
    np.testing.assert_array_equal(metrics["loss"], metrics["squared_error"])


def test_constant_baseline_by_hand_and_in_theory():
    hand = adding.constant_baseline(np.array([1.0, 1.03, 0.5, 1.5]))
    assert hand["mse"] == pytest.approx((0.03**2 + 0.25 + 0.25) / 4)
    assert hand["within_0.04"] == 0.5
    _, targets = st.adding_problem(jax.random.key(1), 40_000, 4)
    measured = adding.constant_baseline(targets)
    assert measured["mse"] == pytest.approx(adding.ADDING_CONSTANT_MSE, abs=0.005)
    assert measured["within_0.04"] == pytest.approx(adding.ADDING_CONSTANT_WITHIN, abs=0.006)
    assert adding.ADDING_CONSTANT_WITHIN == pytest.approx(0.0784)


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
    objective = copy.copy_objective(k)
    perfect = objective.per_example(50.0 * jax.nn.one_hot(targets, vocab), jnp.asarray(targets))
    np.testing.assert_allclose(perfect["symbol_accuracy"], 1.0)
    np.testing.assert_allclose(perfect["sequence_accuracy"], 1.0)
    assert float(jnp.max(perfect["loss"])) < 1e-6
    # Memoryless: certain blank before the symbols, uniform over the data symbols after.
    logits = np.full((16, 2 * k + d, vocab), -1e4, np.float32)
    logits[:, :k + d, st.BLANK] = 0.0
    logits[:, k + d:, 1:a + 1] = 0.0
    blind = objective.per_example(jnp.asarray(logits), jnp.asarray(targets))
    baseline = copy.copy_memoryless_baseline(k, d, a)
    np.testing.assert_allclose(blind["symbol_cross_entropy"], math.log(a), rtol=1e-5)
    np.testing.assert_allclose(blind["loss"], baseline["loss"], rtol=1e-5)
    assert baseline["symbol_accuracy"] == 1 / a


SHORT = {"num_steps": 200, "log_every_steps": 100, "eval_every_steps": 200,
         "checkpoint_every_steps": 200}


def _short(config, **overrides):
    """The study's own config, shortened (fields are set through the locked-config API)."""
    for key, value in {**SHORT, **overrides}.items():
        setattr(config, key, value)
    return config


def _adding_config(**overrides):
    config = _short(adding_config.get_config(), seq_len=6, num_train=4096, num_test=500,
                    batch_size=64, eval_batch_size=500)
    config.model_kwargs.features = 16
    for key, value in overrides.items():
        setattr(config, key, value)
    return config


def test_adding_run_learns_a_short_sequence_and_records_the_baseline(tmp_path):
    summary = adding.run(_adding_config(), str(tmp_path))
    assert summary["baseline_test_mse"] == pytest.approx(1 / 6, abs=0.03)
    assert summary["test_squared_error"] < 0.2 * summary["baseline_test_mse"]
    assert summary["beats_baseline"]
    assert 0.0 <= summary["test_within_0.04"] <= 1.0
    with open(os.path.join(tmp_path, "summary.json")) as f:
        assert json.load(f)["solved"] == summary["solved"]
    with open(os.path.join(tmp_path, "config.json")) as f:  # unroll resolved for this backend
        assert json.load(f)["model_kwargs"]["unroll"] == 1


@pytest.mark.parametrize("field, value, message", [
    ("model", "mlp", "choose one of gru, lstm, rnn"),
    ("dataset", "mnist1d", "choose config.dataset='adding'"),
])
def test_adding_run_refuses_another_model_or_dataset(tmp_path, field, value, message):
    with pytest.raises(UserError, match=message):
        adding.run(_adding_config(**{field: value}), str(tmp_path))
    assert not os.listdir(tmp_path)  # refused before anything is written


def test_config_variants_name_the_model():
    assert adding_config.get_config("gru").model == "gru"
    assert copy_config.get_config("rnn").model == "rnn"
    for module in (adding_config, copy_config):
        with pytest.raises(UserError, match="choose one of lstm, gru, rnn"):
            module.get_config("transformer")


def test_copy_run_end_to_end(tmp_path):
    config = _short(copy_config.get_config("gru"), num_steps=20, log_every_steps=10,
                    eval_every_steps=20, checkpoint_every_steps=20, num_train=4096, num_test=64,
                    batch_size=64, num_symbols=3, delay=2, alphabet=4)
    config.model_kwargs.features = 16
    assert config.model_kwargs.vocab_size == 6  # follows the alphabet: blank, 4 symbols, marker
    summary = copy.run(config, str(tmp_path))
    assert summary["sequence_length"] == 8
    assert summary["baseline_symbol_accuracy"] == 0.25
    for name in ("test_symbol_accuracy", "test_symbol_cross_entropy", "test_sequence_accuracy"):
        assert np.isfinite(summary[name])
    config.dataset = "adding"
    with pytest.raises(UserError, match="choose config.dataset='copy'"):
        copy.run(config, str(tmp_path / "other"))
    config.dataset = "copy"
    config.model_kwargs.vocab_size = 5
    with pytest.raises(UserError, match="vocab_size must be alphabet"):
        copy.run(config, str(tmp_path / "other"))
