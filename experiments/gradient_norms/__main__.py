"""Vanishing/exploding gradients: a tanh RNN's sigma_max(W) sweep vs the LSTM's forget-gate bias.

    python -m experiments.gradient_norms --workdir=/tmp/gradient_norms

Writes grad_norms.npz, rnn_spectral_sweep.png, lstm_forget_bias_sweep.png, rnn_vs_lstm.png,
metrics.jsonl and summary.json. See experiments/configs/gradient_norms.py for the expected result.
"""

from experiments.common import cli
from dl_jax.vanishing import run_gradient_norm_study

_WORKDIR, _CONFIG = cli.define_flags("gradient_norms")


def main(argv):
    """Runs the gradient-norm study (see the config docstring)."""
    del argv
    summary = run_gradient_norm_study(_CONFIG.value, _WORKDIR.value)
    cli.report({"pascanu": summary["pascanu"], "wall_time_s": summary["wall_time_s"]},
               _WORKDIR.value)


if __name__ == "__main__":
    cli.run(main)
