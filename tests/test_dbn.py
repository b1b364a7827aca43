"""Deep belief nets: greedy stacking, conversion to a classifier, pretrained init, experiment."""

import json
import os

import jax
import jax.numpy as jnp
import numpy as np
import optax
import pytest

from dl_jax import rbm
from dl_jax.errors import UserError
from dl_jax.models import dbn, get_model
from dl_jax.training import steps as steps_lib
from dl_jax.training import writers
from dl_jax.training.checkpoints import Checkpointer
from experiments.dbn import study


def random_rbm(seed, n_visible, n_hidden):
    rng = np.random.default_rng(seed)
    return {
        "W": jnp.asarray(rng.standard_normal((n_visible, n_hidden)), jnp.float32),
        "b_v": jnp.asarray(0.5 * rng.standard_normal(n_visible), jnp.float32),
        "b_h": jnp.asarray(0.5 * rng.standard_normal(n_hidden), jnp.float32),
    }


def prototype_data(seed, n_rows=60, n_visible=12):
    rng = np.random.default_rng(seed)
    prototypes = rng.integers(0, 2, (3, n_visible))
    rows = prototypes[rng.integers(0, 3, n_rows)]
    return np.where(rng.random(rows.shape) < 0.05, 1 - rows, rows).astype(np.float32)


def test_pretrained_init_equals_rbm_weights_and_hidden_layers_equal_hidden_probs():
    stack = [random_rbm(0, 12, 7), random_rbm(1, 7, 5)]
    model = dbn.classifier_from_stack(stack, num_classes=3)
    images = jnp.asarray(np.random.default_rng(2).random((4, 3, 4, 1)), jnp.float32)
    # The trainer's own initialisation path: pretrained arrays survive it unchanged.
    state = steps_lib.create_train_state(model, optax.adam(1e-3), images[:1], seed=3)
    for layer, params in enumerate(stack):
        np.testing.assert_array_equal(state.params[f"hidden_{layer}"]["kernel"], params["W"])
        np.testing.assert_array_equal(state.params[f"hidden_{layer}"]["bias"], params["b_h"])
    assert state.params["output"]["kernel"].shape == (5, 3)

    logits, sown = model.apply({"params": state.params}, images, mutable=["intermediates"])
    assert logits.shape == (4, 3)
    expected = rbm.up_pass(stack, images.reshape(4, -1))
    hidden = sown["intermediates"]
    np.testing.assert_allclose(hidden["activation_0"][0],
                               rbm.hidden_probs(stack[0], images.reshape(4, -1)), rtol=0, atol=0)
    for layer in range(2):
        np.testing.assert_allclose(hidden[f"activation_{layer}"][0], expected[layer], rtol=0,
                                   atol=1e-6)


def test_random_init_same_shape_different_values_and_size_checks():
    stack = [random_rbm(0, 12, 7), random_rbm(1, 7, 5)]
    x = jnp.zeros((1, 12))
    pretrained = dbn.classifier_from_stack(stack, 3)
    random = dbn.DBNClassifier(num_classes=3, hidden_sizes=(7, 5))
    shapes = jax.eval_shape(lambda: random.init(jax.random.key(0), x))["params"]
    assert steps_lib.param_count(shapes) == 12 * 7 + 7 + 7 * 5 + 5 + 5 * 3 + 3
    p_params = pretrained.init(jax.random.key(0), x)["params"]
    r_params = random.init(jax.random.key(0), x)["params"]
    assert jax.tree.map(jnp.shape, p_params) == jax.tree.map(jnp.shape, r_params)
    assert not np.allclose(p_params["hidden_0"]["kernel"], r_params["hidden_0"]["kernel"])
    # Same key: the fresh output layer starts identical in both networks.
    np.testing.assert_array_equal(p_params["output"]["kernel"], r_params["output"]["kernel"])
    with pytest.raises(ValueError, match="do not match"):
        dbn.DBNClassifier(3, (7, 6), dbn.PretrainedStack.from_rbms(stack)).init(
            jax.random.key(0), x)


def test_greedy_stacking_trains_each_layer_on_the_hidden_probs_below():
    data = prototype_data(0)
    key = jax.random.key(5)
    kwargs = dict(epochs=3, batch_size=10, learning_rate=0.1, momentum=0.5)
    seen = []
    stack, histories = rbm.greedy_pretrain(
        key, data, (8, 6), callback=lambda layer, epoch, p, m: seen.append((layer, epoch)),
        **kwargs)
    assert [p["W"].shape for p in stack] == [(12, 8), (8, 6)]
    assert [len(h["reconstruction_error"]) for h in histories] == [3, 3]
    assert seen == [(layer, epoch) for layer in range(2) for epoch in range(3)]

    # Reproduce both layers by hand: layer 1's data is layer 0's p(h | v) on the training data.
    inputs = jnp.asarray(data)
    for layer, n_hidden in enumerate((8, 6)):
        init_key, fit_key = jax.random.split(jax.random.fold_in(key, layer))
        params = rbm.init(init_key, inputs.shape[1], n_hidden, scale=0.01,
                          visible_mean=inputs.mean(axis=0))
        if layer == 1:
            # The second RBM's visible biases start at the log-odds of the first's hidden means.
            mean = np.clip(np.asarray(rbm.hidden_probs(stack[0], data)).mean(0), 1e-3, 1 - 1e-3)
            np.testing.assert_allclose(params["b_v"], np.log(mean / (1 - mean)), atol=1e-5)
        params, _ = rbm.fit(params, inputs, fit_key, **kwargs)
        for name in ("W", "b_v", "b_h"):
            np.testing.assert_allclose(stack[layer][name], params[name], atol=1e-6)
        inputs = rbm.hidden_probs(params, inputs)
    # Training on binary data samples instead of probabilities would give another second layer.
    sampled = rbm.sample_hidden(stack[0], jax.random.key(9), jnp.asarray(data))
    init_key, fit_key = jax.random.split(jax.random.fold_in(key, 1))
    other = rbm.init(init_key, 8, 6, scale=0.01, visible_mean=sampled.mean(0))
    other, _ = rbm.fit(other, sampled, fit_key, **kwargs)
    assert not np.allclose(other["W"], stack[1]["W"], atol=1e-3)


def test_registered_model_with_a_stack_is_the_pretrained_classifier():
    stack = [random_rbm(0, 12, 7), random_rbm(1, 7, 5)]
    x = jnp.zeros((1, 12))
    pretrained = dbn.PretrainedStack.from_rbms(stack)
    built = get_model("dbn_classifier", 3, hidden_sizes=(7, 5), pretrained=pretrained)
    direct = dbn.classifier_from_stack(stack, 3)
    a = built.init(jax.random.key(0), x)["params"]
    b = direct.init(jax.random.key(0), x)["params"]
    jax.tree.map(np.testing.assert_array_equal, a, b)
    # Without the stack the same registered model is the random baseline.
    random = get_model("dbn_classifier", 3, hidden_sizes=(7, 5)).init(jax.random.key(0), x)
    assert not np.allclose(random["params"]["hidden_0"]["kernel"], a["hidden_0"]["kernel"])


def test_labelled_subset_is_stratified_and_pure():
    labels = np.repeat(np.arange(4), 10)
    index = study.labelled_subset(labels, 10, seed=0)
    assert np.bincount(labels[index]).tolist() == [3, 3, 2, 2]
    np.testing.assert_array_equal(index, study.labelled_subset(labels, 10, seed=0))
    assert not np.array_equal(index, study.labelled_subset(labels, 10, seed=1))


def test_experiment_end_to_end_and_rerun_reuses_subruns(digits, tmp_path):
    from experiments.dbn.config import get_config

    config = get_config()
    config.seeds = (1,)  # one seed keeps the test fast (every sub-run compiles its own steps)
    config.hidden_sizes = (16, 12)
    config.num_labelled = 30
    config.pretrain.epochs = 2
    config.finetune.num_devices = 1
    config.finetune.batch_size = 10
    config.finetune.num_steps = 20
    config.finetune.log_every_steps = 10
    config.finetune.eval_every_steps = 20
    config.finetune.checkpoint_every_steps = 20
    workdir = str(tmp_path / "dbn")
    summary = study.run(config, workdir, dataset=digits)
    for init in study.INITS:
        assert len(summary[f"{init}_test_accuracy"]) == 1
        assert summary[f"{init}_test_accuracy_std"] == 0.0
        assert 0.0 <= summary[f"{init}_test_accuracy_mean"] <= 1.0
        with open(os.path.join(workdir, f"{init}_seed1", "summary.json")) as f:
            sub = json.load(f)
        assert sub["num_labelled"] == 30 and sub["step"] == 20 and sub["seed"] == 1
    gains = np.subtract(summary["pretrained_test_accuracy"], summary["random_test_accuracy"])
    assert summary["pretraining_gain_mean"] == pytest.approx(gains.mean())
    records = writers.read_jsonl(os.path.join(workdir, "metrics.jsonl"))
    assert sum(r["phase"] == "pretrain" for r in records) == 2 * 2  # layers x epochs
    assert sum(r["phase"] == "finetune" for r in records) == 2
    assert len(summary["pixels_logistic_test_accuracy"]) == 1
    assert summary["pixels_logistic_test_accuracy_mean"] > 0.5  # 30 labels, linear on pixels
    assert summary["pretrain_reconstruction_error"] == [
        [r for r in records if r.get("layer") == layer][-1]["reconstruction_error"]
        for layer in range(2)]

    # The stack is one Orbax checkpoint (step = number of layers) that restores exactly.
    checkpointer = Checkpointer(os.path.join(workdir, "rbm_stack_seed1"))
    assert checkpointer.latest_step() == 2
    stack = checkpointer.restore(study._stack_template(config, 64))
    checkpointer.close()
    assert stack["layers"][0]["W"].shape == (64, 16) and stack["layers"][1]["W"].shape == (16, 12)
    pretrained = get_model("dbn_classifier", 10, hidden_sizes=(16, 12),
                           pretrained=dbn.PretrainedStack.from_rbms(stack["layers"]))
    # The fine-tuned net started from the stack: re-deriving it from the checkpoint agrees
    # with the stack's recognition weights.
    params = pretrained.init(jax.random.key(0), jnp.zeros((1, 8, 8, 1)))["params"]
    np.testing.assert_array_equal(params["hidden_1"]["kernel"], stack["layers"][1]["W"])

    again = study.run(config, workdir, dataset=digits)  # reads the stack and sub-runs back
    assert {k: v for k, v in again.items() if k != "wall_time_s"} == {
        k: v for k, v in summary.items() if k != "wall_time_s"}

    config.finetune.model = "mlp"
    with pytest.raises(UserError, match="choose one of dbn_classifier"):
        study.run(config, str(tmp_path / "other"), dataset=digits)
