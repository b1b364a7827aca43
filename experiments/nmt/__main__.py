"""python -m experiments.nmt --workdir=DIR [--config.key=value ...] (see README.md)."""
from experiments.common import cli
from experiments.nmt.study import run

if __name__ == "__main__":
    cli.main(run, "nmt")
