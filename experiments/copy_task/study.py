"""The copy task: its per-step objective, the memoryless baseline and the run.

A memoryless model that outputs blanks and then guesses has cross-entropy ``log A`` and accuracy
``1 / A`` on the ``K`` symbol steps. The sequences are ``dl_jax.data.synthetic.copy_dataset``; the
model is the registry's ``RecurrentNet`` with the ``every_step`` read-out over one-hot tokens.
"""

from __future__ import annotations

import math

import jax
import jax.numpy as jnp

from dl_jax.data import synthetic
from dl_jax.errors import UserError
from dl_jax.training.steps import Objective
from dl_jax.training.trainer import train_and_evaluate
from experiments.adding_problem.study import check_model, resolve_unroll

Array = jax.Array


def copy_objective(num_symbols: int) -> Objective:
    """Per-step cross-entropy (many-to-many) and accuracy on the ``K`` recalled symbols.

    Args:
      num_symbols: ``K``; the recalled symbols are the last ``K`` steps.

    Returns:
      An ``Objective`` whose per-example metrics are ``loss`` (cross-entropy averaged over all
      steps, as in Arjovsky et al.), ``symbol_cross_entropy`` and ``symbol_accuracy`` (over the
      last ``K`` steps), ``sequence_accuracy`` (all ``K`` right) and ``accuracy`` (all steps).
    """

    def per_example(logits: Array, targets: Array) -> dict[str, Array]:
        log_probs = jax.nn.log_softmax(logits.astype(jnp.float32), axis=-1)
        cross_entropy = -jnp.take_along_axis(log_probs, targets[..., None], axis=-1)[..., 0]
        correct = (jnp.argmax(logits, axis=-1) == targets).astype(jnp.float32)
        recalled = correct[:, -num_symbols:]
        return {
            "loss": jnp.mean(cross_entropy, axis=1),
            "symbol_cross_entropy": jnp.mean(cross_entropy[:, -num_symbols:], axis=1),
            "symbol_accuracy": jnp.mean(recalled, axis=1),
            "sequence_accuracy": jnp.min(recalled, axis=1),
            "accuracy": jnp.mean(correct, axis=1),
        }

    return Objective(per_example)


def copy_memoryless_baseline(num_symbols: int, delay: int, alphabet: int = 8) -> dict:
    """Best input-blind strategy: blanks until the symbols, then a uniform guess.

    Returns:
      ``{'loss', 'symbol_cross_entropy', 'symbol_accuracy'}``: ``K log A / (2K + D)``,
      ``log A`` and ``1 / A``.
    """
    length = 2 * num_symbols + delay
    return {
        "loss": num_symbols * math.log(alphabet) / length,
        "symbol_cross_entropy": math.log(alphabet),
        "symbol_accuracy": 1.0 / alphabet,
    }


def _check_vocab(config) -> None:
    vocab = synthetic.copy_vocab_size(config.alphabet)
    if config.model_kwargs.get("vocab_size") != vocab:
        raise UserError(f"config.model_kwargs.vocab_size must be alphabet + 2 = {vocab} (blank, "
                        f"{config.alphabet} symbols, marker), got "
                        f"{config.model_kwargs.get('vocab_size')}")


def run(config, workdir: str) -> dict:
    """Trains ``config.model`` on the copy task (``num_symbols`` symbols, delay ``delay``).

    Args:
      config: the trainer's fields plus ``num_symbols``, ``delay``, ``alphabet``, ``num_train``,
        ``num_test`` and ``data_seed``; ``config.dataset`` must be ``"copy"``.
      workdir: run directory.

    Returns:
      The summary with the memoryless baseline (``baseline_*``) beside ``test_symbol_accuracy``
      and ``test_symbol_cross_entropy``; ``{}`` if the run stopped before ``num_steps``.

    Raises:
      UserError: another dataset, a non-recurrent model or a vocabulary that does not match.
    """
    synthetic.check_task(config.dataset, "copy")
    check_model(config.model)
    config = resolve_unroll(config)
    _check_vocab(config)
    dataset = synthetic.copy_dataset(config.data_seed, config.num_symbols, config.delay,
                                     config.num_train, config.num_test, config.alphabet)
    baseline = copy_memoryless_baseline(config.num_symbols, config.delay, config.alphabet)
    extra = {"num_symbols": config.num_symbols, "delay": config.delay,
             "sequence_length": 2 * config.num_symbols + config.delay,
             **{f"baseline_{k}": v for k, v in baseline.items()}}

    def verdicts(summary):
        accuracy = summary["test_symbol_accuracy"]
        return {**extra, "beats_baseline": bool(accuracy > 2.0 / config.alphabet),
                "solved": bool(accuracy > 0.99)}

    result = train_and_evaluate(config, workdir, dataset=dataset,
                                objective=copy_objective(config.num_symbols),
                                extra_summary=verdicts)
    return result.summary
