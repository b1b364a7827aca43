"""The copy task (Hochreiter & Schmidhuber, 1997; Arjovsky et al., 2016 form), small.

    python -m experiments.copy_task --workdir=/tmp/copy_lstm

See experiments/configs/copy_task.py for the expected results.
"""

from experiments.common import cli
from dl_jax.sequence_tasks import run_copy_task

_WORKDIR, _CONFIG = cli.define_flags("copy_task")


def main(argv):
    """Trains one model on the copy task and reports it beside the memoryless baseline."""
    del argv
    cli.report(run_copy_task(_CONFIG.value, _WORKDIR.value), _WORKDIR.value)


if __name__ == "__main__":
    cli.run(main)
