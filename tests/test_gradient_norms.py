"""The gradient-norm study (experiments.gradient_norms): spectra, the sigma_max^k bound, LSTM."""

import json
import math
import os

import jax
import jax.numpy as jnp
import numpy as np
import pytest

from dl_jax import gradients
from dl_jax.errors import UserError
from dl_jax.models.recurrent import LSTMCell
from experiments.gradient_norms import study
from experiments.gradient_norms.config import get_config

H, D = 6, 3
# One input shape for every rnn_log_norms call below, so the tests share one compilation.
XS_SHAPE = (3, 40, D)


@pytest.mark.parametrize("kind", ["orthogonal", "gaussian"])
@pytest.mark.parametrize("sigma", [0.5, 1.0, 2.0])
def test_scaled_matrix_has_exactly_the_requested_sigma_max(kind, sigma):
    w = gradients.scaled_recurrent_matrix(jax.random.key(4), 16, sigma, kind)
    singular = np.linalg.svd(w, compute_uv=False)
    assert singular[0] == pytest.approx(sigma, rel=1e-12)
    spectrum = gradients.matrix_spectrum(w)
    assert spectrum["sigma_max"] == pytest.approx(sigma, rel=1e-12)
    if kind == "orthogonal":
        np.testing.assert_allclose(singular, sigma, rtol=1e-12)
        assert spectrum["spectral_radius"] == pytest.approx(sigma, rel=1e-9)
    else:
        assert spectrum["spectral_radius"] < 0.9 * sigma


def _rnn_params(sigma, kind="gaussian", input_scale=1.0):
    keys = jax.random.split(jax.random.key(7), 3)
    w = gradients.scaled_recurrent_matrix(keys[0], H, sigma, kind)
    readout = jax.random.normal(keys[2], (H,), jnp.float64)
    return {"U": input_scale * jax.random.normal(keys[1], (H, D), jnp.float64),
            "W": jnp.asarray(w), "v": readout / jnp.linalg.norm(readout)}


def test_log_norms_match_explicit_jacobians():
    with jax.enable_x64(True):
        params = _rnn_params(1.3)
        xs = jax.random.normal(jax.random.key(1), XS_SHAPE, jnp.float64)
        norms = jax.device_get(study.rnn_log_norms(params, xs))
        states = jax.lax.scan(lambda s, x: (gradients.rnn_step(params, s, x),) * 2,
                              jnp.zeros(H), xs[1])[1]
        length = XS_SHAPE[1]
        for t in (0, 7, length - 2, length - 1):
            def final_state(state, t=t):
                return _roll(params, state, xs[1, t + 1:])

            grad = jax.grad(lambda s, f=final_state: f(s) @ params["v"])(states[t])
            assert norms["state"][1, t] == pytest.approx(
                math.log10(float(jnp.linalg.norm(grad))), abs=1e-10)
            jac = np.asarray(jax.jacobian(final_state)(states[t]))
            assert norms["jacobian"][1, t] == pytest.approx(
                math.log10(float(np.linalg.norm(jac, 2))), abs=1e-10)
        assert norms["weight"][1, 0] == -np.inf  # s_{-1} = 0: no dE/dW term at t = 0


def _roll(params, state, xs):
    for x_t in xs:
        state = gradients.rnn_step(params, state, x_t)
    return state


@pytest.mark.parametrize("sigma", [0.8, 1.6])
def test_sigma_max_power_bound_holds_at_every_distance(sigma):
    with jax.enable_x64(True):
        params = _rnn_params(sigma)
        xs = jax.random.normal(jax.random.key(2), XS_SHAPE, jnp.float64)
        norms = jax.device_get(study.rnn_log_norms(params, xs))
    for name in ("state", "jacobian"):
        margin = gradients.bound_margin(gradients.by_distance(norms[name]), sigma)
        assert margin <= study.BOUND_TOLERANCE


def test_weakly_driven_orthogonal_rnn_decays_at_the_bound_rate():
    # With tanh' ~ 1 the bound is attained: a wrong sigma_max or norm would show here.
    with jax.enable_x64(True):
        params = _rnn_params(0.8, "orthogonal", input_scale=1e-3)
        xs = jax.random.normal(jax.random.key(3), XS_SHAPE, jnp.float64)
        norms = study.rnn_log_norms(params, xs)
    rate, _ = gradients.fit_rate(gradients.by_distance(np.asarray(norms["state"])))
    assert rate == pytest.approx(math.log10(0.8), abs=2e-3)


def test_fit_rate_and_bound_margin_on_exact_lines():
    line = 2.0 - 0.25 * np.arange(10.0)
    rate, intercept = gradients.fit_rate(np.stack([line, line]))
    assert rate == pytest.approx(-0.25) and intercept == pytest.approx(2.0)
    with_gap = np.where(np.arange(10) == 3, -np.inf, line)  # -inf entries are skipped
    assert gradients.fit_rate(with_gap)[0] == pytest.approx(-0.25)
    assert gradients.bound_margin(line, 10**-0.25, log10_start=1.5) == pytest.approx(0.5)
    np.testing.assert_array_equal(gradients.by_distance(np.array([[1, 2, 3]])), [[3, 2, 1]])


def test_lstm_large_forget_bias_decays_slower_than_negative_bias():
    cell = LSTMCell(H)
    with jax.enable_x64(True):
        xs = jax.random.normal(jax.random.key(5), (2, 40, D), jnp.float64)
        zeros = jnp.zeros(H, jnp.float64)
        params = cell.init(jax.random.key(6), (zeros, zeros), xs[0, 0])["params"]
        readout = jnp.ones(H, jnp.float64) / math.sqrt(H)
        rates, forget = {}, {}
        for bias in (-2.0, 5.0):
            params["forget"]["bias"] = jnp.full(H, bias, jnp.float64)
            norms = jax.device_get(study.lstm_log_norms(params, readout, xs))
            rates[bias] = gradients.fit_rate(gradients.by_distance(norms["state"]))[0]
            forget[bias] = float(np.mean(norms["log10_forget"]))
    assert rates[5.0] > rates[-2.0] + 0.2
    # Alive: within a few hundredths of a decade per step of 0 (the h path adds slight growth).
    assert -study.ALIVE_RATE < rates[5.0] < 0.03
    assert forget[5.0] > -0.01 and forget[-2.0] < -0.5


def _tiny_study_config():
    config = get_config()
    config.seq_len = 30
    config.hidden_size = 4
    config.input_size = 2
    config.num_sequences = 2
    config.sigma_values = (0.5, 1.0, 2.0)
    config.forget_biases = (-2.0, 1.0, 5.0)
    config.compare_biases = (5.0,)
    return config


def test_study_end_to_end_writes_outputs_and_restores_precision(tmp_path):
    x64_before = bool(jax.config.jax_enable_x64)
    config = _tiny_study_config()
    summary = study.run(config, str(tmp_path))
    assert bool(jax.config.jax_enable_x64) == x64_before
    for name in ("config.json", "metrics.jsonl", "summary.json", "grad_norms.npz",
                 "rnn_spectral_sweep.png", "lstm_forget_bias_sweep.png", "rnn_vs_lstm.png"):
        assert os.path.exists(tmp_path / name), name
    checks = summary["pascanu"]
    assert checks["bound_holds_everywhere"]
    assert checks["lstm_negative_bias_vanishes"] and checks["lstm_rate_increases_with_bias"]
    assert len(summary["rnn"]) == 6 and len(summary["lstm"]) == 3
    arrays = np.load(tmp_path / "grad_norms.npz")
    assert arrays["rnn_orthogonal_sigma0.5_state"].shape == (2, 30)
    assert arrays["rnn_orthogonal_sigma0.5_state"].dtype == np.float64
    # Norms far below float32's range are resolved (0.5^29 ~ 1e-9 at least; here far less).
    assert arrays["lstm_bias-2_state"][:, -1].max() < -10
    with open(tmp_path / "metrics.jsonl") as f:
        assert len([json.loads(line) for line in f]) == 9
    config.seq_len = 31
    with pytest.raises(UserError, match="seq_len"):
        study.run(config, str(tmp_path))


def test_analysis_compiles_once_for_every_parameter_value():
    # The study jits its whole analysis (dl_jax.gradients only traces): a sweep over sigma_max
    # reuses one program; a fresh closure per setting would recompile every time.
    with jax.enable_x64(True):
        xs = jax.random.normal(jax.random.key(1), XS_SHAPE, jnp.float64)
        before = study.rnn_log_norms._cache_size()
        for sigma in (0.7, 1.9):
            jax.block_until_ready(study.rnn_log_norms(_rnn_params(sigma), xs))
    assert study.rnn_log_norms._cache_size() - before <= 1


def test_unknown_variant_is_refused_naming_the_choices():
    assert get_config("saturated").input_scale == 1.0
    with pytest.raises(UserError, match="choose one of saturated"):
        get_config("tiny")
