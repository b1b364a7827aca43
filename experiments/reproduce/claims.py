"""The claims the reproduction checks: which study runs, which number, against what, how close.

A ``Run`` is one study invocation per seed (``experiments.<study>.study.run`` in
``WORKDIR/<run>/seed<s>``); a ``Claim`` reads one number from that run's summary, averages it
over seeds and compares the mean with a published (or stated) value through its tolerance
interval. Several claims may read the same run. ``SUITES`` lists the runs of each suite with the
overrides that suite applies (``quick`` shortens some runs; the claim's title then says so).
"""

from __future__ import annotations

import dataclasses
import math
from collections.abc import Callable


@dataclasses.dataclass(frozen=True)
class Run:
    """One study invocation: ``experiments.<study>`` with a config variant and overrides."""

    study: str
    variant: str | None = None
    overrides: tuple[tuple[str, object], ...] = ()
    seed_key: str = "seed"  # the config field that takes the seed ("seeds" takes a 1-tuple)
    max_seeds: int = 0  # > 0: at most this many seeds, whatever config.seeds says
    figures: tuple[tuple[str, str], ...] = ()  # (caption, file in the seed-0 workdir)


@dataclasses.dataclass(frozen=True)
class Claim:
    """A number of a run's summary against a published value, with its tolerance interval."""

    run: str
    title: str
    metric: str
    value: Callable[[dict], float]
    published: str
    source: str
    low: float = -math.inf  # within tolerance: low <= seed mean <= high
    high: float = math.inf
    tolerance: str = ""


def _key(name: str) -> Callable[[dict], float]:
    return lambda summary: float(summary[name])


def _record(group: str, field: str, name: str, value: float) -> Callable[[dict], float]:
    """``field`` of the record of ``summary[group]`` whose ``name`` equals ``value``."""
    return lambda summary: float(next(r[field] for r in summary[group] if r[name] == value))


def _rnn_norm(kind: str, sigma: float) -> Callable[[dict], float]:
    return lambda summary: float(next(
        r["log10_norm_at_T-1"] for r in summary["rnn"]
        if r["kind"] == kind and r["sigma_target"] == sigma))


def _ratio(numerator: str, denominator: str) -> Callable[[dict], float]:
    return lambda summary: float(summary[numerator]) / float(summary[denominator])


def _within(published: float, points: float) -> dict:
    return {"low": published - points, "high": published + points,
            "tolerance": f"within {points:g} of {published:g}"}


def _at_least(value: float, why: str = "") -> dict:
    return {"low": value, "tolerance": f">= {value:.3g}" + (f" ({why})" if why else "")}


def _at_most(value: float, why: str = "") -> dict:
    return {"high": value, "tolerance": f"<= {value:.3g}" + (f" ({why})" if why else "")}


GREYDANUS = "Greydanus 2020, Scaling down deep learning (MNIST-1D)"
GRAD_FIGURE = (("gradient norms vs distance, tanh RNN vs LSTM", "rnn_vs_lstm.png"),)

RUNS: dict[str, Run] = {
    "mnist1d_logistic": Run("mnist1d", "logistic"),
    "mnist1d_mlp": Run("mnist1d", "mlp"),
    "mnist1d_cnn": Run("mnist1d", "cnn"),
    "mnist1d_gru": Run("mnist1d", "gru"),
    "lenet5": Run("lenet5"),
    "gradient_norms": Run("gradient_norms", figures=GRAD_FIGURE),
    "adding_lstm": Run("adding_problem", "lstm"),
    "adding_gru": Run("adding_problem", "gru"),
    "adding_rnn": Run("adding_problem", "rnn"),
    "copy_lstm": Run("copy_task", "lstm"),
    "copy_rnn": Run("copy_task", "rnn"),
    "rbm": Run("rbm", figures=(("RBM samples (Gibbs chains)", "samples.png"),
                               ("RBM filters", "filters.png"))),
    "dbn": Run("dbn", seed_key="seeds"),
    "autoencoder": Run("autoencoder", figures=(
        ("autoencoder vs PCA reconstructions (code 8)", "reconstructions.png"),)),
    "classic_vs_deep": Run("classic_vs_deep"),
    "resnet20_digits": Run("image_classification"),
    "nmt": Run("nmt", max_seeds=1, figures=(("BLEU vs source length", "bleu_by_length.png"),)),
    # The tests' suite: seconds per run, numbers that mean nothing.
    "tiny_mlp": Run("mnist1d", "mlp", overrides=(
        ("num_steps", 20), ("eval_every_steps", 20), ("checkpoint_every_steps", 20),
        ("log_every_steps", 10), ("warmup_steps", 5), ("num_devices", 1),
        ("model_kwargs", {"hidden_sizes": (16,)}))),
    "tiny_gradient_norms": Run("gradient_norms", overrides=(
        ("seq_len", 30), ("hidden_size", 8), ("num_sequences", 2), ("sigma_values", (0.5, 1.0)),
        ("matrix_kinds", ("orthogonal",)), ("forget_biases", (1.0, 5.0)),
        ("compare_sigma", 1.0), ("compare_biases", (1.0, 5.0))), figures=GRAD_FIGURE),
}

CLAIMS: tuple[Claim, ...] = (
    Claim("mnist1d_logistic", "MNIST-1D logistic regression", "test accuracy",
          _key("test_accuracy"), "0.32", GREYDANUS, **_within(0.32, 0.02)),
    Claim("mnist1d_mlp", "MNIST-1D MLP", "test accuracy", _key("test_accuracy"), "0.68",
          GREYDANUS, **_within(0.68, 0.02)),
    Claim("mnist1d_cnn", "MNIST-1D CNN", "test accuracy", _key("test_accuracy"), "0.94",
          GREYDANUS, **_within(0.94, 0.02)),
    Claim("mnist1d_gru", "MNIST-1D GRU", "test accuracy", _key("test_accuracy"), "0.91",
          GREYDANUS, **_within(0.91, 0.02)),
    Claim("lenet5", "LeNet-5 with distortions, 8x8 digits at 32x32", "test accuracy",
          _key("test_accuracy"), "0.992 on MNIST (0.8 % error with distortions)",
          "LeCun et al. 1998 (other data: 360 test digits)",
          **_at_least(0.99, "error <= 1 %, as the paper's")),
    Claim("gradient_norms", "tanh RNN, orthogonal W, sigma_max 0.9: gradient vanishes",
          "log10 ||dE/ds_t|| at k = T-1", _rnn_norm("orthogonal", 0.9),
          "<= (T-1) log10 0.9 (bound sigma_max^k)", "Pascanu, Mikolov & Bengio 2013",
          **_at_most(199 * math.log10(0.9), "the bound at T = 200")),
    Claim("gradient_norms", "LSTM, forget-gate bias 5: gradient survives",
          "decades per step of ||dE/ds_t||", _record("lstm", "rate_state", "forget_bias", 5.0),
          "~0 (dc_t/dc_{t-1} ~ diag(f_t), f_t ~ 1)", "Hochreiter & Schmidhuber 1997; lecture",
          low=-0.01, high=0.01, tolerance="|rate| < 0.01"),
    Claim("adding_lstm", "adding problem T = 200, LSTM", "test fraction within 0.04",
          _key("test_within_0.04"), "solved (> 0.95)", "Hochreiter & Schmidhuber 1997",
          **_at_least(0.95)),
    Claim("adding_gru", "adding problem T = 200, GRU", "test fraction within 0.04",
          _key("test_within_0.04"), "solved (> 0.95)", "Hochreiter & Schmidhuber 1997 (task)",
          **_at_least(0.95)),
    Claim("adding_rnn", "adding problem T = 200, tanh RNN", "test fraction within 0.04",
          _key("test_within_0.04"), "fails: 0.078 (input-blind constant)",
          "Hochreiter & Schmidhuber 1997; Bengio et al. 1994",
          **_at_most(0.1, "near the constant baseline")),
    Claim("copy_lstm", "copy task K = 10, delay 20, LSTM", "symbol accuracy",
          _key("test_symbol_accuracy"), "solved (> 0.99)", "Arjovsky et al. 2016 (task)",
          **_at_least(0.99)),
    Claim("copy_rnn", "copy task K = 10, delay 20, tanh RNN", "symbol accuracy",
          _key("test_symbol_accuracy"), "near memoryless 0.125", "Arjovsky et al. 2016",
          **_at_most(0.25, "2x the memoryless baseline")),
    Claim("rbm", "RBM features + logistic regression, digits", "test accuracy",
          _key("rbm_features_test_accuracy"), "beats raw pixels (0.903 here)",
          "scikit-learn BernoulliRBM example", **_at_least(0.923, "raw pixels + 2 points")),
    Claim("dbn", "DBN pretraining vs random init, 100 labels", "test accuracy gain",
          _key("pretraining_gain_mean"), "> 0 (pretraining helps)",
          "Hinton, Osindero & Teh 2006; Erhan et al. 2010", **_at_least(0.0)),
    Claim("autoencoder", "deep autoencoder vs PCA, code 8, digits", "PCA MSE / AE MSE",
          _ratio("pca_test_mse", "autoencoder_test_mse"), "4.6 (MNIST, 30-d code)",
          "Hinton & Salakhutdinov 2006", **_at_least(1.0, "the autoencoder beats PCA")),
    Claim("classic_vs_deep", "CNN on raw pixels vs SVM on HOG features", "CNN - SVM accuracy",
          lambda s: float(s["cnn_test_accuracy"]) - float(s["svm_handcrafted_test_accuracy"]),
          "deep matches hand-crafted (this repo: 0.0)", "lecture chapter 1",
          **_at_least(-0.01, "within one point")),
    Claim("resnet20_digits", "ResNet-20, digits at 32x32, 500 steps", "test accuracy",
          _key("test_accuracy"), "1.000 (this repo, seed 0)", "experiments/image_classification",
          **_at_least(0.98)),
    Claim("nmt", "NMT en->fr numbers, multiplicative attention", "BLEU (beam 4)",
          _key("bleu"), ">= 97 (this repo's goal)", "experiments/nmt; Luong et al. 2015",
          **_at_least(97.0)),
    Claim("tiny_mlp", "MNIST-1D MLP, 20 steps (test suite)", "test accuracy",
          _key("test_accuracy"), "0.68", GREYDANUS, **_within(0.68, 0.02)),
    Claim("tiny_gradient_norms", "LSTM, forget-gate bias 5, T = 30 (test suite)",
          "decades per step of ||dE/ds_t||", _record("lstm", "rate_state", "forget_bias", 5.0),
          "~0", "lecture", low=-0.02, high=0.02, tolerance="|rate| < 0.02"),
)

# Shortened for the quick suite (each run's title in the report says "quick: ...").
QUICK_OVERRIDES: dict[str, tuple[tuple[tuple[str, object], ...], str]] = {
    "lenet5": ((("num_steps", 2000), ("eval_every_steps", 1000),
                ("checkpoint_every_steps", 1000)), "2,000 of 4,000 steps"),
    "adding_lstm": ((("num_steps", 3000), ("eval_every_steps", 1000)), "3,000 of 4,000 steps"),
    "adding_rnn": ((("num_steps", 1000), ("eval_every_steps", 1000)), "1,000 of 4,000 steps"),
    "autoencoder": ((("num_steps", 1000), ("eval_every_steps", 1000)), "1,000 of 3,000 steps"),
}

SUITES: dict[str, tuple[str, ...]] = {
    "quick": ("mnist1d_cnn", "lenet5", "gradient_norms", "adding_lstm", "adding_rnn", "rbm",
              "autoencoder"),
    "full": ("mnist1d_logistic", "mnist1d_mlp", "mnist1d_cnn", "mnist1d_gru", "lenet5",
             "gradient_norms", "adding_lstm", "adding_gru", "adding_rnn", "copy_lstm",
             "copy_rnn", "rbm", "dbn", "autoencoder", "classic_vs_deep", "resnet20_digits",
             "nmt"),
    "tiny": ("tiny_mlp", "tiny_gradient_norms"),
}


def overrides_for(suite: str, run: str) -> tuple[tuple[tuple[str, object], ...], str]:
    """The run's own overrides plus the suite's shortening, and the note that says so."""
    extra, note = QUICK_OVERRIDES.get(run, ((), "")) if suite == "quick" else ((), "")
    return RUNS[run].overrides + extra, note


def claims_of(runs: tuple[str, ...]) -> list[Claim]:
    """The claims that read the given runs, in the order of ``CLAIMS``."""
    return [claim for claim in CLAIMS if claim.run in runs]
