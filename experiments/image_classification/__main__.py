"""python -m experiments.image_classification --workdir=DIR [--config.key=value ...] (see README.md)."""  # noqa: E501
from experiments.common import cli
from experiments.image_classification.study import run

if __name__ == "__main__":
    cli.main(run, "image_classification")
