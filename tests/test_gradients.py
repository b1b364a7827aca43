"""Gradients through time (dl_jax.gradients) and the hand-written BPTT (dl_jax.bptt)."""

import jax
import jax.numpy as jnp
import numpy as np
import pytest

from dl_jax import bptt
from dl_jax.gradients import (
    jacobian_product_norms,
    state_grad_norms,
    state_grads,
    weight_grad_contributions,
)
from dl_jax.models.recurrent import LSTMCell

T, D, H, K = 6, 3, 4, 5


@pytest.fixture
def x64():
    with jax.enable_x64(True):
        yield


def _rnn_problem(dtype=jnp.float32):
    rng = np.random.default_rng(0)

    def normal(*shape, scale=1.0):
        return jnp.asarray(scale * rng.normal(size=shape), dtype)

    params = {"U": normal(D, H, scale=0.8), "W": normal(H, H, scale=0.8)}
    readout, xs = normal(H, K), normal(T, D)
    labels = jnp.asarray(rng.integers(0, K, size=T))

    def step_fn(p, s, x):
        return jnp.tanh(x @ p["U"] + s @ p["W"])

    def loss(states):
        logp = jax.nn.log_softmax(states @ readout, axis=-1)
        return -jnp.sum(jnp.take_along_axis(logp, labels[:, None], axis=1))

    return step_fn, params, jnp.zeros(H, dtype), xs, loss


def _lstm_problem(dtype=jnp.float32):
    rng = np.random.default_rng(1)
    cell = LSTMCell(H)
    xs = jnp.asarray(rng.normal(size=(T, D)), dtype)
    carry0 = (jnp.zeros(H, dtype), jnp.zeros(H, dtype))
    params = jax.jit(cell.init)(jax.random.key(1), carry0, xs[0])["params"]
    params = jax.tree.map(lambda p: jnp.asarray(p + 0.5 * rng.normal(size=p.shape), dtype),
                          params)
    readout = jnp.asarray(rng.normal(size=H), dtype)

    def step_fn(p, carry, x):
        return cell.apply({"params": p}, carry, x)[0]

    def loss(carries):
        cs, hs = carries
        return jnp.sum(jnp.sin(hs @ readout)) + 0.1 * jnp.sum(cs[-1] ** 2)

    return step_fn, params, carry0, xs, loss


PROBLEMS = {"rnn": _rnn_problem, "lstm": _lstm_problem}


def _rollout(cell, carry, xs):
    def step(c, x):
        c = cell(c, x)
        return c, c

    return jax.lax.scan(step, carry, xs)[1]


def _tree_where(condition, a, b):
    return jax.tree.map(lambda x, y: jnp.where(condition, x, y), a, b)


def _loss_from_state_at(cell, carry0, xs, loss):
    """``f(carry_t, t)``: the loss as a function of carry_t alone (earlier carries fixed, later
    ones recomputed from it). One jitted gradient per t is the naive per-step computation."""
    carries = _rollout(cell, carry0, xs)
    steps = jnp.arange(xs.shape[0])

    def from_carry_t(carry_t, t):
        def step(previous, inputs):
            j, x, fixed = inputs
            current = _tree_where(j < t, fixed, _tree_where(j == t, carry_t, cell(previous, x)))
            return current, current

        return loss(jax.lax.scan(step, carry0, (steps, xs, carries))[1])

    return from_carry_t, carries


def _global_norm(tree):
    return float(np.sqrt(sum(np.sum(np.square(np.asarray(a))) for a in jax.tree.leaves(tree))))


@pytest.mark.parametrize("kind", ["rnn", "lstm"])
def test_state_grads_match_naive_per_step_gradients_and_finite_differences(x64, kind):
    step_fn, params, carry0, xs, loss = PROBLEMS[kind](jnp.float64)
    cell = lambda c, x: step_fn(params, c, x)  # noqa: E731

    @jax.jit  # the library traces; the caller jits (one program for all three)
    def analysis(carry0, xs):
        return (state_grads(cell, carry0, xs, loss, dtype=jnp.float64),
                state_grad_norms(cell, carry0, xs, loss, dtype=jnp.float64),
                state_grad_norms(cell, carry0, xs, loss, dtype=jnp.float64, log_scale=True))

    grads, norms, log_norms = analysis(carry0, xs)
    assert norms.shape == (T,) and norms.dtype == jnp.float64
    # Naive: for each t separately, the gradient of the loss as a function of carry_t alone.
    f, carries = _loss_from_state_at(cell, carry0, xs, loss)
    f, grad_at = jax.jit(f), jax.jit(jax.grad(f))
    naive = [grad_at(jax.tree.map(lambda c, t=t: c[t], carries), t) for t in range(T)]
    for t in range(T):
        jax.tree.map(lambda g, n, t=t: np.testing.assert_allclose(
            np.asarray(g[t]), np.asarray(n), rtol=1e-10, atol=1e-12), grads, naive[t])
    naive_norms = [_global_norm(g) for g in naive]
    np.testing.assert_allclose(np.asarray(norms), naive_norms, rtol=1e-10)
    np.testing.assert_allclose(np.asarray(log_norms), np.log10(naive_norms), atol=1e-10)
    # Earlier states reach the loss through more steps: the totals differ from step to step.
    assert len({round(float(n), 6) for n in norms}) == T
    # Finite differences of the loss along a random direction of carry_t.
    eps = 1e-6
    rng = np.random.default_rng(0)
    for t in (0, T // 2, T - 1):
        carry_t = jax.tree.map(lambda c, t=t: c[t], carries)
        direction = jax.tree.map(lambda c: jnp.asarray(rng.normal(size=c.shape)), carry_t)
        plus = f(jax.tree.map(lambda c, v: c + eps * v, carry_t, direction), t)
        minus = f(jax.tree.map(lambda c, v: c - eps * v, carry_t, direction), t)
        finite_difference = float(plus - minus) / (2 * eps)
        analytic = sum(float(jnp.vdot(g[t], v)) for g, v in
                       zip(jax.tree.leaves(grads), jax.tree.leaves(direction), strict=True))
        assert abs(finite_difference - analytic) <= 1e-7 * max(1.0, abs(analytic))


def test_float64_without_x64_raises_clear_error():
    step_fn, params, carry0, xs, loss = _rnn_problem()
    cell = lambda c, x: step_fn(params, c, x)  # noqa: E731
    with pytest.raises(ValueError, match="jax_enable_x64"):
        state_grad_norms(cell, carry0, xs, loss, dtype=jnp.float64)


def test_log_scale_survives_underflow_of_squares():
    # Linear recurrence s_t = a s_{t-1} + x_t and loss sum(s_{T-1}): dE/ds_t = a^(T-1-t) * ones(4).
    a, length, n = 0.1, 35, 4
    cell = lambda s, x: a * s + x  # noqa: E731
    xs = jnp.ones((length, n))
    log_norms = jax.jit(lambda s0, xs: state_grad_norms(
        cell, s0, xs, lambda s: jnp.sum(s[-1]), log_scale=True))(jnp.zeros(n), xs)
    expected = np.log10(2.0) - (length - 1 - np.arange(length))
    # 1e-34 is a normal float32, but its square is not: a plain norm would read 0 there.
    np.testing.assert_allclose(np.asarray(log_norms), expected, atol=1e-3)
    assert float(jnp.sqrt(jnp.sum(jnp.full(n, 1e-34, jnp.float32) ** 2))) == 0.0


def test_weight_grad_contributions_sum_to_gradient_and_match_lecture_terms():
    step_fn, params, carry0, xs, loss = _rnn_problem()

    @jax.jit
    def analysis(p, xs):
        norms, per_step = weight_grad_contributions(step_fn, p, carry0, xs, loss,
                                                    return_grads=True)
        return norms, per_step, state_grads(lambda c, x: step_fn(p, c, x), carry0, xs, loss)

    norms, per_step, d_states = analysis(params, xs)
    assert norms.shape == (T,) and per_step["W"].shape == (T, H, H)
    cell = lambda c, x: step_fn(params, c, x)  # noqa: E731

    @jax.jit
    def references(p, d_states):
        total = jax.grad(lambda p: loss(_rollout(lambda c, x: step_fn(p, c, x), carry0, xs)))(p)
        states = _rollout(cell, carry0, xs)
        previous = jnp.concatenate([carry0[None], states[:-1]])

        # Term k = dE/ds_k * ds_k/dW|direct, with dE/ds_k from state_grads.
        def term(s_prev, x, d_state):
            return jax.vjp(lambda q: step_fn(q, s_prev, x), p)[1](d_state)[0]

        return total, jax.vmap(term)(previous, xs, d_states)

    total, terms = references(params, d_states)
    for name in params:
        np.testing.assert_allclose(np.asarray(per_step[name].sum(0)), np.asarray(total[name]),
                                   rtol=1e-5, atol=1e-5)
        np.testing.assert_allclose(np.asarray(per_step[name]), np.asarray(terms[name]),
                                   rtol=1e-5, atol=1e-6)
    np.testing.assert_allclose(np.asarray(norms), [
        _global_norm(jax.tree.map(lambda a, k=k: a[k], terms)) for k in range(T)], rtol=1e-5)


def test_weight_grad_contributions_lstm_sum_to_gradient():
    step_fn, params, carry0, xs, loss = _lstm_problem()
    _, per_step = jax.jit(lambda p: weight_grad_contributions(
        step_fn, p, carry0, xs, loss, return_grads=True))(params)
    total = jax.jit(jax.grad(lambda p: loss(_rollout(lambda c, x: step_fn(p, c, x), carry0, xs))))(
        params)
    jax.tree.map(lambda s, g: np.testing.assert_allclose(np.asarray(s.sum(0)), np.asarray(g),
                                                         rtol=1e-5, atol=1e-5), per_step, total)


@pytest.mark.parametrize("kind", ["rnn", "lstm"])
def test_jacobian_product_norms_match_naive_jacobians(kind):
    step_fn, params, carry0, xs, _ = PROBLEMS[kind]()
    cell = lambda c, x: step_fn(params, c, x)  # noqa: E731
    norms = jax.jit(lambda c0, xs: jacobian_product_norms(cell, c0, xs))(carry0, xs)
    carries = _rollout(cell, carry0, xs)

    def final_from(carry_t, t):
        def step(previous, inputs):
            j, x = inputs
            return _tree_where(j > t, cell(previous, x), previous), None

        last = jax.lax.scan(step, carry_t, (jnp.arange(T), xs))[0]
        return jnp.concatenate([jnp.ravel(leaf) for leaf in jax.tree.leaves(last)])

    jacobian_at = jax.jit(jax.jacrev(final_from))
    naive = [_global_norm(jacobian_at(jax.tree.map(lambda c, t=t: c[t], carries), t))
             for t in range(T)]
    np.testing.assert_allclose(np.asarray(norms), naive, rtol=1e-5)
    n = sum(leaf.size for leaf in jax.tree.leaves(carry0))
    np.testing.assert_allclose(float(norms[-1]), np.sqrt(n), rtol=1e-6)  # identity at t = T-1


def test_jacobian_products_of_linear_rnn_are_powers_of_w(x64):
    # s_t = a s_{t-1} + x_t: d s_{T-1} / d s_t = a^(T-1-t) I, Frobenius 2 a^(T-1-t), spectral a^..
    a, length, n = 0.01, 30, 4
    cell = lambda s, x: a * s + x  # noqa: E731
    xs = jnp.ones((length, n))
    powers = length - 1 - np.arange(length)

    @jax.jit
    def norms(s0, xs):
        return (jacobian_product_norms(cell, s0, xs, dtype=jnp.float64, log_scale=True),
                jacobian_product_norms(cell, s0, xs, dtype=jnp.float64, ord=2),
                jacobian_product_norms(cell, s0.astype(jnp.float32), xs.astype(jnp.float32),
                                       dtype=jnp.float32, log_scale=True))

    fro, spectral, f32 = norms(jnp.zeros(n), xs)
    np.testing.assert_allclose(np.asarray(fro), np.log10(2.0) - 2.0 * powers, atol=1e-9)
    np.testing.assert_allclose(np.asarray(spectral), a ** powers.astype(np.float64), rtol=1e-9)
    # In float32 the early products underflow to exact zeros (log10 -> -inf): why float64 exists.
    assert np.isneginf(np.asarray(f32)[0]) and np.isfinite(np.asarray(f32)[-15:]).all()


def test_lstm_forget_gate_keeps_gradients_while_tanh_rnn_vanishes():
    # The lecture's argument: dC_t/dC_{t-1} ~ sigma(W_f [H, X]) ~ 1 for an open forget gate,
    # while the tanh RNN multiplies tanh' * W_c at every step.
    length, n = 30, 8
    rng = np.random.default_rng(3)
    xs = jnp.asarray(rng.normal(size=(length, n)), jnp.float32)
    w = jnp.asarray(0.5 * np.linalg.qr(rng.normal(size=(n, n)))[0], jnp.float32)
    rnn = lambda s, x: jnp.tanh(s @ w + x)  # noqa: E731
    rnn_log = jax.jit(lambda s0, xs: jacobian_product_norms(rnn, s0, xs, log_scale=True))(
        jnp.zeros(n), xs)
    assert float(rnn_log[0]) < -8.0  # |tanh'| <= 1 and ||W|| = 0.5: at most 0.5^29 * sqrt(2n)
    cell = LSTMCell(n, forget_bias=6.0)
    carry0 = (jnp.zeros(n), jnp.zeros(n))
    params = jax.jit(cell.init)(jax.random.key(3), carry0, xs[0])["params"]
    params = jax.tree.map(lambda p: 0.1 * p, params)
    params["forget"]["bias"] = jnp.full((n,), 6.0)
    lstm = lambda c, x: cell.apply({"params": params}, c, x)[0]  # noqa: E731
    lstm_log = jax.jit(lambda c0, xs: jacobian_product_norms(lstm, c0, xs, log_scale=True))(
        carry0, xs)
    assert float(lstm_log[0]) > -0.5
    assert bool(jnp.all(jnp.diff(rnn_log) > 0))


def test_bptt_matches_autodiff_float64(x64):
    rng = np.random.default_rng(4)
    params = jax.tree.map(lambda p: jnp.asarray(p, jnp.float64),
                          bptt.init_rnn_params(jax.random.key(4), D, H, K, scale=1.5))
    xs = jnp.asarray(rng.normal(size=(7, D)), jnp.float64)
    ys = jnp.asarray(rng.integers(0, K, size=7))
    expected_loss, expected = jax.value_and_grad(bptt.rnn_loss)(params, xs, ys)
    for grads_fn in (bptt.bptt_grads, bptt.bptt_grads_double_sum):
        loss, grads = grads_fn(params, xs, ys)
        np.testing.assert_allclose(float(loss), float(expected_loss), rtol=1e-12)
        for name in ("U", "W", "V"):
            assert grads[name].shape == params[name].shape
            np.testing.assert_allclose(np.asarray(grads[name]), np.asarray(expected[name]),
                                       rtol=1e-6, atol=1e-10)
    states, probs = bptt.rnn_forward(params, xs)
    np.testing.assert_allclose(np.asarray(probs.sum(-1)), 1.0, rtol=1e-12)
    first = np.tanh(np.asarray(params["U"]) @ np.asarray(xs[0]))  # s_{-1} = 0
    np.testing.assert_allclose(np.asarray(states[0]), first, rtol=1e-12)
