"""The experiment command line, run as a user runs it (subprocesses)."""

import glob
import json
import os
import struct
import subprocess
import sys

import pytest

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
TINY = ["--config.num_steps=20", "--config.warmup_steps=5", "--config.log_every_steps=10",
        "--config.eval_every_steps=20", "--config.checkpoint_every_steps=20"]


def run_experiment(args, tfds_dir, devices="1"):
    env = {**os.environ, "TFDS_DATA_DIR": tfds_dir, "JAX_NUM_CPU_DEVICES": devices,
           "PYTHONPATH": ROOT}
    return subprocess.run([sys.executable, "-m", "experiments.mnist1d", *args], cwd=ROOT,
                          env=env, capture_output=True, text=True, timeout=300)


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


def test_main_job_writes_the_contract_outputs(tmp_path, mnist1d, tfds_dir):
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


@pytest.mark.parametrize("mode", ["pmap", "shard_map"])
def test_four_cpu_devices_run(tmp_path, mnist1d, tfds_dir, mode):
    result = run_experiment([f"--workdir={tmp_path}", f"--config.parallel={mode}", *TINY],
                            tfds_dir, devices="4")
    assert result.returncode == 0, result.stderr[-2000:]
    assert "4 device(s)" in result.stderr


@pytest.mark.parametrize("args,message", [
    (["--config.model=resnet9000"], "error: unknown model 'resnet9000': choose one of"),
    (["--config.dataset=nope"], "error: unknown dataset 'nope'"),
    (["--config.batch_size=30", "--config.num_devices=4"], "not divisible by the device count"),
])
def test_user_errors_are_one_line_and_nonzero(tmp_path, mnist1d, tfds_dir, args, message):
    result = run_experiment([f"--workdir={tmp_path}", *args, *TINY], tfds_dir, devices="4")
    assert result.returncode == 1
    last = result.stderr.strip().splitlines()[-1]
    assert last.startswith("error: ") and message in last, result.stderr[-2000:]
    assert "Traceback" not in result.stderr
    # Nothing was claimed, so the corrected command can reuse the directory.
    assert not os.path.exists(os.path.join(tmp_path, "config.json"))
