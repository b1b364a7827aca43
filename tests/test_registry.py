"""Every registered model builds through get_model and takes one train step."""

import jax
import jax.numpy as jnp
import numpy as np
import optax
import pytest

from dl_jax.errors import UserError
from dl_jax.models import canonical_name, get_model, model_names
from dl_jax.training import steps

# name -> (constructor kwargs, example inputs, targets, objective). Every model traces a whole
# step abstractly (eval_shape: init, forward, loss, gradient, update, without compiling); the
# ones in REAL also run it. The others' real steps are compiled by their own test files
# (test_trainer, test_recurrent, test_cnn_models, test_nmt, ...), so the suite pays once.
_IMAGE = np.zeros((2, 32, 32, 3), np.float32)
_LABELS = np.array([0, 1], np.int32)
_SIGNAL = np.zeros((2, 40), np.float32)
_TOKENS = {"source": np.array([[3, 4, 5, 0], [6, 7, 0, 0]], np.int32),
           "target_in": np.array([[1, 3, 4, 0], [1, 5, 0, 0]], np.int32)}
CASES = {
    "logistic": ({}, _SIGNAL, _LABELS, steps.CLASSIFICATION),
    "mlp": ({"dropout_rate": 0.5}, _SIGNAL, _LABELS, steps.CLASSIFICATION),
    "conv1d": ({}, _SIGNAL, _LABELS, steps.CLASSIFICATION),
    "rnn": ({}, _SIGNAL, _LABELS, steps.CLASSIFICATION),
    "gru": ({"readout": "last"}, _SIGNAL, _LABELS, steps.CLASSIFICATION),
    "lstm": ({"readout": "every_step", "vocab_size": 5, "bidirectional": False},
             np.zeros((2, 6), np.int32), np.zeros((2, 6), np.int32), None),
    "digits_cnn": ({}, np.zeros((2, 8, 8, 1), np.float32), _LABELS, steps.CLASSIFICATION),
    "dbn_classifier": ({"hidden_sizes": (16, 8)}, np.zeros((2, 64), np.float32), _LABELS,
                       steps.CLASSIFICATION),
    "dense_autoencoder": ({}, np.zeros((2, 8, 8, 1), np.float32),
                          np.zeros((2, 8, 8, 1), np.float32), steps.REGRESSION),
}
REAL = ("logistic", "mlp", "dbn_classifier")
ABSTRACT = {
    **{name: ({}, np.zeros((2, 64, 64, 3), np.float32), _LABELS, steps.CLASSIFICATION)
       for name in ("alexnet", "zfnet", "vgg11", "vgg13", "vgg16", "vgg19", "googlenet",
                    "resnet18", "resnet34", "resnet50")},
    **{name: ({}, _IMAGE, _LABELS, steps.CLASSIFICATION)
       for name in ("resnet20", "resnet32", "resnet44", "resnet56")},
    "lenet5": ({}, np.zeros((2, 32, 32, 1), np.float32), _LABELS, steps.CLASSIFICATION),
    "seq2seq": ({"source_vocab": 8, "target_vocab": 8, "embed_dim": 4, "features": 8},
                _TOKENS, np.array([[3, 4, 2, 0], [5, 2, 0, 0]], np.int32), None),
}


def _token_objective():
    def per_example(logits, targets):
        loss = optax.softmax_cross_entropy_with_integer_labels(logits, targets)
        return {"loss": jnp.mean(loss, axis=-1)}

    return steps.Objective(per_example)


def _one_step(name, kwargs, inputs, targets, objective, num_classes=10):
    model = get_model(name, num_classes, **kwargs)
    objective = objective or _token_objective()
    tx = optax.sgd(0.1)
    step = steps.make_train_step(model, tx, objective, seed=0, axis_name=None)

    def init_and_step(inputs, targets):
        example = jax.tree.map(lambda a: a[:1], inputs)
        state = steps.create_train_state(model, tx, example, seed=0)
        return state, step(state, {"inputs": inputs, "targets": targets})

    return init_and_step


def test_every_registered_name_is_covered():
    assert sorted(CASES | ABSTRACT) == sorted(model_names())


@pytest.mark.parametrize("name", REAL)
def test_registered_model_takes_a_real_step(name):
    kwargs, inputs, targets, objective = CASES[name]
    state, (new_state, metrics) = _one_step(name, kwargs, inputs, targets, objective)(
        inputs, targets)
    assert np.isfinite(float(metrics["loss"])) and int(new_state.step) == 1
    moved = [not np.array_equal(a, b) for a, b in zip(jax.tree.leaves(state.params),
                                                      jax.tree.leaves(new_state.params),
                                                      strict=True)]
    assert any(moved), f"{name}: one SGD step changed no parameter"


@pytest.mark.parametrize("name", sorted(ABSTRACT) + sorted(set(CASES) - set(REAL)))
def test_registered_model_traces_a_whole_step(name):
    kwargs, inputs, targets, objective = {**CASES, **ABSTRACT}[name]
    _, (new_state, metrics) = jax.eval_shape(
        _one_step(name, kwargs, inputs, targets, objective), inputs, targets)
    assert metrics["loss"].shape == () and new_state.step.shape == ()


def test_alias_and_refusals():
    assert canonical_name("cnn") == "conv1d"
    with pytest.raises(UserError, match="unknown model 'nope': choose one of .*conv1d"):
        get_model("nope", 10)
    with pytest.raises(UserError, match="has no argument 'widht': model_kwargs may set"):
        get_model("mlp", 10, widht=3)
