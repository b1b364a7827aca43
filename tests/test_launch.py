"""launch/: the SLURM path rehearsed on this machine with a stand-in ``srun``, the TPU script's
command lines (dry run), and ``bash -n`` on every script."""

import glob
import json
import os
import shlex
import subprocess
import sys

import pytest

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
SCRIPTS = sorted(glob.glob(os.path.join(ROOT, "launch", "*.sh")) +
                 glob.glob(os.path.join(ROOT, "launch", "*.sbatch")))

# The variables a real `srun` step sets for each task (JAX's SLURM detection reads them).
FAKE_SRUN = """#!/usr/bin/env bash
# Stand-in srun: SLURM_NTASKS local tasks of "$@" with the step variables of a real srun.
while [[ $1 == -* ]]; do shift; done
n=${SLURM_NTASKS:-1}
pids=()
for ((i = 0; i < n; i++)); do
  SLURM_PROCID=$i SLURM_LOCALID=$i SLURM_NODEID=0 SLURM_STEP_ID=0 \\
    SLURM_STEP_NODELIST=$SLURM_JOB_NODELIST SLURM_STEP_NUM_NODES=1 SLURM_STEP_NUM_TASKS=$n \\
    "$@" &
  pids+=($!)
done
status=0
for pid in "${pids[@]}"; do wait "$pid"; s=$?; ((s > status)) && status=$s; done
exit $status
"""
FAKE_SCONTROL = """#!/usr/bin/env bash
echo "$@" >> "$SCONTROL_LOG"
"""
TINY = ["--config=experiments/mnist1d/config.py:logistic", "--config.num_steps=20",
        "--config.batch_size=32", "--config.warmup_steps=2", "--config.log_every_steps=10",
        "--config.eval_every_steps=20", "--config.checkpoint_every_steps=20"]


def _stubs(tmp_path):
    bin_dir = tmp_path / "bin"
    bin_dir.mkdir(exist_ok=True)
    for name, text in (("srun", FAKE_SRUN), ("scontrol", FAKE_SCONTROL)):
        (bin_dir / name).write_text(text)
        (bin_dir / name).chmod(0o755)
    return str(bin_dir)


def _slurm_env(tmp_path, tfds_dir, ntasks, **extra):
    job_id = str(10_000 + os.getpid() % 4096)  # the coordinator port follows from the job id
    return {**os.environ, "PATH": _stubs(tmp_path) + os.pathsep + os.environ["PATH"],
            "SLURM_JOB_ID": job_id, "SLURM_NTASKS": str(ntasks),
            "SLURM_JOB_NODELIST": "localhost", "SLURM_SUBMIT_DIR": ROOT,
            "SCONTROL_LOG": str(tmp_path / "scontrol.log"), "PYTHON": sys.executable,
            "TFDS_DATA_DIR": tfds_dir, "JAX_NUM_CPU_DEVICES": "1", "JAX_PLATFORMS": "cpu",
            **extra}


@pytest.mark.parametrize("script", SCRIPTS, ids=os.path.basename)
def test_scripts_parse(script):
    subprocess.run(["bash", "-n", script], check=True)


def test_slurm_two_tasks_equal_one_process(tmp_path, tfds_dir, mnist1d, run_study):
    # mnist1d: the data set is prepared once, before three processes would race to build it.
    # Two processes of one CPU device each train on one global batch over a 2-device mesh;
    # the 1-process run computes the same float32 sums in another order. Observed: equal test
    # accuracy and losses within 2 ulps (1.2e-7 relative); rtol 1e-5 leaves 20 Adam steps room.
    two = subprocess.Popen(
        ["bash", os.path.join(ROOT, "launch", "slurm.sbatch"), "experiments.mnist1d",
         f"--workdir={tmp_path / 'two'}", *TINY],
        env=_slurm_env(tmp_path, tfds_dir, 2), cwd=str(tmp_path), text=True,
        stdout=subprocess.PIPE, stderr=subprocess.STDOUT)
    one = run_study("mnist1d", [f"--workdir={tmp_path / 'one'}", *TINY])
    output = two.communicate(timeout=240)[0]
    assert one.returncode == 0, one.stderr[-2000:]
    assert two.returncode == 0, output[-3000:]
    assert "2 tasks on localhost" in output
    assert "2 device(s)" in output  # one device per process, a 2-device mesh
    summaries = [json.loads((tmp_path / d / "summary.json").read_text()) for d in ("one", "two")]
    assert summaries[0]["step"] == summaries[1]["step"] == 20
    assert summaries[0]["test_accuracy"] == pytest.approx(summaries[1]["test_accuracy"],
                                                          abs=1e-3)
    for key in ("test_loss", "train_loss", "grad_norm"):
        assert summaries[0][key] == pytest.approx(summaries[1][key], rel=1e-5), key


def test_slurm_requeues_a_stopped_run(tmp_path, tfds_dir):
    # A task that exits 3 (stopped with a checkpoint) makes the script requeue the job; any
    # other status does not, and the script exits with the tasks' status.
    fake_python = tmp_path / "python_exit"
    fake_python.write_text('#!/usr/bin/env bash\nexit "$EXIT_WITH"\n')
    fake_python.chmod(0o755)
    for status, requeued in ((3, True), (1, False)):
        env = _slurm_env(tmp_path, tfds_dir, 2, PYTHON=str(fake_python), EXIT_WITH=str(status))
        done = subprocess.run(["bash", os.path.join(ROOT, "launch", "slurm.sbatch"),
                               "experiments.mnist1d", "--workdir=/unused"],
                              env=env, capture_output=True, text=True, timeout=60)
        assert done.returncode == status
        log = tmp_path / "scontrol.log"
        assert log.exists() == requeued
        if requeued:
            assert log.read_text().split() == ["requeue", env["SLURM_JOB_ID"]]
            log.unlink()


def test_slurm_without_a_step_runs_one_process(monkeypatch):
    # Inside salloc (SLURM_JOB_ID but no srun step) a plain command must not try to join a job.
    from dl_jax.training import parallel

    calls = []
    monkeypatch.setattr(parallel.jax.distributed, "initialize", lambda *a, **k: calls.append(1))
    monkeypatch.setattr(parallel, "initialize_distributed",
                        parallel.initialize_distributed.__wrapped__)
    for key in ("JAX_COORDINATOR_ADDRESS", "OMPI_COMM_WORLD_SIZE", "TPU_WORKER_HOSTNAMES"):
        monkeypatch.delenv(key, raising=False)
    monkeypatch.setenv("SLURM_JOB_ID", "7")
    monkeypatch.setenv("SLURM_NTASKS", "2")
    parallel.initialize_distributed()
    assert calls == []
    for key, value in (("SLURM_STEP_NODELIST", "n1"), ("SLURM_PROCID", "0"),
                       ("SLURM_LOCALID", "0")):
        monkeypatch.setenv(key, value)
    parallel.initialize_distributed()
    assert calls == [1]


def test_tpu_dry_run_prints_the_worker_commands():
    done = subprocess.run(
        ["bash", os.path.join(ROOT, "launch", "tpu_vm.sh"), "--dry-run", "my-tpu", "us-east5-a",
         "experiments.mnist1d", "--workdir=/mnt/b/m1", "--config.model=mlp"],
        env={**os.environ, "BUCKET": "b", "PROJECT": "proj"}, capture_output=True, text=True,
        check=True)
    lines = [shlex.split(line) for line in done.stdout.splitlines()]
    assert [line[0] for line in lines] == ["git", "gcloud", "gcloud", "gcloud"]
    scp, setup, study = lines[1:]
    assert scp[:4] == ["gcloud", "compute", "tpus", "tpu-vm"] and scp[4] == "scp"
    for line in (scp, setup, study):
        assert "--worker=all" in line and "--zone=us-east5-a" in line
        assert "--project=proj" in line
    assert setup[4:6] == ["ssh", "my-tpu"] and study[4:6] == ["ssh", "my-tpu"]
    setup_cmd = next(a for a in setup if a.startswith("--command=")).removeprefix("--command=")
    assert "pip install" in setup_cmd and "jax[tpu]" in shlex.split(setup_cmd)
    assert "gcsfuse --implicit-dirs b /mnt/b" in setup_cmd
    study_cmd = next(a for a in study if a.startswith("--command=")).removeprefix("--command=")
    assert shlex.split(study_cmd)[-4:] == ["-m", "experiments.mnist1d", "--workdir=/mnt/b/m1",
                                           "--config.model=mlp"]
    # Without setup only the study command is printed.
    again = subprocess.run(
        ["bash", os.path.join(ROOT, "launch", "tpu_vm.sh"), "--dry-run", "--no-setup", "t", "z",
         "experiments.rbm", "--workdir=/w"], capture_output=True, text=True, check=True)
    assert len(again.stdout.splitlines()) == 1 and "--worker=all" in again.stdout
