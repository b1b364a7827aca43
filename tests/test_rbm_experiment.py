"""The RBM digits study: nudging, end-to-end run, exact resume, refused config changes."""

import os

import jax
import numpy as np
import pytest

from dl_jax.errors import UserError
from dl_jax.training.checkpoints import Checkpointer
from dl_jax.training.writers import read_jsonl
from experiments.common import baselines
from experiments.rbm import study


def test_nudge_images_shifts_by_one_pixel_with_zero_fill():
    image = np.arange(1, 10, dtype=np.float32).reshape(1, 3, 3)
    up, down, left, right = study.nudge_images(image)[1:]
    np.testing.assert_array_equal(up, [[4, 5, 6], [7, 8, 9], [0, 0, 0]])
    np.testing.assert_array_equal(down, [[0, 0, 0], [1, 2, 3], [4, 5, 6]])
    np.testing.assert_array_equal(left, [[2, 3, 0], [5, 6, 0], [8, 9, 0]])
    np.testing.assert_array_equal(right, [[0, 1, 2], [0, 4, 5], [0, 7, 8]])
    batch = np.zeros((2, 3, 3, 1))
    assert study.nudge_images(batch).shape == (10, 3, 3, 1)


def test_cv_folds_follow_the_seed():
    # Two well separated classes: every C scores perfectly, so the choice is the tie-break
    # (smallest C); the folds themselves are a permutation drawn from the seed.
    rng = np.random.default_rng(0)
    labels = np.repeat([0, 1], 12)
    features = (labels[:, None] * 4.0 + rng.standard_normal((24, 3)))[None]
    best, scores = baselines.select_c_by_cv(features, labels, (10.0, 1.0), folds=3, seed=0)
    assert best == 1.0 and set(scores) == {1.0, 10.0}
    noisy = rng.standard_normal((1, 24, 3))
    by_seed = [baselines.select_c_by_cv(noisy, labels, (0.01,), folds=3, seed=s)[1][0.01]
               for s in range(4)]
    assert len(set(by_seed)) > 1  # different folds, different validation scores


def rbm_config(**overrides):
    from experiments.rbm.config import get_config

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
    for key, value in overrides.items():
        setattr(config, key, value)
    return config


def test_gaussian_visible_run(digits, subset, tmp_path):
    # The Gaussian-Bernoulli variant: standardised pixels, no pseudo-log-likelihood, a test
    # log-density from AIS, and the features still beat chance by far.
    from experiments.rbm.config import get_config

    assert get_config("gaussian").visible == "gaussian"
    with pytest.raises(UserError, match="unknown variant 'poisson'.*choose one of gaussian"):
        get_config("poisson")
    config = rbm_config(visible="gaussian", learning_rate=0.01)
    small = subset(digits, 300, 120)
    summary = study.run(config, str(tmp_path / "gaussian"), dataset=small)
    assert 0.7 < summary["rbm_features_test_accuracy"] <= 1.0
    assert "pll_test" not in summary
    records = read_jsonl(str(tmp_path / "gaussian" / "metrics.jsonl"))
    assert all("pll_train" not in r for r in records)
    assert np.isfinite(summary["test_log_likelihood"]) and np.isfinite(summary["ais_log_z"])
    config.visible = "poisson"
    with pytest.raises(UserError, match="config.visible"):
        study.run(config, str(tmp_path / "bad"), dataset=small)


def restore_final(workdir, template):
    checkpointer = Checkpointer(os.path.join(workdir, "checkpoints"))
    try:
        return checkpointer.latest_step(), checkpointer.restore(template)
    finally:
        checkpointer.close()


def test_run_end_to_end_resumes_exactly(digits, subset, tmp_path):
    dataset = subset(digits, 300, 120)
    config = rbm_config()
    straight = str(tmp_path / "straight")
    summary = study.run(config, straight, dataset=dataset)
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
    # Orbax checkpoints, the newest two kept; no .npz anywhere.
    assert sorted(os.listdir(os.path.join(straight, "checkpoints"))) == ["2", "3"]
    assert not [f for _, _, files in os.walk(straight) for f in files if f.endswith(".npz")]

    # Interrupted after 2 epochs, then resumed: same metrics, params and summary.
    resumed = str(tmp_path / "resumed")
    config.stop_after_epochs = 2
    assert study.run(config, resumed, dataset=dataset) == {}
    assert len(read_jsonl(os.path.join(resumed, "metrics.jsonl"))) == 2
    config.stop_after_epochs = 0
    summary_resumed = study.run(config, resumed, dataset=dataset)
    drop_times = lambda rs: [{k: v for k, v in r.items() if k != "epoch_time_s"} for r in rs]  # noqa: E731
    assert drop_times(read_jsonl(os.path.join(resumed, "metrics.jsonl"))) == drop_times(records)
    assert {k: v for k, v in summary.items() if k != "wall_time_s"} == {
        k: v for k, v in summary_resumed.items() if k != "wall_time_s"}
    template = study._initial_state(config, study._prepare_data(config, dataset).train_x,
                                    jax.random.key(config.seed))
    (step_a, a), (step_b, b) = restore_final(straight, template), restore_final(resumed, template)
    assert step_a == step_b == 3 and set(a) == {"params", "velocity", "chain"}
    jax.tree.map(np.testing.assert_array_equal, a, b)

    config.n_hidden = 33
    with pytest.raises(UserError, match="different config"):
        study.run(config, straight, dataset=dataset)
