"""LeNet-5 (LeCun et al. 1998) on handwritten digits.

    python -m experiments.lenet5 --workdir=/tmp/lenet5

See experiments/configs/lenet5.py for the expected result.
"""

from dl_jax import image_classification
from experiments.common import cli

_WORKDIR, _CONFIG = cli.define_flags("lenet5")


def main(argv):
    """Trains and evaluates LeNet-5 (see the config docstring)."""
    del argv
    cli.report(image_classification.train(_CONFIG.value, _WORKDIR.value).summary, _WORKDIR.value)


if __name__ == "__main__":
    cli.run(main)
