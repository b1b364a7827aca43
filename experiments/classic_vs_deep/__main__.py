"""python -m experiments.classic_vs_deep --workdir=DIR [--config.key=value ...] (see README.md)."""
from experiments.classic_vs_deep.study import run
from experiments.common import cli

if __name__ == "__main__":
    cli.main(run, "classic_vs_deep")
