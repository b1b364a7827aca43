"""python -m experiments.reproduce --workdir=DIR [--config.key=value ...] (see README.md)."""
from experiments.common import cli
from experiments.reproduce.study import run

if __name__ == "__main__":
    cli.main(run, "reproduce")
