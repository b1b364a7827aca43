"""python -m experiments.adding_problem --workdir=DIR [--config.key=value ...] (see README.md)."""
from experiments.adding_problem.study import run
from experiments.common import cli

if __name__ == "__main__":
    cli.main(run, "adding_problem")
