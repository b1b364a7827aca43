"""MNIST-1D (Greydanus 2020, "Scaling down deep learning"): logistic, MLP and CNN baselines.

    python -m experiments.mnist1d --workdir=/tmp/mnist1d_cnn --config.model=cnn

See experiments/configs/mnist1d.py for the expected results.
"""

from experiments.common import cli
from dl_jax.training.trainer import train_and_evaluate

_WORKDIR, _CONFIG = cli.define_flags("mnist1d")


def main(argv):
    """Trains and evaluates one MNIST-1D model (see the config docstring)."""
    del argv
    result = train_and_evaluate(_CONFIG.value, _WORKDIR.value)
    cli.report(result.summary, _WORKDIR.value)


if __name__ == "__main__":
    cli.run(main)
