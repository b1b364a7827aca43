r"""The reproduction report: every headline study over seeds, one table with error bars.

    python -m experiments.reproduce --workdir=/tmp/reproduce             # quick: <= 5 min, 2 cores
    python -m experiments.reproduce --workdir=/tmp/reproduce_full --config.suite=full \
        --config.seeds=3

Writes WORKDIR/REPORT.md and WORKDIR/report.json. Headline (2 idle AVX2 cores, 2026-12-01, two
workers): quick 8 of 8 claims within tolerance in 4 min 28 s, e.g. MNIST-1D CNN 0.951 ± 0.008
(paper 0.94); full 17 of 18 in 43 min 16 s (the copy-task LSTM misses). Claims, tolerances and
the numbers in README.md.
"""

import ml_collections

from dl_jax.errors import UserError

# Variants name the suite; ``tiny`` is the tests' two-claim suite (seconds, not a result).
SUITES = ("quick", "full", "tiny")
DEFAULT_SEEDS = {"quick": 2, "full": 3, "tiny": 2}


def get_config(arg: str | None = None):
    """Returns the reproduction config; ``arg`` (after ``config.py:``) names the suite."""
    suite = arg or "quick"
    if suite not in SUITES:
        raise UserError(f"unknown variant {suite!r} of experiments/reproduce/config.py: "
                        f"choose one of {', '.join(SUITES)}")
    config = ml_collections.ConfigDict()
    config.suite = suite  # quick | full | tiny (the claims of experiments/reproduce/claims.py)
    # N: seeds 0..N-1 for every claim (some claims cap it); 0 = the suite's default
    # (quick 2, full 3, tiny 2), so --config.suite=full alone gets full's seeds.
    config.seeds = 0
    config.only = ""  # comma-separated run names to restrict the suite to ("" = all)
    config.data_dir = ""  # TFDS data_dir passed to the studies that load data ("" = default)
    # Processes running (run, seed) pairs side by side; the records do not depend on it. On one
    # GPU or TPU host use 1 (workers would share the accelerator's memory).
    config.workers = 2
    return config
