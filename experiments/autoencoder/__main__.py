"""python -m experiments.autoencoder --workdir=DIR [--config.key=value ...] (see README.md)."""
from experiments.autoencoder.study import run
from experiments.common import cli

if __name__ == "__main__":
    cli.main(run, "autoencoder")
