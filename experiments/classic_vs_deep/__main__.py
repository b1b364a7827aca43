"""Traditional ML (hand-crafted features + logistic regression / SVM) vs a CNN on digits.

    python -m experiments.classic_vs_deep --workdir=/tmp/classic_vs_deep

Writes summary.json (one row per method and representation) and table.md, and prints the
markdown table. See experiments/configs/classic_vs_deep.py for the expected results.
"""

from experiments.common import cli
from dl_jax.representation import markdown_table, run_classic_vs_deep

_WORKDIR, _CONFIG = cli.define_flags("classic_vs_deep")


def main(argv):
    """Fits the scikit-learn baselines, trains the CNN and prints the comparison table."""
    del argv
    summary = run_classic_vs_deep(_CONFIG.value, _WORKDIR.value)
    cli.report(summary, _WORKDIR.value)
    if summary:
        print(markdown_table(summary["results"]), end="")


if __name__ == "__main__":
    cli.run(main)
