import json
import os
import subprocess
import sys

import flax.linen as nn
import jax
import numpy as np
import pytest
from conftest import ROOT, read_jsonl, without_wall_time

from dl_jax import data as data_lib
from dl_jax.errors import UserError
from dl_jax.models import get_model, layers
from dl_jax.training.checkpoints import Checkpointer
from dl_jax.training.optimizers import make_optimizer, make_schedule
from dl_jax.training.steps import TrainState, create_train_state
from dl_jax.training.trainer import train_and_evaluate


def read_metrics(workdir):
    return read_jsonl(os.path.join(workdir, "metrics.jsonl"))


def assert_trees_equal(a, b):
    for x, y in zip(jax.tree.leaves(a), jax.tree.leaves(b), strict=True):
        np.testing.assert_array_equal(np.asarray(x), np.asarray(y))


@pytest.mark.parametrize("model,n", [("logistic", 32), ("mlp", 64), ("conv1d", 64)])
def test_each_model_overfits_one_batch(mnist1d, tmp_path, tiny_config, subset, model, n):
    config = tiny_config(model=model, model_kwargs={}, batch_size=n, num_steps=300,
                         log_every_steps=100, eval_every_steps=300, checkpoint_every_steps=300)
    one_batch = subset(mnist1d, n)
    one_batch = data_lib.Dataset("one_batch", one_batch.train, one_batch.train, 10)
    result = train_and_evaluate(config, str(tmp_path), dataset=one_batch)
    assert result.summary["test_accuracy"] == 1.0  # the test split is that same batch
    assert result.summary["test_loss"] < 0.1


def test_outputs_written(mnist1d, tmp_path, tiny_config, subset):
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


def test_checkpoint_round_trip_with_batch_stats(tmp_path, tiny_config):
    class BNNet(nn.Module):
        num_classes: int = 3

        @nn.compact
        def __call__(self, x, *, train=False):
            x = nn.Dense(4)(x)
            x = layers.batch_norm(train=train)(x)
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


def test_resume_equals_uninterrupted(mnist1d, tmp_path, tiny_config, subset):
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


def test_same_seed_same_summary_different_seed_differs(mnist1d, tmp_path, tiny_config, subset):
    dataset = subset(mnist1d, 512)
    a = train_and_evaluate(tiny_config(), str(tmp_path / "a"), dataset=dataset)
    b = train_and_evaluate(tiny_config(), str(tmp_path / "b"), dataset=dataset)
    c = train_and_evaluate(tiny_config(seed=1), str(tmp_path / "c"), dataset=dataset)
    assert without_wall_time(a.summary) == without_wall_time(b.summary)
    assert a.summary["train_loss"] != c.summary["train_loss"]


# Float32 tolerance for comparing runs that differ only in how the batch is split over devices:
# the per-device partial sums and the all-reduce add the same numbers in another order, a few
# ulps (unit roundoff 6e-8) per reduction and step. Measured over 20 Adam steps on 2 cores:
# max relative loss difference 1.1e-7; 2e-5 leaves > 100x headroom for other CPUs' rounding,
# yet a wrong gradient scale (sum instead of mean) or a different dropout mask moves the loss
# by > 1e-3 (asserted below).
LOSS_RTOL = 2e-5


def _losses(workdir):
    return np.array([r["train_loss"] for r in read_metrics(workdir)])


def _dropout_run(tiny_config, dataset, workdir, rate=0.3, **overrides):
    config = tiny_config(model_kwargs={"hidden_sizes": (32,), "dropout_rate": rate},
                         num_steps=20, log_every_steps=1, eval_every_steps=20,
                         checkpoint_every_steps=20, **overrides)
    train_and_evaluate(config, str(workdir), dataset=dataset)
    return _losses(workdir)


def test_default_mode_one_and_four_devices_agree_with_dropout(mnist1d, tmp_path, tiny_config,
                                                               subset):
    assert jax.device_count() >= 4, "conftest sets JAX_NUM_CPU_DEVICES=4"
    dataset = subset(mnist1d, 512)
    one = _dropout_run(tiny_config, dataset, tmp_path / "one", parallel="jit", num_devices=1)
    four = _dropout_run(tiny_config, dataset, tmp_path / "four", parallel="jit", num_devices=4)
    np.testing.assert_allclose(four, one, rtol=LOSS_RTOL)
    # The comparison can fail: without dropout the losses differ by far more than the tolerance.
    plain = _dropout_run(tiny_config, dataset, tmp_path / "plain", rate=0.0, num_devices=1)
    assert np.max(np.abs(plain - one) / one) > 1e-3


@pytest.mark.parametrize("mode", ["shard_map", "pmap"])
def test_per_device_forms_agree_with_default_with_dropout(mnist1d, tmp_path, tiny_config, subset,
                                                         mode):
    dataset = subset(mnist1d, 512)
    default = _dropout_run(tiny_config, dataset, tmp_path / "jit", parallel="jit",
                           num_devices=4)
    mapped = _dropout_run(tiny_config, dataset, tmp_path / mode, parallel=mode, num_devices=4)
    np.testing.assert_allclose(mapped, default, rtol=LOSS_RTOL)


@pytest.mark.parametrize("mode", ["jit", "shard_map"])
def test_sgd_parameters_agree_across_device_counts(mnist1d, tmp_path, tiny_config, subset, mode):
    # SGD's update is linear in the gradient, so parameters (not only losses) must agree: a sum
    # instead of a mean over devices would make them 4x apart. Adam divides by sqrt(v) and can
    # amplify rounding in near-zero gradients, so for Adam only losses are compared (above).
    dataset = subset(mnist1d, 512)
    config = dict(model="conv1d", model_kwargs={}, optimizer="sgd", learning_rate=0.1,
                  num_steps=20, checkpoint_every_steps=20)
    one = train_and_evaluate(tiny_config(parallel="none", **config), str(tmp_path / "one"),
                             dataset=dataset)
    four = train_and_evaluate(tiny_config(parallel=mode, num_devices=4, **config),
                              str(tmp_path / "four"), dataset=dataset)
    np.testing.assert_allclose(_losses(tmp_path / "four"), _losses(tmp_path / "one"),
                               rtol=LOSS_RTOL)
    for a, b in zip(jax.tree.leaves(four.state.params), jax.tree.leaves(one.state.params),
                    strict=True):
        np.testing.assert_allclose(a, b, rtol=1e-4, atol=1e-6)


def test_batch_not_divisible_by_devices(mnist1d, tmp_path, tiny_config, subset):
    with pytest.raises(UserError, match="not divisible by the device count 4"):
        train_and_evaluate(tiny_config(batch_size=30, num_devices=4), str(tmp_path),
                           dataset=subset(mnist1d, 128))


def test_nan_loss_names_step_and_keeps_last_finite_checkpoint(mnist1d, tmp_path, tiny_config,
                                                             subset):
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


def test_unknown_model_lists_valid_ones(mnist1d, tmp_path, tiny_config, subset):
    with pytest.raises(UserError, match="choose one of .*conv1d.*logistic.*mlp"):
        train_and_evaluate(tiny_config(model="transformer"), str(tmp_path),
                           dataset=subset(mnist1d, 64))


def test_workdir_with_other_config_is_refused(mnist1d, tmp_path, tiny_config, subset):
    dataset = subset(mnist1d, 128)
    train_and_evaluate(tiny_config(num_steps=10, checkpoint_every_steps=10), str(tmp_path),
                       dataset=dataset)
    with pytest.raises(UserError, match="different config"):
        train_and_evaluate(tiny_config(num_steps=10, checkpoint_every_steps=10, seed=5),
                           str(tmp_path), dataset=dataset)
    assert os.path.exists(tmp_path / "summary.json")  # nothing saved was lost


def test_run_from_before_a_new_config_field_still_resumes(mnist1d, tmp_path, tiny_config, subset):
    dataset = subset(mnist1d, 128)
    train_and_evaluate(tiny_config(stop_after_steps=20), str(tmp_path), dataset=dataset)
    stored = json.loads((tmp_path / "config.json").read_text())
    del stored["data_mode"]  # as written by a dl_jax without that field
    (tmp_path / "config.json").write_text(json.dumps(stored))
    assert train_and_evaluate(tiny_config(), str(tmp_path), dataset=dataset).finished
    with pytest.raises(UserError, match="different config \\(data_mode"):  # not the default
        del stored["deterministic"]
        (tmp_path / "config.json").write_text(json.dumps(stored))
        train_and_evaluate(tiny_config(data_mode="stream"), str(tmp_path), dataset=dataset)


def test_nan_before_any_checkpoint_says_none_was_saved(mnist1d, tmp_path, tiny_config, subset):
    config = tiny_config(optimizer="sgd", learning_rate=1e30)
    with pytest.raises(UserError, match=r"at step [12]\b.*no checkpoint was saved yet"):
        train_and_evaluate(config, str(tmp_path), dataset=subset(mnist1d, 128))


@pytest.mark.parametrize("override,message", [
    ({"schedule": "cosin"}, "unknown schedule 'cosin'"),
    ({"optimizer": "adma"}, "unknown optimizer 'adma'"),
    ({"schedule": "warmup_cosine", "warmup_steps": 50}, "warmup_steps \\(50\\) must be below"),
])
def test_config_errors_leave_the_workdir_unclaimed(mnist1d, tmp_path, tiny_config, subset,
                                                   override, message):
    with pytest.raises(UserError, match=message):
        train_and_evaluate(tiny_config(**override), str(tmp_path / "run"),
                           dataset=subset(mnist1d, 64))
    assert not os.path.exists(tmp_path / "run" / "config.json")


def test_piecewise_boundaries_count_from_step_zero(tiny_config):
    schedule = make_schedule(tiny_config(schedule="piecewise", learning_rate=1.0, num_steps=1000,
                                         warmup_steps=300, schedule_boundaries=(250, 500),
                                         schedule_factor=0.1))
    rates = {step: float(schedule(step)) for step in (0, 299, 300, 499, 500, 999)}
    np.testing.assert_allclose(list(rates.values()), [0.1, 0.1, 0.1, 0.1, 0.01, 0.01])
    no_warmup = make_schedule(tiny_config(schedule="piecewise", learning_rate=1.0,
                                          num_steps=1000, schedule_boundaries=(250,)))
    assert float(no_warmup(249)) == 1.0 and float(no_warmup(250)) == pytest.approx(0.1)


def _largest_file(folder):
    files = [os.path.join(d, f) for d, _, fs in os.walk(folder) for f in fs]
    return max(files, key=os.path.getsize)


def test_corrupt_newest_checkpoint_falls_back_and_is_moved_aside(mnist1d, tmp_path, tiny_config,
                                                                 subset, caplog):
    dataset = subset(mnist1d, 256)
    full = train_and_evaluate(tiny_config(), str(tmp_path / "full"), dataset=dataset)
    run = tmp_path / "run"
    train_and_evaluate(tiny_config(stop_after_steps=40), str(run), dataset=dataset)
    with open(_largest_file(run / "checkpoints" / "40"), "r+b") as f:
        f.truncate(100)
    resumed = train_and_evaluate(tiny_config(), str(run), dataset=dataset)
    assert "checkpoint step 40 is unusable" in caplog.text
    assert os.path.isdir(run / "checkpoints.corrupt" / "40")  # kept, not deleted
    assert_trees_equal(resumed.state.params, full.state.params)  # redone from step 20, exactly


def test_garbled_checkpoint_bytes_fail_verification(tmp_path, tiny_config, mnist1d, subset):
    run = tmp_path / "run"
    train_and_evaluate(tiny_config(stop_after_steps=20), str(run), dataset=subset(mnist1d, 128))
    path = _largest_file(run / "checkpoints" / "20" / "state")
    data = bytearray(open(path, "rb").read())
    data[len(data) // 2] ^= 0xFF
    open(path, "wb").write(bytes(data))
    with pytest.raises(UserError, match="no checkpoint in .* restores"):
        train_and_evaluate(tiny_config(), str(run), dataset=subset(mnist1d, 128))


def test_unreadable_run_files_are_one_line_errors(tmp_path, tiny_config, mnist1d, subset):
    dataset = subset(mnist1d, 64)
    (tmp_path / "a_file").write_text("x")
    with pytest.raises(UserError, match="is a file, not a directory"):
        train_and_evaluate(tiny_config(), str(tmp_path / "a_file"), dataset=dataset)
    garbled = tmp_path / "garbled"
    garbled.mkdir()
    (garbled / "config.json").write_text("{not json")
    with pytest.raises(UserError, match="cannot read .*config.json"):
        train_and_evaluate(tiny_config(), str(garbled), dataset=dataset)
    assert (garbled / "config.json").read_text() == "{not json"  # untouched
    run = tmp_path / "run"
    train_and_evaluate(tiny_config(stop_after_steps=20), str(run), dataset=dataset)
    (run / "metrics.jsonl").write_text('{"step": 10}\n{"step": 2')
    with pytest.raises(UserError, match=r"cannot read .*metrics.jsonl \(line 2\)"):
        train_and_evaluate(tiny_config(), str(run), dataset=dataset)
    assert (run / "metrics.jsonl").read_text() == '{"step": 10}\n{"step": 2'


def test_event_writer_does_not_import_torch():
    # tensorboardX imports torch when installed (3 s per run); the writer blocks that one import.
    code = ("import sys; from dl_jax.training import writers; writers._summary_writer_class(); "
            "assert 'torch' not in sys.modules and 'tensorboardX' in sys.modules")
    subprocess.run([sys.executable, "-c", code], check=True, cwd=ROOT, timeout=120)
