"""python -m experiments.lenet5 --workdir=DIR [--config.key=value ...] (see README.md)."""
from experiments.common import cli
from experiments.lenet5.study import run

if __name__ == "__main__":
    cli.main(run, "lenet5")
