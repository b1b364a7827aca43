"""Deep dense autoencoder vs PCA on digits (Hinton & Salakhutdinov 2006, scaled down).

    python -m experiments.autoencoder --workdir=/tmp/autoencoder

Writes summary.json (``autoencoder_test_mse`` vs ``pca_test_mse`` at ``code_size``),
reconstructions.png and codes_2d.png. See experiments/configs/autoencoder.py for the expected
results.
"""

from experiments.common import cli
from dl_jax.representation import run_autoencoder

_WORKDIR, _CONFIG = cli.define_flags("autoencoder")


def main(argv):
    """Trains the autoencoder(s), fits PCA and writes the comparison (see the config)."""
    del argv
    summary = run_autoencoder(_CONFIG.value, _WORKDIR.value)
    cli.report(summary, _WORKDIR.value)


if __name__ == "__main__":
    cli.run(main)
