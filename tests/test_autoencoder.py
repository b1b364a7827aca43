import json
import os

import jax
import jax.numpy as jnp
import numpy as np
import optax
import pytest

from dl_jax.errors import UserError
from dl_jax.models.autoencoder import DenseAutoencoder
from dl_jax.training.writers import read_jsonl
from experiments.autoencoder import study
from experiments.common import baselines


def test_hinton_mnist_shape_and_param_count():
    model = DenseAutoencoder(encoder_sizes=(1000, 500, 250), code_size=30, activation="sigmoid",
                             data_shape=(28, 28, 1))
    x = jax.ShapeDtypeStruct((2, 28, 28, 1), jnp.float32)
    variables = jax.eval_shape(lambda x: model.init(jax.random.key(0), x), x)
    count = sum(p.size for p in jax.tree.leaves(variables))
    widths = [784, 1000, 500, 250, 30, 250, 500, 1000, 784]
    assert count == sum(a * b + b for a, b in zip(widths[:-1], widths[1:], strict=True))
    assert count == 2_837_314
    assert jax.eval_shape(lambda v, x: model.apply(v, x), variables, x).shape == (2, 28, 28, 1)
    code = jax.eval_shape(lambda v, x: model.apply(v, x, method=model.encode), variables, x)
    assert code.shape == (2, 30)


def test_code_is_linear_and_output_is_a_sigmoid():
    model = DenseAutoencoder(encoder_sizes=(5, 4), code_size=3, activation="tanh",
                             data_shape=(2, 3))
    x = jax.random.uniform(jax.random.key(1), (7, 2, 3))
    params = jax.jit(model.init)(jax.random.key(0), x)["params"]
    assert params["decoder_layers_0"]["kernel"].shape == (3, 4)  # mirrored widths

    @jax.jit
    def by_hand(x):
        def dense(h, name):
            return h @ params[name]["kernel"] + params[name]["bias"]

        h = jnp.tanh(dense(x.reshape(7, 6), "encoder_layers_0"))
        h = jnp.tanh(dense(h, "encoder_layers_1"))
        code = dense(h, "code_layer")  # no non-linearity on the code (Hinton & Salakhutdinov)
        h = jnp.tanh(dense(code, "decoder_layers_0"))
        h = jnp.tanh(dense(h, "decoder_layers_1"))
        return code, jax.nn.sigmoid(dense(h, "output_layer")).reshape(7, 2, 3)

    @jax.jit
    def by_model(x):
        variables = {"params": params}
        return model.apply(variables, x, method=model.encode), model.apply(variables, x)

    for got, expected in zip(by_model(x), by_hand(x), strict=True):
        np.testing.assert_allclose(got, expected, rtol=1e-5, atol=1e-6)


def test_autoencoder_overfits_a_small_batch(digits):
    x = jnp.asarray(digits.train.inputs[:32])
    model = DenseAutoencoder(encoder_sizes=(64, 32), code_size=8, activation="elu")
    params = model.init(jax.random.key(0), x)["params"]
    tx = optax.adam(3e-3)

    def loss_fn(p):
        return jnp.mean(jnp.square(model.apply({"params": p}, x) - x))

    @jax.jit
    def train(params):
        def step(carry, _):
            p, opt_state = carry
            loss, grads = jax.value_and_grad(loss_fn)(p)
            updates, opt_state = tx.update(grads, opt_state, p)
            return (optax.apply_updates(p, updates), opt_state), loss

        (params, _), losses = jax.lax.scan(step, (params, tx.init(params)), None, length=400)
        return params, losses

    params, losses = train(params)
    final = float(loss_fn(params))
    assert losses[0] > 0.05  # roughly the per-pixel variance of digits at initialisation
    assert final < 2e-3, final
    # PCA with the same 8-D code on those 32 digits is far worse than memorising them.
    assert final < 0.5 * baselines.pca_reconstruction_mse(x, x, 8)


def test_pca_baseline_matches_numpy_svd(digits):
    train = np.asarray(digits.train.inputs[:300], np.float64).reshape(300, -1)
    test = np.asarray(digits.test.inputs[:50], np.float64).reshape(50, -1)
    k = 5
    mean = train.mean(axis=0)
    _, _, vt = np.linalg.svd(train - mean, full_matrices=False)
    basis = vt[:k]
    codes = (test - mean) @ basis.T
    expected_mse = np.mean(np.square(mean + codes @ basis - test))
    mse = baselines.pca_reconstruction_mse(digits.train.inputs[:300],
                                                 digits.test.inputs[:50], k)
    np.testing.assert_allclose(mse, expected_mse, rtol=1e-9)
    got_codes, recon = baselines.pca_codes_and_reconstructions(
        digits.train.inputs[:300], digits.test.inputs[:50], k)
    assert recon.shape == (50, 8, 8, 1)
    np.testing.assert_allclose(np.abs(got_codes), np.abs(codes), atol=1e-9)  # up to sign


AE_OVERRIDES = dict(dataset="digits", model="dense_autoencoder",
                    model_kwargs={"encoder_sizes": (32, 16), "activation": "elu"}, code_size=4,
                    learning_rate=3e-3, num_steps=30, eval_every_steps=30,
                    checkpoint_every_steps=30)


def test_run_autoencoder_end_to_end(digits, subset, tiny_config, tmp_path):
    def ae_config(**overrides):
        return tiny_config(**{**AE_OVERRIDES, **overrides})

    workdir = str(tmp_path)
    small = subset(digits, 200, 60)
    summary = study.run(ae_config(), workdir, dataset=small)
    for name in ("config.json", "metrics.jsonl", "summary.json", "reconstructions.png",
                 "codes_2d.png", "ae_code4/summary.json", "ae_code2/summary.json"):
        assert os.path.exists(os.path.join(workdir, name)), name
    with open(os.path.join(workdir, "summary.json")) as f:
        assert json.load(f)["pca_test_mse"] == summary["pca_test_mse"]
    records = read_jsonl(os.path.join(workdir, "metrics.jsonl"))
    assert [r["code_size"] for r in records] == [4, 2]
    assert summary["code_size"] == 4
    assert summary["pca_test_mse"] == pytest.approx(
        baselines.pca_reconstruction_mse(small.train.inputs, small.test.inputs, 4))
    # More components reconstruct better; every error is below predicting the mean digit.
    baseline = float(np.mean(np.square(small.test.inputs - small.train.inputs.mean(0))))
    assert summary["pca_test_mse"] < summary["pca_test_mse_code2"] < baseline
    assert 0.0 < summary["autoencoder_test_mse"] < 1.2 * baseline
    assert summary["autoencoder_test_sse_per_image"] == pytest.approx(
        64 * summary["autoencoder_test_mse"])
    # The trainer's own test loss is the same per-pixel MSE.
    with open(os.path.join(workdir, "ae_code4", "summary.json")) as f:
        assert json.load(f)["test_loss"] == pytest.approx(summary["autoencoder_test_mse"],
                                                          rel=1e-4)

    # Re-running resumes the finished sub-runs and reproduces the summary.
    again = study.run(ae_config(), workdir, dataset=small)
    assert {k: v for k, v in again.items() if k != "wall_time_s"} == {
        k: v for k, v in summary.items() if k != "wall_time_s"}
    with pytest.raises(UserError, match="different config"):
        study.run(ae_config(code_size=5), workdir, dataset=small)
    other = str(tmp_path / "other")
    with pytest.raises(UserError, match="activation"):
        study.run(ae_config(model_kwargs={"activation": "swish"}), other, dataset=small)
    with pytest.raises(UserError, match="not an autoencoder: choose one of dense_autoencoder"):
        study.run(ae_config(model="mlp"), other, dataset=small)
    assert not os.path.exists(other)  # refused before the workdir was claimed
