"""python -m experiments.copy_task --workdir=DIR [--config.key=value ...] (see README.md)."""
from experiments.common import cli
from experiments.copy_task.study import run

if __name__ == "__main__":
    cli.main(run, "copy_task")
