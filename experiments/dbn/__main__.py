"""Deep belief net: greedy RBM pretraining vs random initialisation with few labels (digits).

    python -m experiments.dbn --workdir=/tmp/dbn

See experiments/configs/dbn.py for the setting and the expected results.
"""

from dl_jax import dbn
from experiments.common import cli

_WORKDIR, _CONFIG = cli.define_flags("dbn")


def main(argv):
    """Pretrains, fine-tunes both initialisations per seed and reports (see the config)."""
    del argv
    cli.report(dbn.run_experiment(_CONFIG.value, _WORKDIR.value), _WORKDIR.value)


if __name__ == "__main__":
    cli.run(main)
