"""python -m experiments.mnist1d --workdir=DIR [--config.key=value ...] (see README.md)."""
from experiments.common import cli
from experiments.mnist1d.study import run

if __name__ == "__main__":
    cli.main(run, "mnist1d")
