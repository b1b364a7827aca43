"""experiments.reproduce: the report's table, verdicts, read-back re-runs and refusals."""

import json
import os

import pytest

from dl_jax.errors import UserError
from experiments.reproduce import claims as claims_lib
from experiments.reproduce import config as config_lib
from experiments.reproduce import report as report_lib
from experiments.reproduce import study


def _files(workdir):
    """Every file under workdir but the report, with its size and modification time."""
    found = {}
    for root, _, names in os.walk(workdir):
        for name in names:
            path = os.path.join(root, name)
            if name not in ("REPORT.md", "report.json"):
                found[os.path.relpath(path, workdir)] = (os.path.getsize(path),
                                                         os.stat(path).st_mtime_ns)
    return found


def test_tiny_suite_report_and_identical_rerun(tmp_path, mnist1d):
    del mnist1d  # the session's MNIST-1D, generated once into its TFDS_DATA_DIR
    config = config_lib.get_config("tiny")
    config.only = "tiny_mlp"  # 2 seeds of a 20-step MNIST-1D MLP: seconds, not a result
    assert config.workers == 2  # the seeds run in two worker processes
    workdir = str(tmp_path / "two_workers")
    summary = study.run(config, workdir)
    with open(os.path.join(workdir, "REPORT.md")) as f:
        report_md = f.read()
    report = json.loads(open(os.path.join(workdir, "report.json")).read())
    assert "| " + " | ".join(report_lib.COLUMNS) + " |" in report_md
    (row,) = report["rows"]
    assert row["n"] == 2 and len(row["values"]) == 2 and row["std"] is not None
    assert row["mean"] == pytest.approx(sum(row["values"]) / 2)
    # 20 steps are far from the paper's 0.68: the claim is marked outside its tolerance.
    assert row["within_tolerance"] is False and "**no**: within 0.02 of 0.68" in report_md
    assert summary["measured"] == 1 and summary["within_tolerance"] == 0
    assert report["machine"]["cores"] and report["versions"]["jax"] and report["git"]["commit"]
    files = _files(workdir)
    assert {"tiny_mlp/seed0.json", "tiny_mlp/seed1.json",
            "tiny_mlp/seed1/summary.json"} <= set(files)

    # A re-run reads every sub-run back: no file touched, the same report byte for byte.
    assert study.run(config, workdir) == summary
    assert _files(workdir) == files
    assert open(os.path.join(workdir, "REPORT.md")).read() == report_md
    assert json.loads(open(os.path.join(workdir, "report.json")).read()) == report

    # One process, one pair after the other: the same records (wall times aside).
    config.workers = 1
    alone = str(tmp_path / "one_worker")
    assert study.run(config, alone)["claims"] == summary["claims"]
    for seed in (0, 1):
        records = [json.loads(open(os.path.join(d, "tiny_mlp", f"seed{seed}.json")).read())
                   for d in (workdir, alone)]
        for record in records:
            record["summary"].pop("wall_time_s")
        assert [(r["config"], r["summary"]) for r in records[:1]] == [
            (r["config"], r["summary"]) for r in records[1:]]

    # A record of another config of the same run is refused, not silently re-used.
    config.seeds = 3
    record_path = os.path.join(workdir, "tiny_mlp", "seed1.json")
    record = json.loads(open(record_path).read())
    record["config"]["num_steps"] = 21
    with open(record_path, "w") as f:
        json.dump(record, f)
    with pytest.raises(UserError, match="another config"):
        study.run(config, workdir)
    config.workers = 0
    with pytest.raises(UserError, match="workers must be at least 1"):
        study.run(config, str(tmp_path / "no_workers"))


def _claim(low, high):
    return claims_lib.Claim("run", "title", "metric", lambda s: s["x"], "0.5", "paper",
                            low=low, high=high, tolerance="within 0.1 of 0.5")


def test_rows_verdicts_and_placeholders():
    records = [{"summary": {"x": 0.30}, "seconds": 1.0}, {"summary": {"x": 0.34}, "seconds": 2.0}]
    outside = study.claim_row(_claim(0.4, 0.6), records, "", "")
    assert outside["within_tolerance"] is False and outside["mean"] == pytest.approx(0.32)
    assert outside["seconds"] == 3.0 and outside["std"] == pytest.approx(0.0283, abs=1e-4)
    inside = study.claim_row(_claim(0.3, 0.6), records[:1], "100 steps", "")
    assert inside["within_tolerance"] is True and inside["std"] is None
    assert inside["claim"] == "title (quick: 100 steps)"
    assert report_lib.ours(inside) == "0.3 (n=1)"
    missing = study.claim_row(_claim(0.3, 0.6), None, "", "not yet available (ImportError)")
    table = report_lib.table([outside, inside, missing])
    assert "| **no**: within 0.1 of 0.5 |" in table and "| yes: within 0.1 of 0.5 |" in table
    assert "| not yet available (ImportError) |" in table
    assert study.availability("no_such_study").startswith("not yet available")


def test_suites_configs_and_refusals():
    with pytest.raises(UserError, match="choose one of quick, full, tiny"):
        config_lib.get_config("huge")
    config = config_lib.get_config()
    assert config.suite == "quick" and study.num_seeds(config, claims_lib.RUNS["lenet5"]) == 2
    config.suite = "full"
    assert study.num_seeds(config, claims_lib.RUNS["nmt"]) == 1
    assert study.num_seeds(config, claims_lib.RUNS["dbn"]) == 3
    config.only = "mnist1d_cnn, nope"
    with pytest.raises(UserError, match="not a run of suite"):
        study.selected_runs(config)
    for suite in ("quick", "full", "tiny"):  # every override names a field of its study
        config = config_lib.get_config(suite)
        runs = study.selected_runs(config)
        assert {claim.run for claim in claims_lib.claims_of(runs)} == set(runs)
        for name in runs:
            built = study.study_config(config, name, 1)
            assert built.seeds == (1,) if name == "dbn" else built.seed == 1
    assert study.study_config(config_lib.get_config("quick"), "lenet5", 0).num_steps == 2000
    assert study.study_config(config_lib.get_config("full"), "lenet5", 0).num_steps == 4000


def test_report_embeds_figures_and_environment(tmp_path):
    figure = tmp_path / "tiny_gradient_norms" / "seed0" / "rnn_vs_lstm.png"
    figure.parent.mkdir(parents=True)
    figure.write_bytes(b"png")
    record = {"summary": {"lstm": [{"forget_bias": 5.0, "rate_state": 0.03}]}, "seconds": 2.0,
              "load": 3.0, "date": "2026-12-01"}
    config = config_lib.get_config("tiny")
    report = study.build_report(config, str(tmp_path), ("tiny_gradient_norms",),
                                {"tiny_gradient_norms": [record]})
    (row,) = report["rows"]
    assert row["within_tolerance"] is False and row["n"] == 1  # 0.03 > 0.02 decades/step
    text = report_lib.markdown(report)
    assert "![gradient norms vs distance, tanh RNN vs LSTM]" \
           "(tiny_gradient_norms/seed0/rnn_vs_lstm.png)" in text
    assert "0 of 1 measured claims within tolerance" in text
    for line in ("* Machine: ", "* Devices: ", "* Versions: jax ", "* Git commit now: "):
        assert line in text
