"""Trains one MNIST-1D model with the shared trainer (see README.md for the results)."""

from __future__ import annotations

from dl_jax.training.trainer import train_and_evaluate


def run(config, workdir: str) -> dict:
    """Trains and evaluates ``config.model`` on ``config.dataset`` (MNIST-1D by default).

    Returns:
      The summary (``test_accuracy`` ...), or ``{}`` if the run stopped before ``num_steps``.
    """
    return train_and_evaluate(config, workdir).summary
