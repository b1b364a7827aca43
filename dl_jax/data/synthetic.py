"""Long-range synthetic tasks of Hochreiter & Schmidhuber (1997): the adding and copy problems.

Both are the standard probes of the lecture's vanishing-gradient argument: the information the
loss needs sits ``T`` steps before the loss is computed, so a model learns the task only if
``dE/ds_t`` survives the product of ``T`` Jacobians.

Adding problem (the modern form of Le et al., 2015 and Arjovsky et al., 2016). Each sequence has
``T`` steps of ``(value, marker)``: values i.i.d. ``U[0, 1]``; exactly two markers are 1, one at a
uniform position in the first half ``[0, T/2)`` and one in the second half ``[T/2, T)``; the
target is the sum of the two marked values. (Hochreiter & Schmidhuber used values in ``[-1, 1]``,
the first marker among the first ten steps and target ``0.5 + sum / 4``; we use the form most
later papers report.) Success is ``|prediction - target| < 0.04`` (their criterion). A model that
ignores the input can do no better than the constant ``E[target] = 1``: mean squared error
``Var(U1 + U2) = 1/6``, and ``P(|U1 + U2 - 1| < 0.04) = 1 - 0.96^2 = 0.0784``.

Copy task (Arjovsky et al., 2016 form of H&S's experiment). Tokens: 0 blank, ``1..A`` data
symbols, ``A + 1`` marker. The input is ``K`` random data symbols, ``D - 1`` blanks, the marker,
then ``K`` blanks (length ``2K + D``); the target is blank for the first ``K + D`` steps and then
the ``K`` symbols. A memoryless model that outputs blanks and then guesses has cross-entropy
``log A`` and accuracy ``1 / A`` on the ``K`` symbol steps.

Data are pure functions of ``(seed, split)`` (typed keys, ``fold_in``), held in memory as a
``dl_jax.data.Dataset`` so the shared trainer's batch schedule (a pure function of seed and step)
makes every run reproducible and resumable.
"""

from __future__ import annotations

import functools
import math

import flax.linen as nn
import jax
import jax.numpy as jnp
import numpy as np

from dl_jax.data import Dataset, Split
from dl_jax.errors import UserError
from dl_jax.models.recurrent import RecurrentClassifier, make_layer
from dl_jax.training.steps import Objective

Array = jax.Array

ADDING_TOLERANCE = 0.04
ADDING_CONSTANT_PREDICTION = 1.0
ADDING_CONSTANT_MSE = 1.0 / 6.0
ADDING_CONSTANT_WITHIN = 1.0 - (1.0 - ADDING_TOLERANCE) ** 2
# "Solved": more than this fraction of test sequences within the tolerance.
SOLVED_FRACTION = 0.95

# Split tags folded into the seed's key so train and test never share random bits.
_TRAIN_TAG, _TEST_TAG = 0, 1
_CHUNK = 8192


# ---------------------------------------------------------------------------------------------
# Adding problem.
# ---------------------------------------------------------------------------------------------


@functools.partial(jax.jit, static_argnums=(1, 2))
def _adding_chunk(key: Array, num_sequences: int, seq_len: int) -> tuple[Array, Array]:
    value_key, first_key, second_key = jax.random.split(key, 3)
    values = jax.random.uniform(value_key, (num_sequences, seq_len))
    half = seq_len // 2
    first = jax.random.randint(first_key, (num_sequences,), 0, half)
    second = jax.random.randint(second_key, (num_sequences,), half, seq_len)
    steps = jnp.arange(seq_len)[None, :]
    markers = ((steps == first[:, None]) | (steps == second[:, None])).astype(values.dtype)
    targets = jnp.sum(values * markers, axis=1)
    return jnp.stack([values, markers], axis=-1), targets


def adding_problem(key: Array, num_sequences: int, seq_len: int) -> tuple[np.ndarray, np.ndarray]:
    """Sequences of the adding problem (see the module docstring for the layout).

    Args:
      key: typed PRNG key; the result is a pure function of it and the sizes.
      num_sequences: number of sequences ``N``.
      seq_len: ``T`` (at least 2).

    Returns:
      ``(inputs, targets)``: float32 ``(N, T, 2)`` with channel 0 the values and channel 1 the
      markers, and float32 ``(N,)`` sums of the two marked values.
    """
    if seq_len < 2:
        raise ValueError(f"seq_len must be at least 2, got {seq_len}")
    inputs, targets = [], []
    # Chunks bound the peak memory of the generator; each chunk has its own folded key.
    for index, start in enumerate(range(0, num_sequences, _CHUNK)):
        size = min(_CHUNK, num_sequences - start)
        x, y = _adding_chunk(jax.random.fold_in(key, index), size, seq_len)
        inputs.append(np.asarray(x))
        targets.append(np.asarray(y))
    return np.concatenate(inputs), np.concatenate(targets)


def adding_dataset(seed: int, seq_len: int, num_train: int, num_test: int) -> Dataset:
    """The adding problem as an in-memory ``Dataset`` (float targets, ``num_classes=1``).

    Args:
      seed: data seed; train and test are drawn from ``fold_in(key(seed), 0 | 1)``.
      seq_len: ``T``.
      num_train: training sequences.
      num_test: test sequences.

    Returns:
      ``Dataset`` named ``adding_T<seq_len>``.
    """
    key = jax.random.key(seed)
    train = adding_problem(jax.random.fold_in(key, _TRAIN_TAG), num_train, seq_len)
    test = adding_problem(jax.random.fold_in(key, _TEST_TAG), num_test, seq_len)
    return Dataset(f"adding_T{seq_len}", Split(*train), Split(*test), num_classes=1)


def adding_per_example(outputs: Array, targets: Array) -> dict[str, Array]:
    """Per-example regression loss and the H&S success criterion.

    Args:
      outputs: predictions ``(N,)`` or ``(N, 1)``.
      targets: ``(N,)``.

    Returns:
      ``loss`` and ``squared_error`` (both ``(prediction - target)^2``), ``abs_error`` and
      ``within_0.04`` (1.0 where ``|prediction - target| < 0.04``).
    """
    error = outputs.reshape(targets.shape).astype(jnp.float32) - targets
    squared = jnp.square(error)
    return {
        "loss": squared,
        "squared_error": squared,
        "abs_error": jnp.abs(error),
        "within_0.04": (jnp.abs(error) < ADDING_TOLERANCE).astype(jnp.float32),
    }


ADDING_OBJECTIVE = Objective(adding_per_example)


def constant_baseline(targets: np.ndarray, value: float = ADDING_CONSTANT_PREDICTION) -> dict:
    """Metrics of the input-blind predictor that always answers ``value``.

    Args:
      targets: ``(N,)`` adding-problem targets.
      value: the constant prediction (1.0 = ``E[target]``, the best constant in MSE).

    Returns:
      ``{'mse', 'within_0.04'}`` on ``targets``.
    """
    error = value - np.asarray(targets, np.float64)
    return {"mse": float(np.mean(error**2)),
            "within_0.04": float(np.mean(np.abs(error) < ADDING_TOLERANCE))}


def adding_model(cell: str, features: int, num_layers: int = 1) -> nn.Module:
    """Many-to-one regressor: the last output of a recurrent layer read by one linear unit.

    Args:
      cell: ``'rnn'``, ``'lstm'`` or ``'gru'`` (``dl_jax.models.recurrent`` fast layers).
      features: hidden size.
      num_layers: stacked layers.

    Returns:
      A ``RecurrentClassifier`` with one output, i.e. ``(N, T, 2) -> (N, 1)``.
    """
    return RecurrentClassifier(num_classes=1, cell=cell, features=features,
                               num_layers=num_layers)


# ---------------------------------------------------------------------------------------------
# Copy task.
# ---------------------------------------------------------------------------------------------

BLANK = 0


def copy_vocab_size(alphabet: int) -> int:
    """Number of tokens: blank, ``alphabet`` data symbols and the marker."""
    return alphabet + 2


def copy_task(key: Array, num_sequences: int, num_symbols: int, delay: int,
              alphabet: int = 8) -> tuple[np.ndarray, np.ndarray]:
    """Sequences of the copy task (see the module docstring for the layout).

    Args:
      key: typed PRNG key.
      num_sequences: ``N``.
      num_symbols: ``K``, symbols to remember.
      delay: ``D`` (at least 1): the marker is the ``D``-th step after the last symbol.
      alphabet: number of data symbols ``A`` (tokens ``1..A``; the marker is ``A + 1``).

    Returns:
      ``(inputs, targets)``: int32 token arrays ``(N, 2K + D)``.
    """
    if delay < 1 or num_symbols < 1:
        raise ValueError(f"need num_symbols >= 1 and delay >= 1, got {num_symbols}, {delay}")
    symbols = np.asarray(jax.random.randint(key, (num_sequences, num_symbols), 1, alphabet + 1),
                         np.int32)
    length = 2 * num_symbols + delay
    inputs = np.full((num_sequences, length), BLANK, np.int32)
    targets = np.full((num_sequences, length), BLANK, np.int32)
    inputs[:, :num_symbols] = symbols
    inputs[:, num_symbols + delay - 1] = alphabet + 1
    targets[:, num_symbols + delay:] = symbols
    return inputs, targets


def copy_dataset(seed: int, num_symbols: int, delay: int, num_train: int, num_test: int,
                 alphabet: int = 8) -> Dataset:
    """The copy task as an in-memory ``Dataset`` of token sequences.

    Args:
      seed: data seed (train ``fold_in(key(seed), 0)``, test ``fold_in(key(seed), 1)``).
      num_symbols: ``K``.
      delay: ``D``.
      num_train: training sequences.
      num_test: test sequences.
      alphabet: ``A``.

    Returns:
      ``Dataset`` named ``copy_K<K>_D<D>`` with ``num_classes`` the vocabulary size.
    """
    key = jax.random.key(seed)
    make = functools.partial(copy_task, num_symbols=num_symbols, delay=delay, alphabet=alphabet)
    train = make(jax.random.fold_in(key, _TRAIN_TAG), num_train)
    test = make(jax.random.fold_in(key, _TEST_TAG), num_test)
    return Dataset(f"copy_K{num_symbols}_D{delay}", Split(*train), Split(*test),
                   num_classes=copy_vocab_size(alphabet))


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


class SequenceTagger(nn.Module):
    """Many-to-many model over token sequences: one-hot tokens, a recurrent layer, per-step logits.

    Follows the project-wide call ``model(x, train=...)``.

    Attributes:
      num_classes: logits per step.
      vocab_size: input tokens (one-hot width).
      cell: ``'rnn'``, ``'lstm'`` or ``'gru'``.
      features: hidden size.
      num_layers: stacked layers.
    """

    num_classes: int
    vocab_size: int
    cell: str = "lstm"
    features: int = 128
    num_layers: int = 1

    @nn.compact
    def __call__(self, tokens: Array, *, train: bool = False) -> Array:
        """Logits ``(batch, time, num_classes)`` from int tokens ``(batch, time)``.

        Args:
          tokens: int token ids.
          train: unused (no dropout); part of the shared contract.

        Returns:
          Per-step logits.
        """
        del train
        x = jax.nn.one_hot(tokens, self.vocab_size)
        encoder = make_layer(self.cell, self.features, num_layers=self.num_layers,
                             name="encoder")
        return nn.Dense(self.num_classes, name="head")(encoder(x))


# ---------------------------------------------------------------------------------------------
# The experiments: one shared-trainer run each, with the baselines beside the result.
# ---------------------------------------------------------------------------------------------


def run_adding_problem(config, workdir: str):
    """Trains ``config.model`` on the adding problem of length ``config.seq_len``.

    Args:
      config: the trainer's fields plus ``seq_len``, ``num_train``, ``num_test``, ``data_seed``
        and ``model_kwargs.features`` / ``model_kwargs.num_layers``.
      workdir: run directory (resumes like every shared-trainer run).

    Returns:
      The summary: the trainer's (``test_squared_error``, ``test_within_0.04`` ...) plus the
      constant-1.0 baseline on the same test set and ``solved`` (``test_within_0.04 > 0.95``);
      ``{}`` if the run stopped before ``num_steps``.
    """
    from dl_jax.training.trainer import train_and_evaluate

    if config.model not in ("rnn", "lstm", "gru"):
        raise UserError(f"config.model must be rnn, lstm or gru, got {config.model!r}")
    dataset = adding_dataset(config.data_seed, config.seq_len, config.num_train, config.num_test)
    model = adding_model(config.model, **config.model_kwargs.to_dict())
    baseline = constant_baseline(dataset.test.labels)
    extra = {
        "seq_len": config.seq_len,
        "baseline_constant_prediction": ADDING_CONSTANT_PREDICTION,
        "baseline_test_mse": baseline["mse"],
        "baseline_test_within_0.04": baseline["within_0.04"],
        "baseline_theory_mse": ADDING_CONSTANT_MSE,
        "baseline_theory_within_0.04": ADDING_CONSTANT_WITHIN,
    }

    def verdicts(summary):
        return {**extra,
                "solved": bool(summary["test_within_0.04"] > SOLVED_FRACTION),
                "beats_baseline": bool(summary["test_squared_error"] < 0.5 * baseline["mse"])}

    result = train_and_evaluate(config, workdir, dataset=dataset, model=model,
                                objective=ADDING_OBJECTIVE, extra_summary=verdicts)
    return result.summary


def run_copy_task(config, workdir: str):
    """Trains ``config.model`` on the copy task (``num_symbols`` symbols, delay ``delay``).

    Args:
      config: the trainer's fields plus ``num_symbols``, ``delay``, ``alphabet``, ``num_train``,
        ``num_test``, ``data_seed`` and ``model_kwargs.features`` / ``num_layers``.
      workdir: run directory.

    Returns:
      The summary with the memoryless baseline (``baseline_*``) beside ``test_symbol_accuracy``
      and ``test_symbol_cross_entropy``; ``{}`` if the run stopped before ``num_steps``.
    """
    from dl_jax.training.trainer import train_and_evaluate

    if config.model not in ("rnn", "lstm", "gru"):
        raise UserError(f"config.model must be rnn, lstm or gru, got {config.model!r}")
    dataset = copy_dataset(config.data_seed, config.num_symbols, config.delay, config.num_train,
                           config.num_test, config.alphabet)
    model = SequenceTagger(num_classes=dataset.num_classes, vocab_size=dataset.num_classes,
                           cell=config.model, **config.model_kwargs.to_dict())
    baseline = copy_memoryless_baseline(config.num_symbols, config.delay, config.alphabet)
    extra = {"num_symbols": config.num_symbols, "delay": config.delay,
             "sequence_length": 2 * config.num_symbols + config.delay,
             **{f"baseline_{k}": v for k, v in baseline.items()}}

    def verdicts(summary):
        accuracy = summary["test_symbol_accuracy"]
        return {**extra, "beats_baseline": bool(accuracy > 2.0 / config.alphabet),
                "solved": bool(accuracy > 0.99)}

    result = train_and_evaluate(config, workdir, dataset=dataset, model=model,
                                objective=copy_objective(config.num_symbols),
                                extra_summary=verdicts)
    return result.summary


__all__ = [
    "ADDING_CONSTANT_MSE",
    "ADDING_CONSTANT_WITHIN",
    "ADDING_OBJECTIVE",
    "ADDING_TOLERANCE",
    "BLANK",
    "SequenceTagger",
    "adding_dataset",
    "adding_model",
    "adding_per_example",
    "adding_problem",
    "constant_baseline",
    "copy_dataset",
    "copy_memoryless_baseline",
    "copy_objective",
    "copy_task",
    "copy_vocab_size",
    "run_adding_problem",
    "run_copy_task",
]
