"""python -m experiments.dbn --workdir=DIR [--config.key=value ...] (see README.md)."""
from experiments.common import cli
from experiments.dbn.study import run

if __name__ == "__main__":
    cli.main(run, "dbn")
