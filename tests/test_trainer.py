import json
import os

import flax.linen as nn
import jax
import numpy as np
import pytest

from dl_jax import data as data_lib
from dl_jax.training.checkpoints import Checkpointer
from dl_jax.errors import UserError
from dl_jax.models import get_model
from dl_jax.training.steps import TrainState, create_train_state, make_optimizer
from dl_jax.training.trainer import default_config, train_and_evaluate


def tiny_config(**overrides):
    config = default_config()
    config.dataset = "mnist1d"
    config.model = "mlp"
    config.model_kwargs = {"hidden_sizes": (32,)}
    config.batch_size = 32
    config.eval_batch_size = 256
    config.num_steps = 40
    config.log_every_steps = 10
    config.eval_every_steps = 20
    config.checkpoint_every_steps = 20
    config.num_devices = 1
    for key, value in overrides.items():
        setattr(config, key, value)  # replaces (update() would merge model_kwargs)
    return config


def subset(dataset, n_train, n_test=200):
    return data_lib.Dataset(
        name=dataset.name,
        train=data_lib.Split(dataset.train.inputs[:n_train], dataset.train.labels[:n_train]),
        test=data_lib.Split(dataset.test.inputs[:n_test], dataset.test.labels[:n_test]),
        num_classes=dataset.num_classes,
    )


def read_metrics(workdir):
    with open(os.path.join(workdir, "metrics.jsonl")) as f:
        return [json.loads(line) for line in f]


def without_wall_time(summary):
    return {k: v for k, v in summary.items() if k != "wall_time_s"}


def assert_trees_equal(a, b):
    for x, y in zip(jax.tree.leaves(a), jax.tree.leaves(b), strict=True):
        np.testing.assert_array_equal(np.asarray(x), np.asarray(y))


@pytest.mark.parametrize("model,n", [("logistic", 32), ("mlp", 64), ("cnn", 64)])
def test_each_model_overfits_one_batch(mnist1d, tmp_path, model, n):
    config = tiny_config(model=model, model_kwargs={}, batch_size=n, num_steps=300,
                         log_every_steps=100, eval_every_steps=300, checkpoint_every_steps=300)
    one_batch = subset(mnist1d, n)
    one_batch = data_lib.Dataset("one_batch", one_batch.train, one_batch.train, 10)
    result = train_and_evaluate(config, str(tmp_path), dataset=one_batch)
    assert result.summary["test_accuracy"] == 1.0  # the test split is that same batch
    assert result.summary["test_loss"] < 0.1


def test_outputs_written(mnist1d, tmp_path):
    workdir = str(tmp_path)
    result = train_and_evaluate(tiny_config(), workdir, dataset=subset(mnist1d, 512))
    records = read_metrics(workdir)
    assert [r["step"] for r in records] == [10, 20, 30, 40]
    assert {"train_loss", "train_accuracy", "grad_norm", "steps_per_sec"} <= set(records[0])
    assert "test_accuracy" in records[1] and "test_accuracy" not in records[0]
    with open(os.path.join(workdir, "summary.json")) as f:
        summary = json.load(f)
    assert summary["test_accuracy"] == result.summary["test_accuracy"]
    assert summary["seed"] == 0 and summary["step"] == 40
    with open(os.path.join(workdir, "config.json")) as f:
        assert json.load(f)["model"] == "mlp"
    assert any(name.startswith("events.out.tfevents") for name in os.listdir(workdir))
    assert sorted(os.listdir(os.path.join(workdir, "checkpoints"))) == ["20", "40"]


def test_checkpoint_round_trip_with_batch_stats(tmp_path):
    class BNNet(nn.Module):
        num_classes: int = 3

        @nn.compact
        def __call__(self, x, *, train=False):
            x = nn.Dense(4)(x)
            x = nn.BatchNorm(use_running_average=not train)(x)
            return nn.Dense(self.num_classes)(x)

    config = tiny_config(optimizer="momentum")
    state = create_train_state(BNNet(), make_optimizer(config), np.ones((1, 5), np.float32), 7)
    state = state.replace(step=state.step + 5,
                          batch_stats=jax.tree.map(lambda x: x + 1.5, state.batch_stats))
    checkpointer = Checkpointer(str(tmp_path))
    checkpointer.save(5, state)
    checkpointer.wait()
    blank = jax.tree.map(np.zeros_like, state)
    restored = checkpointer.restore(blank)
    checkpointer.close()
    assert isinstance(restored, TrainState)
    assert_trees_equal(restored, state)


def test_resume_equals_uninterrupted(mnist1d, tmp_path):
    dataset = subset(mnist1d, 512)
    full = train_and_evaluate(tiny_config(), str(tmp_path / "full"), dataset=dataset)
    first = train_and_evaluate(tiny_config(stop_after_steps=20), str(tmp_path / "resumed"),
                               dataset=dataset)
    assert not first.finished and int(first.state.step) == 20
    second = train_and_evaluate(tiny_config(), str(tmp_path / "resumed"), dataset=dataset)
    assert second.finished
    assert_trees_equal(second.state.params, full.state.params)
    assert_trees_equal(second.state.opt_state, full.state.opt_state)
    assert without_wall_time(second.summary) == without_wall_time(full.summary)
    strip = lambda rs: [{k: v for k, v in r.items() if k != "steps_per_sec"} for r in rs]  # noqa: E731
    assert strip(read_metrics(tmp_path / "resumed")) == strip(read_metrics(tmp_path / "full"))


def test_same_seed_same_summary_different_seed_differs(mnist1d, tmp_path):
    dataset = subset(mnist1d, 512)
    a = train_and_evaluate(tiny_config(), str(tmp_path / "a"), dataset=dataset)
    b = train_and_evaluate(tiny_config(), str(tmp_path / "b"), dataset=dataset)
    c = train_and_evaluate(tiny_config(seed=1), str(tmp_path / "c"), dataset=dataset)
    assert without_wall_time(a.summary) == without_wall_time(b.summary)
    assert a.summary["train_loss"] != c.summary["train_loss"]


@pytest.mark.parametrize("mode", ["shard_map", "pmap"])
@pytest.mark.parametrize("optimizer", ["sgd", "adam"])
def test_one_and_four_devices_agree(mnist1d, tmp_path, mode, optimizer):
    assert jax.device_count() >= 4, "conftest sets JAX_NUM_CPU_DEVICES=4"
    dataset = subset(mnist1d, 512)
    # SGD is sensitive to the gradient's scale (a sum instead of a mean over devices would show),
    # Adam to its direction; the CNN exercises convolutions on split batches.
    config = dict(model="cnn", model_kwargs={}, optimizer=optimizer,
                  learning_rate=0.1 if optimizer == "sgd" else 1e-2)
    one = train_and_evaluate(tiny_config(parallel="none", **config), str(tmp_path / "one"),
                             dataset=dataset)
    four = train_and_evaluate(tiny_config(parallel=mode, num_devices=4, **config),
                              str(tmp_path / "four"), dataset=dataset)
    for key in ("train_loss", "grad_norm"):
        np.testing.assert_allclose([r[key] for r in read_metrics(tmp_path / "four")],
                                   [r[key] for r in read_metrics(tmp_path / "one")], rtol=1e-5)
    np.testing.assert_allclose(four.summary["test_loss"], one.summary["test_loss"], rtol=1e-5)
    for a, b in zip(jax.tree.leaves(four.state.params), jax.tree.leaves(one.state.params),
                    strict=True):
        np.testing.assert_allclose(a, b, rtol=1e-4, atol=1e-5)


def test_batch_not_divisible_by_devices(mnist1d, tmp_path):
    with pytest.raises(UserError, match="not divisible by the device count 4"):
        train_and_evaluate(tiny_config(batch_size=30, num_devices=4), str(tmp_path),
                           dataset=subset(mnist1d, 128))


def test_nan_loss_names_step_and_keeps_last_finite_checkpoint(mnist1d, tmp_path):
    dataset = subset(mnist1d, 512)
    # A learning rate that is fine for 25 steps and then explodes (through the schedule).
    config = tiny_config(optimizer="sgd", learning_rate=1e-2, schedule="piecewise",
                         schedule_boundaries=(25,), schedule_factor=1e30)
    with pytest.raises(UserError, match=r"at step 2[6-9]|at step 30"):
        train_and_evaluate(config, str(tmp_path), dataset=dataset)
    checkpointer = Checkpointer(str(tmp_path / "checkpoints"))
    assert checkpointer.latest_step() == 20
    template = create_train_state(get_model("mlp", 10, hidden_sizes=(32,)),
                                  make_optimizer(config), dataset.train.inputs[:1], 0)
    restored = checkpointer.restore(template)
    assert all(np.isfinite(np.asarray(x)).all() for x in jax.tree.leaves(restored.params))


def test_unknown_model_lists_valid_ones(mnist1d, tmp_path):
    with pytest.raises(UserError, match="choose one of .*cnn.*logistic.*mlp"):
        train_and_evaluate(tiny_config(model="transformer"), str(tmp_path),
                           dataset=subset(mnist1d, 64))


def test_workdir_with_other_config_is_refused(mnist1d, tmp_path):
    dataset = subset(mnist1d, 128)
    train_and_evaluate(tiny_config(num_steps=10, checkpoint_every_steps=10), str(tmp_path),
                       dataset=dataset)
    with pytest.raises(UserError, match="different config"):
        train_and_evaluate(tiny_config(num_steps=10, checkpoint_every_steps=10, seed=5),
                           str(tmp_path), dataset=dataset)
    assert os.path.exists(tmp_path / "summary.json")  # nothing saved was lost
