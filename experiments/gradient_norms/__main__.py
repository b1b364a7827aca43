"""python -m experiments.gradient_norms --workdir=DIR [--config.key=value ...] (see README.md)."""
from experiments.common import cli
from experiments.gradient_norms.study import run

if __name__ == "__main__":
    cli.main(run, "gradient_norms")
