"""Synthetic long-range sequence tasks of Hochreiter & Schmidhuber (1997): adding and copy.

Both are the standard probes of the lecture's vanishing-gradient argument: the information the
loss needs sits ``T`` steps before the loss is computed, so a model learns the task only if
``dE/ds_t`` survives the product of ``T`` Jacobians. ``config.dataset`` names them: ``"adding"``
(``adding_dataset``) and ``"copy"`` (``copy_dataset``), see ``TASKS``.

Adding problem (the modern form of Le et al., 2015 and Arjovsky et al., 2016). Each sequence has
``T`` steps of ``(value, marker)``: values i.i.d. ``U[0, 1]``; exactly two markers are 1, one at a
uniform position in the first half ``[0, T/2)`` and one in the second half ``[T/2, T)``; the
target is the sum of the two marked values. (Hochreiter & Schmidhuber used values in ``[-1, 1]``,
the first marker among the first ten steps and target ``0.5 + sum / 4``; we use the form most
later papers report.)

Copy task (Arjovsky et al., 2016 form of H&S's experiment). Tokens: 0 blank, ``1..A`` data
symbols, ``A + 1`` marker. The input is ``K`` random data symbols, ``D - 1`` blanks, the marker,
then ``K`` blanks (length ``2K + D``); the target is blank for the first ``K + D`` steps and then
the ``K`` symbols.

Data are pure functions of ``(seed, split)`` (typed keys, ``fold_in``), held in memory as a
``dl_jax.data.Dataset`` so the shared trainer's batch schedule (a pure function of seed and step)
makes every run reproducible and resumable. The studies ``experiments/adding_problem`` and
``experiments/copy_task`` hold the tasks' objectives, baselines and results.
"""

from __future__ import annotations

import functools

import jax
import jax.numpy as jnp
import numpy as np

from dl_jax.data import Dataset, Split
from dl_jax.errors import UserError

Array = jax.Array

# The synthetic datasets by ``config.dataset`` name.
TASKS = ("adding", "copy")



def check_task(name: str, task: str) -> None:
    """Refuses a ``config.dataset`` other than ``task``, naming the valid choice.

    Args:
      name: the configured dataset name.
      task: the synthetic task the calling study generates (one of ``TASKS``).

    Raises:
      UserError: ``name != task``.
    """
    if name != task:
        raise UserError(f"unknown dataset {name!r} for this study: its sequences are generated "
                        f"(dl_jax.data.synthetic); choose config.dataset={task!r}")


# Split tags folded into the seed's key so train and test never share random bits.
_TRAIN_TAG, _TEST_TAG = 0, 1
_CHUNK = 8192


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


__all__ = [
    "BLANK",
    "TASKS",
    "check_task",
    "adding_dataset",
    "adding_problem",
    "copy_dataset",
    "copy_task",
    "copy_vocab_size",
]
