"""The experiment command line, run as a user runs it (subprocesses)."""

import glob
import json
import os
import signal
import struct
import subprocess
import sys
import time

import pytest
from conftest import ROOT

TINY = ["--config.num_steps=20", "--config.warmup_steps=5", "--config.log_every_steps=10",
        "--config.eval_every_steps=20", "--config.checkpoint_every_steps=20"]


@pytest.fixture
def run_experiment(run_study):
    def run(args, tfds_dir=None, devices="1", env=None):
        return run_study("mnist1d", args, devices=devices, env=env)

    return run


def read_event_scalars(path):
    """Decodes a TensorBoard event file (TFRecord framing + Event protos) without TensorFlow."""
    from tensorboardX.proto import event_pb2

    scalars = {}
    with open(path, "rb") as f:
        data = f.read()
    offset = 0
    while offset < len(data):
        (length,) = struct.unpack("<Q", data[offset:offset + 8])
        record = data[offset + 12:offset + 12 + length]
        offset += 12 + length + 4
        event = event_pb2.Event.FromString(record)
        for value in event.summary.value:
            scalars.setdefault(value.tag, []).append((event.step, value.simple_value))
    return scalars


def test_main_job_writes_the_contract_outputs(tmp_path, mnist1d, tfds_dir, run_experiment):
    workdir = str(tmp_path / "run")
    result = run_experiment([f"--workdir={workdir}", "--config.model=mlp", *TINY], tfds_dir)
    assert result.returncode == 0, result.stderr[-2000:]
    assert "steps/s" in result.stderr and "ETA" in result.stderr
    for name in ("config.json", "metrics.jsonl", "summary.json"):
        assert os.path.exists(os.path.join(workdir, name)), name
    summary = json.load(open(os.path.join(workdir, "summary.json")))
    assert summary["model"] == "mlp" and summary["step"] == 20
    assert json.loads(result.stdout)["test_accuracy"] == summary["test_accuracy"]
    events = glob.glob(os.path.join(workdir, "events.out.tfevents.*"))
    scalars = read_event_scalars(events[0])
    assert [step for step, _ in scalars["train_loss"]] == [10, 20]
    assert scalars["test_accuracy"][0][1] == pytest.approx(summary["test_accuracy"], rel=1e-6)
    # Re-running the finished command resumes at the last step and changes nothing.
    again = run_experiment([f"--workdir={workdir}", "--config.model=mlp", *TINY], tfds_dir)
    assert again.returncode == 0, again.stderr[-2000:]
    summary_again = json.load(open(os.path.join(workdir, "summary.json")))
    summary.pop("wall_time_s"), summary_again.pop("wall_time_s")
    assert summary_again == summary


def test_four_cpu_devices_in_every_mode_and_many_collectives_in_a_row(tmp_path, mnist1d,
                                                                       run_experiment):
    # On a 2-core machine XLA's CPU client used to run 4 devices' programs on 2 threads, and
    # the all-reduce deadlocked (abort after 40 s) in about half of such runs. The CLI sizes the
    # client's pool itself (PJRT_NPROC); the conftest's value is removed to test exactly that.
    env = {k: v for k, v in os.environ.items() if k != "PJRT_NPROC"}
    stress = subprocess.run(
        [sys.executable, os.path.join(ROOT, "tests", "collective_stress.py"), "4", "1500"],
        env={**env, "JAX_NUM_CPU_DEVICES": "4", "PYTHONPATH": ROOT}, cwd=ROOT,
        capture_output=True, text=True, timeout=240)
    assert stress.returncode == 0, stress.stderr[-2000:]
    assert stress.stdout.split() == ["jit", "ok", "shard_map", "ok", "pmap", "ok"]
    result = run_experiment([f"--workdir={tmp_path}", "--config.parallel=pmap", *TINY],
                            devices="4", env={"PJRT_NPROC": None})
    assert result.returncode == 0, result.stderr[-2000:]
    assert "4 device(s) (pmap)" in result.stderr


@pytest.mark.parametrize("args,message", [
    (["--config.model=resnet9000"], "error: unknown model 'resnet9000': choose one of"),
    (["--config.dataset=nope"], "error: unknown dataset 'nope'"),
    (["--config.batch_size=30", "--config.num_devices=4"], "not divisible by the device count"),
    (["--config.nm_steps=5"], "error: the config has no field 'nm_steps' (did you mean "
                              "'num_steps'?)"),
    (["--config.model_kwargs.foo=1"], "error: the config has no field 'model_kwargs.foo'"),
    (["--config=experiments/mnist1d/nope.py"], "error: cannot load the config file"),
    (["--config=experiments/mnist1d/config.py:vgg99"], "error: unknown variant 'vgg99'"),
    (["--config.schedule=cosin"], "error: unknown schedule 'cosin'"),
])
def test_user_errors_are_one_line_and_nonzero(tmp_path, mnist1d, run_experiment, args, message):
    result = run_experiment([f"--workdir={tmp_path}", *args, *TINY], devices="4")
    assert result.returncode == 1
    last = result.stderr.strip().splitlines()[-1]
    assert last.startswith("error: ") and message in last, result.stderr[-2000:]
    assert "Traceback" not in result.stderr
    # Nothing was claimed, so the corrected command can reuse the directory.
    assert not os.path.exists(os.path.join(tmp_path, "config.json"))


def test_help_lists_usage_flags_and_config(run_experiment):
    result = run_experiment(["--help"])
    assert result.returncode == 0, result.stderr[-2000:]
    for text in ("usage: python -m experiments.mnist1d --workdir=DIR", "--workdir", "--config",
                 "num_steps: 6000", "warmup_steps: 300"):
        assert text in result.stdout


def _start(args, tfds_dir):
    env = {**os.environ, "TFDS_DATA_DIR": tfds_dir, "JAX_NUM_CPU_DEVICES": "1",
           "PYTHONPATH": ROOT}
    return subprocess.Popen([sys.executable, "-m", "experiments.mnist1d", *args], cwd=ROOT,
                            env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)


def _wait_for(path, timeout=120):
    deadline = time.time() + timeout
    while not os.path.exists(path):
        assert time.time() < deadline, f"{path} did not appear"
        time.sleep(0.05)


def test_sigterm_checkpoints_exits_3_and_resumes(tmp_path, mnist1d, tfds_dir):
    args = [f"--workdir={tmp_path}", "--config.model=logistic", "--config.num_steps=200000",
            "--config.log_every_steps=50", "--config.checkpoint_every_steps=100000",
            "--config.eval_every_steps=100000"]
    process = _start(args, tfds_dir)
    _wait_for(os.path.join(tmp_path, "metrics.jsonl"))
    time.sleep(1.0)  # well inside training
    process.send_signal(signal.SIGTERM)
    _, stderr = process.communicate(timeout=120)
    assert process.returncode == 3, stderr[-2000:]  # unfinished: a scheduler must requeue
    assert "Traceback" not in stderr
    assert os.listdir(os.path.join(tmp_path, "checkpoints"))


def test_ctrl_c_during_the_first_compile_is_clean(tmp_path, mnist1d, tfds_dir):
    process = _start([f"--workdir={tmp_path}", *TINY], tfds_dir)
    _wait_for(os.path.join(tmp_path, "config.json"))  # claimed: setup and compile under way
    process.send_signal(signal.SIGINT)
    _, stderr = process.communicate(timeout=120)
    assert "Traceback" not in stderr and "KeyboardInterrupt" not in stderr, stderr[-2000:]
    assert process.returncode in (0, 3, 130), stderr[-2000:]  # never a signal death (segfault)


def test_process_options_set_before_jax_starts():
    import ml_collections

    from experiments.common.cli import apply_process_options, size_cpu_thread_pool

    env = {"XLA_FLAGS": "--xla_dump_to=/tmp/x"}
    apply_process_options(ml_collections.ConfigDict({"deterministic": True}), env)
    apply_process_options(ml_collections.ConfigDict({"deterministic": True}), env)  # idempotent
    assert env["XLA_FLAGS"] == "--xla_dump_to=/tmp/x --xla_gpu_deterministic_ops=true"
    untouched = {}
    apply_process_options(ml_collections.ConfigDict({"deterministic": False}), untouched)
    assert untouched == {}
    four = {"JAX_NUM_CPU_DEVICES": "4"}
    size_cpu_thread_pool(four)
    assert int(four["PJRT_NPROC"]) >= 16
    explicit = {"JAX_NUM_CPU_DEVICES": "4", "PJRT_NPROC": "32"}
    size_cpu_thread_pool(explicit)
    assert explicit["PJRT_NPROC"] == "32"
    one = {}
    size_cpu_thread_pool(one)
    assert one == {}
