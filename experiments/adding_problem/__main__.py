r"""The adding problem of Hochreiter & Schmidhuber (1997): LSTM vs GRU vs vanilla RNN.

    python -m experiments.adding_problem --workdir=/tmp/adding_lstm --config.model=lstm \
        --config.seq_len=200

See experiments/configs/adding_problem.py for the expected results.
"""

from experiments.common import cli
from dl_jax.sequence_tasks import run_adding_problem

_WORKDIR, _CONFIG = cli.define_flags("adding_problem")


def main(argv):
    """Trains one model on the adding problem and reports it beside the constant baseline."""
    del argv
    cli.report(run_adding_problem(_CONFIG.value, _WORKDIR.value), _WORKDIR.value)


if __name__ == "__main__":
    cli.run(main)
