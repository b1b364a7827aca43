"""Data that outgrows memory: TFDS ``data_source`` splits read by index, batched by Grain.

``dl_jax.data.load_dataset`` reads a whole split into numpy. For a catalog dataset that does not
fit in host memory (ImageNet), this module keeps the split on disk (ArrayRecord, random access)
and reads only the examples of each batch:

* ``StreamingSplit`` is a drop-in for ``dl_jax.data.Split``: ``len(split)`` and
  ``split.take(index) -> {"inputs", "targets"}`` with the same dtypes and scaling (integer pixels
  divided by the dataset's maximum, float32 inputs, int32 labels), so the trainer's per-step
  ``train.take(batch_indices(seed, step, n, B)[process_slice(B)])`` streams unchanged.
* ``BatchStream`` is the Grain pipeline for the same schedule: a ``grain.MapDataset`` whose element
  ``i`` is this process's slice of global batch ``start_step + i``, read and decoded (and
  optionally augmented) in Grain worker processes, prefetched while the device trains.

The order is the in-memory trainer's: the index table is built with ``batch_indices`` (one
permutation of the training set per epoch from ``fold_in(key(seed), epoch)``), so streaming and
in-memory training see identical batches. Because the batch of step ``s`` is a pure function of
``(seed, s)``, the iterator's whole state is the next step number: ``BatchStream.get_state()`` is
``{"step": s}`` (an integer to save next to the Orbax checkpoint, or simply the checkpoint's own
step), and a stream rebuilt at that step yields exactly the batches an uninterrupted one would.

Multi-host: every process reads only its contiguous slice of each global batch (the slice
``process_slice`` gives, or explicit ``process_index``/``process_count``), so the processes' reads
are disjoint and their union is the global batch.

Grain is an optional dependency, imported only when a ``BatchStream`` is built; the worker
processes are started with ``spawn`` and import no JAX backend (the index table is computed in
the parent and shipped to them with the pipeline).
"""

from __future__ import annotations

import dataclasses
import functools
from collections.abc import Callable, Iterator

import jax
import numpy as np

from dl_jax import data as data_lib
from dl_jax.errors import UserError


@dataclasses.dataclass(frozen=True)
class RecordDecoder:
    """Turns TFDS records into the arrays ``Split`` holds (picklable, numpy only).

    Attributes:
      input_key: the record's input feature (TFDS ``supervised_keys[0]``).
      label_key: the record's label feature.
      pixel_max: integer inputs are divided by this (255, or 16 for ``digits``).
    """

    input_key: str
    label_key: str
    pixel_max: float

    def __call__(self, records) -> dict:
        """``{"inputs": float32 (N, ...), "targets": int32 (N, ...)}`` of a list of records."""
        inputs = np.stack([np.asarray(r[self.input_key]) for r in records])
        labels = np.asarray([r[self.label_key] for r in records])
        if np.issubdtype(inputs.dtype, np.integer):
            inputs = inputs.astype(np.float32) / self.pixel_max
        return {"inputs": inputs.astype(np.float32), "targets": labels.astype(np.int32)}


def read_records(source, keys) -> list:
    """The records at ``keys`` (batched read where the source supports it)."""
    keys = [int(k) for k in keys]
    try:
        return list(source.__getitems__(keys))
    except (AttributeError, TypeError):  # Mocked sources only support item access.
        return [source[k] for k in keys]


class _Column:
    """A lazy view of one split's inputs: shape, dtype and row slicing (``inputs[:1]``)."""

    def __init__(self, split: StreamingSplit):
        self._split = split

    @property
    def shape(self) -> tuple[int, ...]:
        return (len(self._split), *self._split.take(np.arange(1))["inputs"].shape[1:])

    @property
    def ndim(self) -> int:
        return len(self.shape)

    dtype = np.dtype(np.float32)

    def __len__(self) -> int:
        return len(self._split)

    def __getitem__(self, index):
        return self._split.take(np.arange(len(self._split))[index])["inputs"]


@dataclasses.dataclass(frozen=True)
class StreamingSplit:
    """One split left on disk, read by index (drop-in for ``dl_jax.data.Split``).

    Attributes:
      source: a random-access TFDS data source (``len`` and item access).
      decode: turns a list of records into ``{"inputs", "targets"}``.
    """

    source: object
    decode: Callable

    def __len__(self) -> int:
        return len(self.source)

    def take(self, index) -> dict:
        """The examples at ``index`` (an int array) as ``{"inputs": ..., "targets": ...}``."""
        index = np.asarray(index)
        batch = self.decode(read_records(self.source, index.reshape(-1)))
        return jax.tree.map(lambda a: a.reshape(*index.shape, *a.shape[1:]), batch)

    @property
    def inputs(self) -> _Column:
        """Lazy inputs (``.shape``, ``[:k]``) so code that inspects ``Split.inputs`` still works."""
        return _Column(self)

    @property
    def labels(self) -> np.ndarray:
        """All labels (reads the whole split once; for small evaluation splits only)."""
        return self.take(np.arange(len(self)))["targets"]


def load_streaming_dataset(name: str, *, data_dir: str | None = None) -> data_lib.Dataset:
    """Opens a dataset's train and test splits for streaming (nothing is read yet).

    Args:
      name: a TFDS catalog name prepared as ArrayRecord in ``data_dir`` (or an embedded one).
      data_dir: the TFDS data directory; defaults to TFDS's default.

    Returns:
      A ``Dataset`` whose ``train`` and ``test`` are ``StreamingSplit``s.

    Raises:
      UserError: unknown name, or a dataset that is not prepared.
    """
    import tensorflow_datasets as tfds

    from dl_jax.data.embedded import EMBEDDED_BUILDERS

    tfds.disable_progress_bar()
    data_dir = data_dir or data_lib.default_data_dir()
    if name in EMBEDDED_BUILDERS:
        builder = data_lib.prepared_builder(functools.partial(
            EMBEDDED_BUILDERS[name], data_dir=data_dir, file_format="array_record"), data_dir)
    elif name in tfds.list_builders(with_community_datasets=False):
        builder = tfds.builder(name, data_dir=data_dir, file_format="array_record")
    else:
        raise UserError(f"unknown dataset {name!r}: use one of the embedded datasets "
                        f"{', '.join(data_lib.embedded_names())} or a TFDS catalog name such as "
                        f"{', '.join(data_lib.CATALOG_EXAMPLES)}")
    input_key, label_key = builder.info.supervised_keys
    decode = RecordDecoder(input_key, label_key,
                           data_lib._PIXEL_MAX.get(name, data_lib._DEFAULT_PIXEL_MAX))
    splits = {}
    for split in ("train", "test"):
        splits[split] = StreamingSplit(data_lib.open_source(name, builder, split, data_dir),
                                       decode)
    num_classes = builder.info.features[label_key].num_classes
    return data_lib.Dataset(name, splits["train"], splits["test"], num_classes)


def process_indices(seed: int, step: int, num_examples: int, batch_size: int,
                    process_index: int, process_count: int) -> np.ndarray:
    """This process's contiguous slice of global batch ``step`` (``batch_indices`` order)."""
    if batch_size % process_count:
        raise UserError(
            f"batch_size {batch_size} is not divisible by the process count {process_count}")
    per_process = batch_size // process_count
    rows = data_lib.batch_indices(seed, step, num_examples, batch_size)
    return rows[process_index * per_process:(process_index + 1) * per_process]


def _absl_flags_ready() -> None:
    """Grain reads its absl flags (all defaults here); outside an absl app they are unparsed.

    Marking them parsed changes no value (every flag keeps its default); under ``absl.app.run``
    (every study's command) they are already parsed and this does nothing.
    """
    from absl import flags

    if not flags.FLAGS.is_parsed():
        flags.FLAGS.mark_as_parsed()


@dataclasses.dataclass(frozen=True)
class _ReadBatch:
    """Grain map: a row of the index table -> the decoded (and transformed) batch."""

    split: StreamingSplit
    transform: Callable | None

    def __call__(self, indices: np.ndarray) -> dict:
        batch = self.split.take(indices)
        return self.transform(batch) if self.transform is not None else batch


class BatchStream:
    """This process's training batches of steps ``[start_step, stop_step)``, read by Grain.

    Iterating yields ``(step, batch)``; ``batch`` equals
    ``split.take(process_indices(seed, step, len(split), batch_size, i, k))``, i.e. the in-memory
    trainer's batch. The steps are cut into segments (one epoch of steps by default); each
    segment's index table is computed here and shipped to a fresh Grain pipeline
    (``MapDataset.source(table).map(read).to_iter_dataset().mp_prefetch()``), so the workers
    need no JAX and the table stays one epoch long however long training runs.

    The state is the next step (``get_state() -> {"step": s}``): rebuilding the stream with
    ``start_step=s`` (or calling ``set_state``) resumes exactly, mid-epoch included.
    """

    def __init__(self, split: StreamingSplit, *, seed: int, batch_size: int, stop_step: int,
                 start_step: int = 0, process_index: int | None = None,
                 process_count: int | None = None, num_workers: int = 0,
                 worker_buffer_size: int = 2, transform: Callable | None = None,
                 segment_steps: int | None = None):
        self.split, self.seed, self.batch_size = split, seed, batch_size
        self.stop_step, self.num_workers = stop_step, num_workers
        self.worker_buffer_size, self.transform = worker_buffer_size, transform
        self.process_index = jax.process_index() if process_index is None else process_index
        self.process_count = jax.process_count() if process_count is None else process_count
        if not 0 <= self.process_index < self.process_count:
            raise UserError(f"process_index {self.process_index} is not in "
                            f"[0, {self.process_count})")
        self.segment_steps = segment_steps or max(1, -(-len(split) // batch_size))
        self._step, self._iterator = start_step, None

    def index_table(self, start: int, stop: int) -> np.ndarray:
        """Rows ``start..stop-1``: this process's example indices of each step (int64)."""
        n = len(self.split)
        rows = [process_indices(self.seed, s, n, self.batch_size, self.process_index,
                                self.process_count) for s in range(start, stop)]
        return np.stack(rows) if rows else np.zeros((0, self.batch_size), np.int64)

    def _pipeline(self, start: int):
        import grain

        _absl_flags_ready()
        stop = min(self.stop_step, start + self.segment_steps)
        table = self.index_table(start, stop)
        dataset = grain.MapDataset.source(table).map(_ReadBatch(self.split, self.transform))
        dataset = dataset.to_iter_dataset(grain.ReadOptions(num_threads=0))
        if self.num_workers:
            dataset = dataset.mp_prefetch(grain.MultiprocessingOptions(
                num_workers=self.num_workers, per_worker_buffer_size=self.worker_buffer_size))
        return iter(dataset)

    def __iter__(self) -> Iterator[tuple[int, dict]]:
        return self

    def __next__(self) -> tuple[int, dict]:
        if self._step >= self.stop_step:
            self.close()
            raise StopIteration
        if self._iterator is None:
            self._iterator = self._pipeline(self._step)
        try:
            batch = next(self._iterator)
        except StopIteration:  # End of a segment: the next one starts at this step.
            self.close()
            return next(self)
        step, self._step = self._step, self._step + 1
        return step, batch

    def get_state(self) -> dict:
        """The whole iterator state: the next step (save it with, or as, the checkpoint step)."""
        return {"step": self._step}

    def set_state(self, state: dict) -> None:
        """Continues from ``state["step"]`` (the batches are a pure function of the step)."""
        self.close()
        self._step = int(state["step"])

    def close(self) -> None:
        """Stops the current segment's worker processes (if any)."""
        if self._iterator is not None:
            close = getattr(self._iterator, "close", None)
            if close is not None:
                close()
            self._iterator = None

    def __enter__(self) -> BatchStream:
        return self

    def __exit__(self, *exc) -> None:
        self.close()
