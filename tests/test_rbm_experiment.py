"""The RBM digits experiment: nudging, end-to-end run, exact resume, refused config changes."""

import json
import os

import numpy as np
import pytest

from dl_jax import data as data_lib
from dl_jax import rbm_experiment
from dl_jax.errors import UserError


def test_nudge_images_shifts_by_one_pixel_with_zero_fill():
    image = np.arange(1, 10, dtype=np.float32).reshape(1, 3, 3)
    up, down, left, right = rbm_experiment.nudge_images(image)[1:]
    np.testing.assert_array_equal(up, [[4, 5, 6], [7, 8, 9], [0, 0, 0]])
    np.testing.assert_array_equal(down, [[0, 0, 0], [1, 2, 3], [4, 5, 6]])
    np.testing.assert_array_equal(left, [[2, 3, 0], [5, 6, 0], [8, 9, 0]])
    np.testing.assert_array_equal(right, [[0, 1, 2], [0, 4, 5], [0, 7, 8]])
    batch = np.zeros((2, 3, 3, 1))
    assert rbm_experiment.nudge_images(batch).shape == (10, 3, 3, 1)


def small_digits(digits):
    # A stratified-enough slice keeps the logistic regressions fast.
    return data_lib.Dataset(
        name="digits",
        train=data_lib.Split(digits.train.inputs[:300], digits.train.labels[:300]),
        test=data_lib.Split(digits.test.inputs[:120], digits.test.labels[:120]),
        num_classes=10,
    )


def tiny_config():
    from experiments.configs.rbm import get_config

    config = get_config()
    config.n_hidden = 32
    config.epochs = 3
    config.ais_every_epochs = 2
    config.ais_chains = 16
    config.ais_betas = 100
    config.num_samples = 4
    config.gibbs_steps = 5
    config.rbm_c = 1000.0
    config.raw_c = 1.0
    return config


def read_jsonl(path):
    with open(path) as f:
        return [json.loads(line) for line in f]


def test_gaussian_visible_run(digits, tmp_path):
    # The Gaussian-Bernoulli variant: standardised pixels, no pseudo-log-likelihood, a test
    # log-density from AIS, and the features still beat chance by far.
    config = tiny_config()
    config.visible = "gaussian"
    config.learning_rate = 0.01
    summary = rbm_experiment.run(config, str(tmp_path / "gaussian"), dataset=small_digits(digits))
    assert 0.7 < summary["rbm_features_test_accuracy"] <= 1.0
    assert "pll_test" not in summary
    records = read_jsonl(str(tmp_path / "gaussian" / "metrics.jsonl"))
    assert all("pll_train" not in r for r in records)
    assert np.isfinite(summary["test_log_likelihood"]) and np.isfinite(summary["ais_log_z"])
    config.visible = "poisson"
    with pytest.raises(UserError, match="config.visible"):
        rbm_experiment.run(config, str(tmp_path / "bad"), dataset=small_digits(digits))


def test_run_end_to_end_resumes_exactly(digits, tmp_path):
    dataset = small_digits(digits)
    config = tiny_config()
    straight = str(tmp_path / "straight")
    summary = rbm_experiment.run(config, straight, dataset=dataset)
    for name in ("config.json", "metrics.jsonl", "summary.json", "samples.png", "filters.png"):
        assert os.path.exists(os.path.join(straight, name)), name
    assert summary["num_train_rows"] == 5 * 300
    assert 0.7 < summary["rbm_features_test_accuracy"] <= 1.0
    assert 0.7 < summary["raw_pixels_test_accuracy"] <= 1.0
    records = read_jsonl(os.path.join(straight, "metrics.jsonl"))
    assert [r["step"] for r in records] == [1, 2, 3]
    assert ["ais_log_z" in r for r in records] == [False, True, True]
    assert all(np.isfinite(r["pll_test"]) and r["pll_test"] < 0 for r in records)
    assert summary["test_log_likelihood"] == records[-1]["test_log_likelihood"]

    # Interrupted after 2 epochs, then resumed: same metrics, params and summary.
    resumed = str(tmp_path / "resumed")
    config.stop_after_epochs = 2
    assert rbm_experiment.run(config, resumed, dataset=dataset) == {}
    assert len(read_jsonl(os.path.join(resumed, "metrics.jsonl"))) == 2
    config.stop_after_epochs = 0
    summary_resumed = rbm_experiment.run(config, resumed, dataset=dataset)
    drop_times = lambda rs: [{k: v for k, v in r.items() if k != "epoch_time_s"} for r in rs]  # noqa: E731
    assert drop_times(read_jsonl(os.path.join(resumed, "metrics.jsonl"))) == drop_times(records)
    for a, b in ((summary, summary_resumed),):
        assert {k: v for k, v in a.items() if k != "wall_time_s"} == {
            k: v for k, v in b.items() if k != "wall_time_s"}
    final = "checkpoints/epoch_00003.npz"
    with np.load(os.path.join(straight, final)) as a, np.load(os.path.join(resumed, final)) as b:
        for name in a.files:
            np.testing.assert_array_equal(a[name], b[name])

    config.n_hidden = 33
    with pytest.raises(UserError, match="different config"):
        rbm_experiment.run(config, straight, dataset=dataset)
