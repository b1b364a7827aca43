"""Recurrent cells, fast layers, masking, bidirectionality and heads (dl_jax.models.recurrent),
and the registered family dl_jax.models.sequence.RecurrentNet."""

import flax.linen as nn
import jax
import jax.numpy as jnp
import numpy as np
import optax
import pytest

from dl_jax.errors import UserError
from dl_jax.models import get_model
from dl_jax.models import recurrent as rec

B, T, D, H = 3, 7, 4, 5
KEY = jax.random.key(0)
X = jnp.asarray(np.random.default_rng(1).normal(size=(B, T, D)), jnp.float32)
LENGTHS = jnp.array([7, 3, 0])

CELLS = {"rnn": rec.SimpleRNNCell, "lstm": rec.LSTMCell, "gru": rec.GRUCell}
FUSE = {"rnn": rec.fused_rnn_params, "lstm": rec.fused_lstm_params, "gru": rec.fused_gru_params}


def _sigmoid(z):
    return 1.0 / (1.0 + np.exp(-z))


def _cell_params(kind, **kwargs):
    """Reference-cell parameters, perturbed so biases and peepholes are not at their init."""
    cell = CELLS[kind](H, **kwargs)
    params = jax.jit(cell.init)(KEY, cell.initialize_carry(KEY, (B, D)), X[:, 0])["params"]
    if kind == "lstm":  # forget-gate bias init 1.0, other biases 0
        np.testing.assert_array_equal(np.asarray(params["forget"]["bias"]), 1.0)
        np.testing.assert_array_equal(np.asarray(params["input"]["bias"]), 0.0)
    leaves, tree = jax.tree.flatten(params)
    rng = np.random.default_rng(2)
    leaves = [jnp.asarray(p + 0.3 * rng.normal(size=p.shape), jnp.float32) for p in leaves]
    return cell, jax.tree.unflatten(tree, leaves)


def _layer(kind, **kwargs):
    return rec.make_layer(kind, H, **kwargs)


@pytest.mark.parametrize("activation", ["tanh", "relu"])
def test_simple_rnn_cell_is_the_lecture_recurrence(activation):
    cell, params = _cell_params("rnn", activation=activation)
    u, b, w = (np.asarray(params["U"]["kernel"]), np.asarray(params["U"]["bias"]),
               np.asarray(params["W"]["kernel"]))
    f = np.tanh if activation == "tanh" else (lambda z: np.maximum(z, 0.0))
    outputs = jax.jit(nn.RNN(cell).apply)({"params": {"cell": params}}, X)
    s = np.zeros((B, H))  # s_{-1} = 0
    for t in range(T):
        s = f(np.asarray(X[:, t]) @ u + b + s @ w)
        np.testing.assert_allclose(np.asarray(outputs[:, t]), s, rtol=1e-5, atol=1e-6)


@pytest.mark.parametrize("peephole", [False, True])
def test_lstm_cell_is_the_lecture_lstm(peephole):
    cell, params = _cell_params("lstm", peephole=peephole)
    p = jax.tree.map(np.asarray, params)

    def gate(name, hx):
        return hx @ p[name]["kernel"] + p[name]["bias"]

    c = h = np.zeros((B, H))  # c_0 = h_0 = 0
    carry = cell.initialize_carry(KEY, (B, D))
    step = jax.jit(cell.apply)
    for t in range(T):
        x = np.asarray(X[:, t])
        hx = np.concatenate([h, x], axis=1)  # [h_{t-1}, x_t]
        f_pre, i_pre, o_pre = gate("forget", hx), gate("input", hx), gate("output", hx)
        if peephole:
            f_pre = f_pre + p["peephole_forget"] * c
            i_pre = i_pre + p["peephole_input"] * c
        c = _sigmoid(f_pre) * c + _sigmoid(i_pre) * np.tanh(gate("candidate", hx))
        if peephole:
            o_pre = o_pre + p["peephole_output"] * c  # the output gate sees c_t
        h = _sigmoid(o_pre) * np.tanh(c)
        carry, out = step({"params": params}, carry, X[:, t])
        np.testing.assert_allclose(np.asarray(carry[0]), c, rtol=1e-5, atol=1e-6)
        np.testing.assert_allclose(np.asarray(out), h, rtol=1e-5, atol=1e-6)


@pytest.mark.parametrize("kind, kwargs", [
    ("rnn", {}), ("lstm", {}), ("lstm", {"peephole": True}), ("gru", {}),
    ("gru", {"reset_after": True}),
])
def test_fast_layer_equals_reference_cell_scanned_step_by_step(kind, kwargs):
    cell, cell_params = _cell_params(kind, **kwargs)
    layer = _layer(kind, **kwargs)
    init_shapes = jax.tree.map(jnp.shape, jax.eval_shape(layer.init, KEY, X)["params"])
    assert init_shapes == jax.tree.map(jnp.shape, {"layer_0": FUSE[kind](cell_params)})
    weights = jnp.asarray(np.random.default_rng(3).normal(size=(B, T, H)), jnp.float32)

    def reference(p, x):
        return nn.RNN(cell).apply({"params": {"cell": p}}, x)

    def fast(p, x):
        return layer.apply({"params": {"layer_0": FUSE[kind](p)}}, x)

    # Outputs, and gradients (the LSTM's and RNN's through their hand-written backward pass).
    results = []
    for forward in (reference, fast):
        def loss(p, x, forward=forward):
            outputs = forward(p, x)
            return jnp.sum(weights * jnp.sin(outputs)), outputs

        results.append(jax.jit(jax.grad(loss, argnums=(0, 1), has_aux=True))(cell_params, X))
    (ref_grads, ref_out), (fast_grads, fast_out) = results
    np.testing.assert_allclose(np.asarray(fast_out), np.asarray(ref_out), rtol=1e-5, atol=1e-5)
    jax.tree.map(lambda a, b: np.testing.assert_allclose(np.asarray(a), np.asarray(b),
                                                         rtol=1e-5, atol=1e-5),
                 fast_grads, ref_grads)


@pytest.mark.parametrize("kind", ["rnn", "lstm", "gru"])
def test_seq_lengths_freeze_carry_and_zero_outputs(kind):
    params = jax.jit(_layer(kind).init)(KEY, X)["params"]

    def loss(p, x, fused_backward):
        kw = {} if kind == "gru" else {"fused_backward": fused_backward}
        out, final = _layer(kind, **kw).apply({"params": p}, x, seq_lengths=LENGTHS,
                                              return_carry=True)
        total = jnp.sum(jnp.sin(out)) + sum(jnp.sum(c ** 2) for c in jax.tree.leaves(final))
        return total, (out, final)

    @jax.jit
    def run(p, x):
        fused, (outputs, carry) = jax.grad(loss, argnums=(0, 1), has_aux=True)(p, x, True)
        autodiff, _ = jax.grad(loss, argnums=(0, 1), has_aux=True)(p, x, False)
        # Sequence 1 (length 3) run alone, unpadded; sequence 0 (full length) run alone.
        alone = _layer(kind).apply({"params": p}, x[1:2, :3], return_carry=True)
        full = _layer(kind).apply({"params": p}, x[:1])
        return outputs, carry, fused, autodiff, alone, full

    outputs, carry, fused, autodiff, (alone, alone_carry), full = run(params, X)
    np.testing.assert_allclose(np.asarray(outputs[1, :3]), np.asarray(alone[0]),
                               rtol=1e-5, atol=1e-6)
    jax.tree.map(lambda c, a: np.testing.assert_allclose(
        np.asarray(c[1]), np.asarray(a[0]), rtol=1e-5, atol=1e-6), carry, alone_carry)
    np.testing.assert_array_equal(np.asarray(outputs[1, 3:]), 0.0)
    np.testing.assert_array_equal(np.asarray(outputs[2]), 0.0)
    jax.tree.map(lambda c: np.testing.assert_array_equal(np.asarray(c[2]), 0.0), carry)
    np.testing.assert_allclose(np.asarray(outputs[0]), np.asarray(full[0]), rtol=1e-5,
                               atol=1e-6)
    jax.tree.map(lambda a, b: np.testing.assert_allclose(np.asarray(a), np.asarray(b),
                                                         rtol=1e-5, atol=1e-6), fused, autodiff)
    # Padding never reaches the loss.
    np.testing.assert_array_equal(np.asarray(fused[1][1, 3:]), 0.0)
    np.testing.assert_array_equal(np.asarray(fused[1][2]), 0.0)


def test_initial_carry_continues_a_sequence_and_layers_stack():
    layer = rec.LSTM(H, num_layers=2)
    single = rec.LSTM(H)
    params = jax.jit(layer.init)(KEY, X)["params"]
    assert set(params) == {"layer_0", "layer_1"}
    # Forget-gate bias starts at forget_bias (1.0), the other gates' at 0 (order f, i, o, c~).
    np.testing.assert_array_equal(np.asarray(params["layer_0"]["bias"]),
                                  np.repeat([1.0, 0.0, 0.0, 0.0], H))

    @jax.jit
    def run(p, x):
        full, carry = layer.apply({"params": p}, x, return_carry=True)
        head, head_carry = layer.apply({"params": p}, x[:, :4], return_carry=True)
        tail = layer.apply({"params": p}, x[:, 4:], initial_carry=head_carry)
        first = single.apply({"params": {"layer_0": p["layer_0"]}}, x)
        second = single.apply({"params": {"layer_0": p["layer_1"]}}, first)
        return full, carry, jnp.concatenate([head, tail], 1), second

    full, carry, resumed, stacked_by_hand = run(params, X)
    assert len(carry) == 2 and carry[1][1].shape == (B, H)
    np.testing.assert_allclose(np.asarray(resumed), np.asarray(full), rtol=1e-5, atol=1e-6)
    # Stacking = feeding layer 0's outputs to layer 1.
    np.testing.assert_allclose(np.asarray(stacked_by_hand), np.asarray(full), rtol=1e-5,
                               atol=1e-6)


def test_unroll_choice_and_unrolled_scan_is_the_same_function():
    assert rec.default_unroll("cpu") == 1 and rec.default_unroll("gpu") == 16
    assert rec.default_unroll("tpu") == 16
    assert rec.choose_unroll(1000, 16) == 10  # a divisor: no remainder copies of the body
    assert rec.choose_unroll(100, 16) == 10
    assert rec.choose_unroll(10, 16) == 10
    assert rec.choose_unroll(97, 16) == 16
    assert rec.choose_unroll(50, 1) == 1
    params = jax.jit(rec.LSTM(H).init)(KEY, X)["params"]

    @jax.jit
    def run(p):
        return [rec.LSTM(H, unroll=u).apply({"params": p}, X, seq_lengths=LENGTHS)
                for u in (1, 4)]

    rolled, unrolled = run(params)
    np.testing.assert_allclose(np.asarray(unrolled), np.asarray(rolled), rtol=1e-6, atol=1e-6)


def test_bidirectional_reverses_each_sequence_within_its_length():
    x = jnp.arange(2 * 4, dtype=jnp.float32).reshape(2, 4, 1)
    reversed_x = rec.reverse_sequences(x, jnp.array([4, 2]))
    np.testing.assert_array_equal(np.asarray(reversed_x[..., 0]), [[3, 2, 1, 0], [5, 4, 6, 7]])
    pair = rec.Bidirectional(rec.GRU(H), rec.SimpleRNN(H))
    backward = rec.SimpleRNN(H)
    params = jax.jit(pair.init)(KEY, X)["params"]

    @jax.jit
    def run(p, x):
        both = pair.apply({"params": p}, x, seq_lengths=LENGTHS, return_carry=True)
        # Sequence 1 (length 3) reversed by hand and run alone through the backward layer.
        alone = backward.apply({"params": p["backward_layer"]}, x[1:2, 2::-1],
                               return_carry=True)
        return both, alone

    (outputs, (_, bwd_carry)), (alone, alone_carry) = run(params, X)
    assert outputs.shape == (B, T, 2 * H)
    np.testing.assert_allclose(np.asarray(outputs[1, :3, H:]), np.asarray(alone[0, ::-1]),
                               rtol=1e-5, atol=1e-6)
    np.testing.assert_allclose(np.asarray(bwd_carry[1]), np.asarray(alone_carry[0]),
                               rtol=1e-5, atol=1e-6)
    np.testing.assert_array_equal(np.asarray(outputs[1, 3:]), 0.0)
    np.testing.assert_array_equal(np.asarray(outputs[2]), 0.0)
    # Full-length sequence 0: the backward half at step 0 has read the whole sequence.
    assert float(jnp.abs(outputs[0, 0, H:]).min()) > 0.0


def test_parameter_counts():
    def count(module, x_shape=(2, 9, D)):
        shapes = jax.eval_shape(module.init, KEY, jnp.zeros(x_shape))
        return sum(int(np.prod(s.shape)) for s in jax.tree.leaves(shapes))

    hidden = 16
    assert count(rec.SimpleRNN(hidden)) == hidden * (D + hidden) + hidden
    lstm = 4 * (hidden * (D + hidden) + hidden)
    assert count(rec.LSTM(hidden)) == lstm
    assert count(rec.LSTM(hidden, peephole=True)) == lstm + 3 * hidden
    assert count(rec.GRU(hidden)) == 3 * (hidden * (D + hidden) + hidden)
    assert count(rec.GRU(hidden, reset_after=True)) == count(rec.GRU(hidden)) + hidden  # b_hn
    two_layers = 4 * (hidden * (D + hidden) + hidden) + 4 * (hidden * 2 * hidden + hidden)
    assert count(rec.LSTM(hidden, num_layers=2)) == two_layers
    lstm_cell = rec.LSTMCell(hidden)
    cell_shapes = jax.eval_shape(lstm_cell.init, KEY, lstm_cell.initialize_carry(KEY, (2, D)),
                                 jnp.zeros((2, D)))
    assert sum(int(np.prod(s.shape)) for s in jax.tree.leaves(cell_shapes)) == count(
        rec.LSTM(hidden))
    classifier = rec.RecurrentClassifier(num_classes=10, cell="gru", features=hidden,
                                         bidirectional=True, num_layers=2)
    per_direction = [3 * (hidden * (1 + hidden) + hidden),
                     3 * (hidden * (2 * hidden + hidden) + hidden)]
    assert count(classifier, (2, 9)) == 2 * sum(per_direction) + 2 * hidden * 10 + 10


def test_many_to_one_and_many_to_many_heads():
    encoder = rec.LSTM(H)
    model = rec.ManyToOne(encoder, num_classes=6)
    tagger = rec.ManyToMany(rec.GRU(H), num_classes=6)
    params = jax.jit(model.init)(KEY, X)["params"]

    @jax.jit
    def run(p):
        logits = model.apply({"params": p}, X, seq_lengths=LENGTHS)
        outputs = encoder.apply({"params": p["encoder"]}, X)
        tags = tagger.apply(tagger.init(KEY, X), X)
        return logits, outputs, tags

    logits, outputs, tags = run(params)
    head = params["head"]
    expected = outputs[1, 2] @ head["kernel"] + head["bias"]  # last valid step of a length-3 seq
    np.testing.assert_allclose(np.asarray(logits[1]), np.asarray(expected), rtol=1e-5, atol=1e-6)
    np.testing.assert_allclose(np.asarray(logits[2]), np.asarray(head["bias"]), atol=1e-7)
    assert tags.shape == (B, T, 6)


def test_one_to_many_feeds_back_greedy_tokens():
    vocab, steps = 7, 5
    model = rec.OneToMany(num_outputs=vocab, features=H, cell="lstm", embed_features=3)
    first = jnp.array([1, 4])
    params = jax.jit(model.init, static_argnums=2)(KEY, first, steps)["params"]["generator"]
    params = jax.tree.map(lambda p: 3.0 * p, params)  # sharper logits: tokens vary

    @jax.jit
    def generate(p):
        greedy = model.apply({"params": {"generator": p}}, first, steps)
        cold = model.apply({"params": {"generator": p}}, first, steps,
                           sample_rng=jax.random.key(7), temperature=1e-4)
        warm = model.apply({"params": {"generator": p}}, first, steps,
                           sample_rng=jax.random.key(7), temperature=2.0)
        return greedy, cold[1], warm[1]

    (logits, tokens), cold, warm = generate(params)
    assert logits.shape == (2, steps, vocab) and tokens.shape == (2, steps)
    # Manual loop: embed the previous token, step the cell, read out, take the argmax.
    cell = rec.LSTMCell(H)
    carry = cell.initialize_carry(KEY, (2, 3))
    cell_step = jax.jit(cell.apply)
    previous = first
    for t in range(steps):
        x = params["embed"]["embedding"][previous]
        carry, hidden = cell_step({"params": params["cell"]}, carry, x)
        expected = hidden @ params["readout"]["kernel"] + params["readout"]["bias"]
        np.testing.assert_allclose(np.asarray(logits[:, t]), np.asarray(expected),
                                   rtol=1e-5, atol=1e-5)
        previous = jnp.argmax(expected, axis=-1)
        np.testing.assert_array_equal(np.asarray(tokens[:, t]), np.asarray(previous))
    assert len(set(np.asarray(tokens).ravel().tolist())) > 1
    # Sampling near zero temperature is greedy decoding; at high temperature it is not.
    np.testing.assert_array_equal(np.asarray(cold), np.asarray(tokens))
    assert int(warm.min()) >= 0 and int(warm.max()) < vocab


def test_one_to_many_feeds_back_output_vectors():
    model = rec.OneToMany(num_outputs=2, features=H, cell="rnn", feedback="output")
    start = jnp.array([[1.0, -1.0]])
    variables = jax.jit(model.init, static_argnums=2)(KEY, start, 3)
    outputs, none = jax.jit(model.apply, static_argnums=2)(variables, start, 3)
    assert none is None and outputs.shape == (1, 3, 2)
    p = jax.tree.map(np.asarray, variables["params"]["generator"])
    s, x = np.zeros((1, H)), np.asarray(start)
    for t in range(3):
        s = np.tanh(x @ p["cell"]["U"]["kernel"] + p["cell"]["U"]["bias"]
                    + s @ p["cell"]["W"]["kernel"])
        x = s @ p["readout"]["kernel"] + p["readout"]["bias"]  # the output is the next input
        np.testing.assert_allclose(np.asarray(outputs[:, t]), x, rtol=1e-5, atol=1e-6)


def test_recurrent_classifier_overfits_a_batch():
    # Class = sign of the first value of a (batch, time) signal: the label sits at the far end
    # of the sequence from the read-out, so the LSTM must carry it through every step.
    rng = np.random.default_rng(0)
    x = rng.normal(size=(16, 12)).astype(np.float32)
    y = (x[:, 0] > 0).astype(np.int32)
    model = rec.RecurrentClassifier(num_classes=2, cell="lstm", features=16)
    params = jax.jit(model.init)(KEY, x[:1])["params"]
    optimizer = optax.adam(0.05)

    def loss_fn(p):
        logits = model.apply({"params": p}, x)
        return optax.softmax_cross_entropy_with_integer_labels(logits, y).mean()

    @jax.jit
    def train(p):
        def step(state, _):
            p, opt_state = state
            loss, grads = jax.value_and_grad(loss_fn)(p)
            updates, opt_state = optimizer.update(grads, opt_state)
            return (optax.apply_updates(p, updates), opt_state), loss

        return jax.lax.scan(step, (p, optimizer.init(p)), None, length=150)

    (params, _), losses = train(params)
    assert float(losses[-1]) < 0.05 < float(losses[0])
    predictions = jnp.argmax(jax.jit(model.apply)({"params": params}, x, train=True), -1)
    np.testing.assert_array_equal(np.asarray(predictions), y)


def test_models_never_read_the_backend_while_tracing(monkeypatch):
    def no_backend(*args, **kwargs):
        raise AssertionError("jax.default_backend() read while tracing a model")

    monkeypatch.setattr(jax, "default_backend", no_backend)
    for cell in ("rnn", "gru", "lstm"):
        for kwargs in ({}, {"readout": "last", "bidirectional": False, "unroll": 16}):
            model = get_model(cell, 3, **kwargs)
            variables = jax.eval_shape(model.init, KEY, jnp.zeros((2, 9)))
            jax.eval_shape(jax.grad(lambda v, m=model: jnp.sum(m.apply(v, jnp.zeros((2, 9))))),
                           variables)


# Parameter trees of the registered family, pinned: Flax derives the initial values from these
# module names, so a rename would silently change every result of the studies that train them.
TREES = {
    "flatten": {"Dense:head", "forward/layer_0", "backward/layer_0"},
    "flatten_uni": {"Dense:head", "forward/layer_0"},
    "last": {"Dense:head", "encoder/layer_0"},
    "last_bi2": {"Dense:head", "forward_0/layer_0", "backward_0/layer_0", "forward_1/layer_0",
                 "backward_1/layer_0"},
    "every_step": {"Dense:head", "encoder/layer_0", "encoder/layer_1"},
}
READOUT_KWARGS = {
    "flatten": {},
    "flatten_uni": {"bidirectional": False},
    "last": {"readout": "last", "bidirectional": False},
    "last_bi2": {"readout": "last", "num_layers": 2},
    "every_step": {"readout": "every_step", "bidirectional": False, "num_layers": 2,
                   "vocab_size": 5},
}


def _module_paths(params):
    paths = set()
    for path, _ in jax.tree_util.tree_flatten_with_path(params)[0]:
        names = [p.key for p in path]
        if names[0] == "head":
            paths.add("Dense:head")
        else:
            paths.add("/".join(names[:2]))
    return paths


@pytest.mark.parametrize("variant", sorted(TREES))
def test_recurrent_net_parameter_trees_and_output_shapes(variant):
    model = get_model("gru", 3, features=4, **READOUT_KWARGS[variant])
    x = (jnp.asarray(np.arange(2 * 6).reshape(2, 6) % 5) if variant == "every_step"
         else jnp.zeros((2, 6)))
    shapes = jax.eval_shape(model.init, KEY, x)["params"]
    assert _module_paths(shapes) == TREES[variant]
    out = jax.eval_shape(model.apply, {"params": shapes}, x)
    assert out.shape == ((2, 6, 3) if variant == "every_step" else (2, 3))


def test_recurrent_net_readouts_compute_what_they_say():
    x = jnp.asarray(np.random.default_rng(5).normal(size=(B, T)), jnp.float32)
    last = get_model("lstm", 2, features=H, readout="last", bidirectional=False)
    every = get_model("lstm", 2, features=H, readout="every_step", bidirectional=False)
    flat = get_model("lstm", 2, features=H, bidirectional=False)
    params = jax.jit(last.init)(KEY, x)["params"]

    @jax.jit
    def run(p):
        outputs = rec.LSTM(H).apply({"params": p["encoder"]}, x[..., None])
        flat_params = {"forward": p["encoder"],
                       "head": {"kernel": jnp.tile(p["head"]["kernel"], (T, 1)),
                                "bias": p["head"]["bias"]}}
        return (outputs, last.apply({"params": p}, x), every.apply({"params": p}, x),
                flat.apply({"params": flat_params}, x))

    outputs, y_last, y_every, y_flat = run(params)
    head = params["head"]
    np.testing.assert_allclose(np.asarray(y_last), np.asarray(y_every[:, -1]), rtol=1e-6)
    np.testing.assert_allclose(np.asarray(y_every),
                               np.asarray(outputs @ head["kernel"] + head["bias"]), rtol=1e-5,
                               atol=1e-6)
    # Flatten with the head kernel tiled over time = the sum over steps of every step's logits.
    np.testing.assert_allclose(np.asarray(y_flat),
                               np.asarray((outputs @ head["kernel"]).sum(1) + head["bias"]),
                               rtol=1e-5, atol=1e-5)


def test_recurrent_net_refuses_bad_arguments_naming_the_choices():
    with pytest.raises(UserError, match="readout must be one of flatten, last, every_step"):
        get_model("gru", 3, readout="mean")
    with pytest.raises(UserError, match="no argument 'hidden'"):
        get_model("lstm", 3, hidden=4)
    with pytest.raises(UserError, match="reset_after applies to cell 'gru' only"):
        get_model("lstm", 3, reset_after=True)


def test_recurrent_net_passes_reset_after_to_its_gru_layers():
    def shapes(**kwargs):
        model = get_model("gru", 3, features=4, **kwargs)
        return jax.eval_shape(model.init, KEY, jnp.zeros((2, 6)))["params"]

    default, torch_form = shapes(), shapes(reset_after=True)
    for direction in ("forward", "backward"):
        assert "recurrent_bias" not in default[direction]["layer_0"]
        assert torch_form[direction]["layer_0"]["recurrent_bias"].shape == (4,)


# GRU reset_after=True: the form of torch.nn.GRU, cuDNN and Keras (docs of torch.nn.GRU).
def _torch_layout_gru(in_features, seed=4):
    """Random weights in torch's layout: gates (r, z, n) stacked on the first axis."""
    rng = np.random.default_rng(seed)
    shapes = {"weight_ih": (3 * H, in_features), "weight_hh": (3 * H, H), "bias_ih": (3 * H,),
              "bias_hh": (3 * H,)}
    return {k: rng.normal(scale=0.5, size=shape).astype(np.float32)
            for k, shape in shapes.items()}


def _torch_gru_equations(x, weight_ih, weight_hh, bias_ih, bias_hh):
    """torch.nn.GRU's documented equations in numpy (batch-first, h_0 = 0); all outputs."""
    (w_ir, w_iz, w_in), (w_hr, w_hz, w_hn) = np.split(weight_ih, 3), np.split(weight_hh, 3)
    (b_ir, b_iz, b_in), (b_hr, b_hz, b_hn) = np.split(bias_ih, 3), np.split(bias_hh, 3)
    h, outputs = np.zeros((x.shape[0], H)), []
    for t in range(x.shape[1]):
        x_t = x[:, t]
        r = _sigmoid(x_t @ w_ir.T + b_ir + h @ w_hr.T + b_hr)
        z = _sigmoid(x_t @ w_iz.T + b_iz + h @ w_hz.T + b_hz)
        n = np.tanh(x_t @ w_in.T + b_in + r * (h @ w_hn.T + b_hn))
        h = (1.0 - z) * n + z * h
        outputs.append(h)
    return np.stack(outputs, axis=1)


def test_reset_after_gru_is_torch_gru_equations():
    weights = _torch_layout_gru(D)
    expected = _torch_gru_equations(np.asarray(X, np.float64), **weights)
    cell_params = rec.gru_params_from_torch(**weights)
    layer = rec.GRU(H, reset_after=True)
    init_shapes = jax.eval_shape(layer.init, KEY, X)["params"]
    layer_params = {"layer_0": rec.gru_layer_params_from_torch(**weights)}
    assert jax.tree.map(jnp.shape, init_shapes) == jax.tree.map(jnp.shape, layer_params)
    cell = rec.GRUCell(H, reset_after=True)
    lecture_params = {"layer_0": {k: v for k, v in layer_params["layer_0"].items()
                                  if k != "recurrent_bias"}}

    @jax.jit
    def run(cp, lp, lecture_lp):
        return (nn.RNN(cell).apply({"params": {"cell": cp}}, X),
                layer.apply({"params": lp}, X), rec.GRU(H).apply({"params": lecture_lp}, X))

    by_cell, by_layer, lecture_form = run(cell_params, layer_params, lecture_params)
    np.testing.assert_allclose(np.asarray(by_cell), expected, rtol=1e-5, atol=1e-6)
    np.testing.assert_allclose(np.asarray(by_layer), expected, rtol=1e-5, atol=1e-6)
    # The default (Cho et al.) form is a different function of the same weights.
    assert np.abs(np.asarray(lecture_form) - expected).max() > 1e-2


def test_reset_after_gru_equals_torch_nn_gru_with_copied_weights():
    torch = pytest.importorskip("torch")
    torch.manual_seed(0)
    gru = torch.nn.GRU(D, H, num_layers=2, batch_first=True)
    x = np.array(X)  # a writable copy for torch.from_numpy
    with torch.no_grad():
        expected, h_n = (a.numpy() for a in gru(torch.from_numpy(x)))
    params = {f"layer_{k}": rec.gru_layer_params_from_torch(
        *(getattr(gru, f"{name}_l{k}").detach().numpy()
          for name in ("weight_ih", "weight_hh", "bias_ih", "bias_hh")))
        for k in range(2)}
    layer = rec.GRU(H, num_layers=2, reset_after=True)
    outputs, carry = jax.jit(lambda p: layer.apply({"params": p}, X, return_carry=True))(params)
    np.testing.assert_allclose(np.asarray(outputs), expected, rtol=1e-6, atol=1e-6)
    np.testing.assert_allclose(np.stack([np.asarray(c) for c in carry]), h_n, rtol=1e-6,
                               atol=1e-6)
