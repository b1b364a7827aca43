"""Every study has the house's shape: one folder, one entry point, a config, a README."""

import importlib
import inspect
import os

import pytest
from conftest import ROOT

from dl_jax.errors import UserError

STUDIES = sorted(d for d in os.listdir(os.path.join(ROOT, "experiments"))
                 if os.path.isfile(os.path.join(ROOT, "experiments", d, "__main__.py")))


def test_the_lecture_studies_are_there():
    assert {"mnist1d", "lenet5", "image_classification", "gradient_norms", "adding_problem",
            "copy_task", "rbm", "dbn", "autoencoder", "classic_vs_deep"} <= set(STUDIES)


@pytest.mark.parametrize("study", STUDIES)
def test_study_shape(study):
    folder = os.path.join(ROOT, "experiments", study)
    for name in ("__init__.py", "__main__.py", "README.md"):
        assert os.path.isfile(os.path.join(folder, name)), f"{study}/{name}"
    if study == "translate":  # a command over a trained nmt workdir, not a training study
        return
    assert os.path.isfile(os.path.join(folder, "config.py")), f"{study}/config.py"
    run = importlib.import_module(f"experiments.{study}.study").run
    assert list(inspect.signature(run).parameters)[:2] == ["config", "workdir"]
    config_module = importlib.import_module(f"experiments.{study}.config")
    config = config_module.get_config()
    assert len(config)  # a real ConfigDict
    doc = config_module.__doc__ or ""
    assert f"python -m experiments.{study}" in doc, "the config docstring holds the command"
    assert len(doc.splitlines()) <= 25, "results and ablations belong in the README"
    with pytest.raises(UserError, match="unknown variant"):
        config_module.get_config("no_such_variant")
    with open(os.path.join(folder, "README.md")) as f:
        assert f"python -m experiments.{study}" in f.read()


def test_library_never_imports_a_study():
    for folder, _, files in os.walk(os.path.join(ROOT, "dl_jax")):
        for name in files:
            if name.endswith(".py"):
                with open(os.path.join(folder, name)) as f:
                    text = f.read()
                assert "import experiments" not in text and "from experiments" not in text, name
