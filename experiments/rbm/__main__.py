"""python -m experiments.rbm --workdir=DIR [--config.key=value ...] (see README.md)."""
from experiments.common import cli
from experiments.rbm.study import run

if __name__ == "__main__":
    cli.main(run, "rbm")
