"""RBM features vs raw pixels on digits (scikit-learn's BernoulliRBM example, with dl_jax.rbm).

    python -m experiments.rbm --workdir=/tmp/rbm

See experiments/configs/rbm.py for the setting and the expected results.
"""

from dl_jax import rbm_experiment
from experiments.common import cli

_WORKDIR, _CONFIG = cli.define_flags("rbm")


def main(argv):
    """Trains the RBM, fits both classifiers and writes the figures (see the config docstring)."""
    del argv
    cli.report(rbm_experiment.run(_CONFIG.value, _WORKDIR.value), _WORKDIR.value)


if __name__ == "__main__":
    cli.run(main)
