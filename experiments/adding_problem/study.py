"""The adding problem: its objective, the input-blind baseline and the run.

Success is ``|prediction - target| < 0.04`` (Hochreiter & Schmidhuber's criterion). A model that
ignores the input can do no better than the constant ``E[target] = 1``: mean squared error
``Var(U1 + U2) = 1/6``, and ``P(|U1 + U2 - 1| < 0.04) = 1 - 0.96^2 = 0.0784``. The sequences are
``dl_jax.data.synthetic.adding_dataset``; the model is the registry's ``RecurrentNet`` with the
``last`` read-out and one output.
"""

from __future__ import annotations

import jax
import jax.numpy as jnp
import numpy as np

from dl_jax.data import synthetic
from dl_jax.errors import UserError
from dl_jax.models.recurrent import default_unroll
from dl_jax.training.steps import Objective
from dl_jax.training.trainer import train_and_evaluate

Array = jax.Array

# The registered recurrent models (dl_jax.models.sequence.RecurrentNet) this study trains.
RECURRENT_MODELS = ("gru", "lstm", "rnn")
ADDING_TOLERANCE = 0.04
ADDING_CONSTANT_PREDICTION = 1.0
ADDING_CONSTANT_MSE = 1.0 / 6.0
ADDING_CONSTANT_WITHIN = 1.0 - (1.0 - ADDING_TOLERANCE) ** 2
# "Solved": more than this fraction of test sequences within the tolerance.
SOLVED_FRACTION = 0.95


def adding_per_example(outputs: Array, targets: Array) -> dict[str, Array]:
    """Per-example regression loss and the H&S success criterion.

    Args:
      outputs: predictions ``(N,)`` or ``(N, 1)``.
      targets: ``(N,)``.

    Returns:
      ``loss`` and ``squared_error`` (both ``(prediction - target)^2``), ``abs_error`` and
      ``within_0.04`` (1.0 where ``|prediction - target| < 0.04``).
    """
    error = outputs.reshape(targets.shape).astype(jnp.float32) - targets
    squared = jnp.square(error)
    return {
        "loss": squared,
        "squared_error": squared,
        "abs_error": jnp.abs(error),
        "within_0.04": (jnp.abs(error) < ADDING_TOLERANCE).astype(jnp.float32),
    }


ADDING_OBJECTIVE = Objective(adding_per_example)


def constant_baseline(targets: np.ndarray, value: float = ADDING_CONSTANT_PREDICTION) -> dict:
    """Metrics of the input-blind predictor that always answers ``value``.

    Args:
      targets: ``(N,)`` adding-problem targets.
      value: the constant prediction (1.0 = ``E[target]``, the best constant in MSE).

    Returns:
      ``{'mse', 'within_0.04'}`` on ``targets``.
    """
    error = value - np.asarray(targets, np.float64)
    return {"mse": float(np.mean(error**2)),
            "within_0.04": float(np.mean(np.abs(error) < ADDING_TOLERANCE))}


def resolve_unroll(config):
    """A copy of ``config`` with ``model_kwargs.unroll`` resolved for this backend.

    ``unroll = 0`` in a config means ``default_unroll(jax.default_backend())``; it is resolved
    once, when the run starts (after the distributed runtime is up, outside any trace), and the
    resolved value is what ``config.json`` records.
    """
    config = config.copy_and_resolve_references()
    if not config.model_kwargs.get("unroll"):
        config.model_kwargs.unroll = default_unroll(jax.default_backend())
    return config


def check_model(model: str) -> None:
    """Refuses a ``config.model`` that is not a recurrent model, naming the valid ones."""
    if model not in RECURRENT_MODELS:
        raise UserError(f"unknown model {model!r} for this study: choose one of "
                        f"{', '.join(RECURRENT_MODELS)}")


def run(config, workdir: str) -> dict:
    """Trains ``config.model`` on the adding problem of length ``config.seq_len``.

    Args:
      config: the trainer's fields plus ``seq_len``, ``num_train``, ``num_test`` and
        ``data_seed``; ``config.dataset`` must be ``"adding"``.
      workdir: run directory (resumes like every shared-trainer run).

    Returns:
      The summary: the trainer's (``test_squared_error``, ``test_within_0.04`` ...) plus the
      constant-1.0 baseline on the same test set and ``solved`` (``test_within_0.04 > 0.95``);
      ``{}`` if the run stopped before ``num_steps``.

    Raises:
      UserError: another dataset or a non-recurrent model.
    """
    synthetic.check_task(config.dataset, "adding")
    check_model(config.model)
    config = resolve_unroll(config)
    dataset = synthetic.adding_dataset(config.data_seed, config.seq_len, config.num_train,
                                       config.num_test)
    baseline = constant_baseline(dataset.test.labels)
    extra = {
        "seq_len": config.seq_len,
        "baseline_constant_prediction": ADDING_CONSTANT_PREDICTION,
        "baseline_test_mse": baseline["mse"],
        "baseline_test_within_0.04": baseline["within_0.04"],
        "baseline_theory_mse": ADDING_CONSTANT_MSE,
        "baseline_theory_within_0.04": ADDING_CONSTANT_WITHIN,
    }

    def verdicts(summary):
        return {**extra,
                "solved": bool(summary["test_within_0.04"] > SOLVED_FRACTION),
                "beats_baseline": bool(summary["test_squared_error"] < 0.5 * baseline["mse"])}

    result = train_and_evaluate(config, workdir, dataset=dataset, objective=ADDING_OBJECTIVE,
                                extra_summary=verdicts)
    return result.summary
