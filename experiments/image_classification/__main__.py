"""Any model of the CNN zoo on any image dataset (embedded or TFDS catalog).

    python -m experiments.image_classification --workdir=DIR \
        --config.model=resnet20 --config.dataset=cifar10
    python -m experiments.image_classification --workdir=DIR \
        --config=experiments/configs/resnet20_cifar10.py

See experiments/configs/image_classification.py and resnet20_cifar10.py.
"""

from dl_jax import image_classification
from experiments.common import cli

_WORKDIR, _CONFIG = cli.define_flags("image_classification")


def main(argv):
    """Trains and evaluates ``config.model`` on ``config.dataset``."""
    del argv
    cli.report(image_classification.train(_CONFIG.value, _WORKDIR.value).summary, _WORKDIR.value)


if __name__ == "__main__":
    cli.run(main)
