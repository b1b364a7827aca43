import json
import os

import jax
import jax.numpy as jnp
import numpy as np
import pytest

from dl_jax.errors import UserError
from dl_jax.models import get_model
from experiments.classic_vs_deep import study


def vertical_bar():
    """An 8x8 image, black except a full-height bar of ones in column 3."""
    image = np.zeros((8, 8))
    image[:, 3] = 1.0
    return image


def test_orientation_histograms_of_a_vertical_bar():
    # Worked by hand (zero padding, gx = I[:, j+1] - I[:, j-1], gy = I[i+1] - I[i-1]):
    # columns 2 and 4 have gx = +1 and -1 on every row (orientation 0 or 180 deg -> bin 0);
    # the bar's two ends (0, 3) and (7, 3) have gy = +1 and -1 (90 deg -> bin 4 of 9).
    # With 4x4 cells every cell gets 4 votes of 1 in bin 0, the two left cells one more in bin 4.
    features = study.gradient_orientation_histograms(vertical_bar()[None], cell_size=4,
                                                              num_bins=9)
    raw = np.zeros((2, 2, 9))
    raw[:, :, 0] = 4.0
    raw[0, 0, 4] = raw[1, 0, 4] = 1.0
    np.testing.assert_allclose(features[0], raw.ravel() / (np.sqrt(66.0) + 1e-6), rtol=1e-12)


def test_orientation_histograms_of_a_diagonal_step_with_2x2_cells():
    # I = 1 where column > row. At (0, 1): gx = I[0,2] - I[0,0]
    # = 1, gy = I[1,1] - 0 = 0 -> bin 0.  At (1, 1): gx = I[1,2] - I[1,0] = 1, gy = I[2,1] -
    # I[0,1] = -1 -> atan2(-1, 1) mod pi = 135 deg -> bin 6 (of 9, 20 deg wide).
    image = np.triu(np.ones((4, 4)), k=1)
    raw = study.gradient_orientation_histograms(image[None], cell_size=2, num_bins=9,
                                                         eps=0.0)
    padded = np.pad(image, 1)
    gx = padded[1:-1, 2:] - padded[1:-1, :-2]
    gy = padded[2:, 1:-1] - padded[:-2, 1:-1]
    assert (gx[0, 1], gy[0, 1]) == (1.0, 0.0) and (gx[1, 1], gy[1, 1]) == (1.0, -1.0)
    expected = np.zeros((2, 2, 9))
    for i in range(4):
        for j in range(4):
            if gx[i, j] or gy[i, j]:
                angle = np.degrees(np.arctan2(gy[i, j], gx[i, j])) % 180.0
                expected[i // 2, j // 2, int(angle // 20) % 9] += np.hypot(gx[i, j], gy[i, j])
    assert expected[0, 0, 6] == np.sqrt(2.0) and expected[0, 0, 0] == 2.0  # (0,0), (0,1)
    expected = expected.ravel() / np.linalg.norm(expected)
    np.testing.assert_allclose(raw[0], expected, rtol=1e-12)


def test_hand_crafted_features_layout():
    image = vertical_bar()
    profiles = study.projection_profiles(image[None, :, :, None])
    np.testing.assert_array_equal(profiles[0, :8], np.full(8, 1 / 8))  # row means
    np.testing.assert_array_equal(profiles[0, 8:], np.eye(8)[3])  # column means
    features = study.hand_crafted_features(np.stack([image, image.T]))
    assert features.shape == (2, 4 * 4 * 9 + 16)  # defaults: 2x2-pixel cells, 9 bins
    np.testing.assert_array_equal(features[0, -16:], profiles[0])
    np.testing.assert_allclose(np.linalg.norm(features[:, :144], axis=1), 1.0, rtol=1e-6)
    with pytest.raises(ValueError, match="multiple"):
        study.gradient_orientation_histograms(np.zeros((1, 6, 6)), cell_size=4)


def test_digits_cnn_shapes_and_param_count():
    model = get_model("digits_cnn", 10)
    x = jax.ShapeDtypeStruct((3, 8, 8, 1), jnp.float32)
    variables = jax.eval_shape(lambda x: model.init(jax.random.key(0), x), x)
    # conv 1->32, conv 32->32, conv 32->64 (3x3), dense 2*2*64->128, dense 128->10.
    expected = (9 * 32 + 32) + (9 * 32 * 32 + 32) + (9 * 32 * 64 + 64) + (256 * 128 + 128) + 1290
    assert sum(p.size for p in jax.tree.leaves(variables)) == expected == 62_250
    assert jax.eval_shape(lambda v, x: model.apply(v, x), variables, x).shape == (3, 10)


CVD_OVERRIDES = dict(dataset="digits", model="digits_cnn",
                     model_kwargs={"channels": (8, 16), "hidden": 32, "dropout_rate": 0.0},
                     learning_rate=3e-3, num_steps=60, log_every_steps=20, eval_every_steps=60,
                     checkpoint_every_steps=60, cv_folds=2, hog_cell_size=2, hog_num_bins=9)


def test_run_classic_vs_deep_end_to_end(digits, subset, tiny_config, tmp_path):
    def cvd_config(**overrides):
        return tiny_config(**{**CVD_OVERRIDES, **overrides})

    workdir = str(tmp_path)
    small = subset(digits, 300, 100)
    summary = study.run(cvd_config(), workdir, dataset=small)
    rows = {(r["method"], r["features"]): r for r in summary["results"]}
    assert len(rows) == 5
    for method in ("logistic regression", "SVM (RBF)"):
        for features in study.FEATURE_SETS:
            row = rows[(method, features)]
            # 300 digits are plenty for the classic pipelines (chance is 10 %).
            assert row["test_accuracy"] > 0.85, row
            assert set(row["best_params"]) <= {"C", "gamma"} and "C" in row["best_params"]
    assert rows[("logistic regression", "raw pixels")]["num_features"] == 64
    assert rows[("SVM (RBF)", study.FEATURE_SETS[1])]["num_features"] == 160
    assert summary["svm_handcrafted_test_accuracy"] == rows[
        ("SVM (RBF)", study.FEATURE_SETS[1])]["test_accuracy"]
    assert 0.3 < summary["cnn_test_accuracy"] <= 1.0  # 60 steps: well above chance
    with open(os.path.join(workdir, "cnn", "summary.json")) as f:
        assert json.load(f)["test_accuracy"] == summary["cnn_test_accuracy"]
    with open(os.path.join(workdir, "summary.json")) as f:
        assert json.load(f)["results"] == summary["results"]
    with open(os.path.join(workdir, "metrics.jsonl")) as f:
        assert len(f.readlines()) == 5
    with open(os.path.join(workdir, "table.md")) as f:
        table = f.read()
    assert table == study.markdown_table(summary["results"])
    assert table.count("\n") == 7 and "| CNN | learned end to end | 64 |" in table
    with pytest.raises(UserError, match="hog_cell_size"):
        study.run(cvd_config(hog_cell_size=3), str(tmp_path / "x"), dataset=small)
    with pytest.raises(UserError, match="choose one of digits_cnn"):
        study.run(cvd_config(model="mlp"), str(tmp_path / "x"), dataset=small)
    assert not os.path.exists(str(tmp_path / "x"))  # refused before the workdir was claimed
