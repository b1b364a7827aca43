"""Datasets as in-memory numpy splits, and the pure batch schedule of the trainer.

Every dataset — embedded (generated locally) or from the TFDS catalog — is read through TFDS's
random-access ``data_source`` API (ArrayRecord files; no TensorFlow needed) and held in host memory
as numpy arrays. That is the right trade for the lecture's datasets (the largest, CIFAR-10, is
180 MB as uint8); the batch schedule below only needs random access by index, so a streaming
source replaces the arrays without touching the trainer: ``dl_jax.data.streaming`` (Grain over
the ArrayRecord files, ``config.data_mode = 'stream'``).
"""

from __future__ import annotations

import dataclasses
import fcntl
import functools
import os

import jax
import jax.numpy as jnp
import numpy as np

from dl_jax.errors import UserError

# The maximum raw value per dataset, used to bring integer pixels to [0, 1].
_PIXEL_MAX = {"digits": 16.0}
_DEFAULT_PIXEL_MAX = 255.0

# Examples of TFDS catalog names that the image experiments use; any catalog name works.
CATALOG_EXAMPLES = ("mnist", "fashion_mnist", "kmnist", "cifar10", "cifar100", "svhn_cropped")


@dataclasses.dataclass(frozen=True)
class Split:
    """One split held in memory.

    Attributes:
      inputs: float32 array (N, ...), integer pixels already scaled to [0, 1]; or a dict of
        arrays with N rows each (e.g. a translation pair's source and decoder input).
      labels: int32 array (N,) of classes, or (N, ...) of targets.
    """

    inputs: np.ndarray | dict[str, np.ndarray]
    labels: np.ndarray

    def __len__(self) -> int:
        return len(self.labels)

    def take(self, index) -> dict:
        """The examples at ``index`` as a batch ``{"inputs": ..., "targets": ...}``."""
        inputs = jax.tree.map(lambda a: a[index], self.inputs)
        return {"inputs": inputs, "targets": self.labels[index]}


@dataclasses.dataclass(frozen=True)
class Dataset:
    """A named dataset with a train and a test split."""

    name: str
    train: Split
    test: Split
    num_classes: int

    @property
    def input_shape(self) -> tuple[int, ...]:
        """Shape of one example (without the batch axis)."""
        return tuple(self.train.inputs.shape[1:])


def embedded_names() -> tuple[str, ...]:
    """Names of the datasets generated locally without network."""
    from dl_jax.data.embedded import EMBEDDED_BUILDERS

    return tuple(sorted(EMBEDDED_BUILDERS))


def prepared_builder(make_builder, data_dir: str):
    """``make_builder()`` with its embedded dataset generated on disk, exactly once.

    Processes that start together (SLURM tasks, reproduction workers) would otherwise all
    generate the same files and collide when renaming them into place; an exclusive file lock
    per dataset lets the first generate while the others wait and then read its files.
    """
    builder = make_builder()
    if builder.is_prepared():
        return builder
    os.makedirs(data_dir, exist_ok=True)
    lock_name = "." + builder.info.full_name.replace("/", "_") + ".lock"
    with open(os.path.join(data_dir, lock_name), "w") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)
        builder = make_builder()  # another process may have generated it while we waited
        if not builder.is_prepared():
            builder.download_and_prepare()
    return builder


def default_data_dir() -> str:
    """TFDS's own default: $TFDS_DATA_DIR, else ~/tensorflow_datasets."""
    return os.environ.get("TFDS_DATA_DIR", os.path.expanduser("~/tensorflow_datasets"))


def load_dataset(name: str, *, data_dir: str | None = None) -> Dataset:
    """Loads a dataset by name into memory.

    Args:
      name: an embedded dataset (``mnist1d``, ``digits``) or any TFDS catalog name prepared in
        ``data_dir`` as ArrayRecord (e.g. ``mnist``, ``fashion_mnist``, ``cifar10``).
      data_dir: the TFDS data directory; defaults to TFDS's default.

    Returns:
      The dataset with float32 inputs and int32 labels.

    Raises:
      UserError: unknown name, or a catalog dataset that is not prepared (the message says how
        to prepare it).
    """
    import tensorflow_datasets as tfds

    from dl_jax.data.embedded import EMBEDDED_BUILDERS

    tfds.disable_progress_bar()
    data_dir = data_dir or default_data_dir()
    if name in EMBEDDED_BUILDERS:
        make = functools.partial(EMBEDDED_BUILDERS[name], data_dir=data_dir,
                                 file_format="array_record")
        _check_classification(name, make())  # before generating anything
        builder = prepared_builder(make, data_dir)
    else:
        if name not in tfds.list_builders(with_community_datasets=False):
            raise UserError(
                f"unknown dataset {name!r}: use one of the embedded datasets "
                f"{', '.join(embedded_names())} or a TFDS catalog name such as "
                f"{', '.join(CATALOG_EXAMPLES)}"
            )
        builder = tfds.builder(name, data_dir=data_dir, file_format="array_record")
        _check_classification(name, builder)
    input_key, label_key = builder.info.supervised_keys or (None, None)
    num_classes = builder.info.features[label_key].num_classes
    pixel_max = _PIXEL_MAX.get(name, _DEFAULT_PIXEL_MAX)
    splits = {}
    for split in ("train", "test"):
        source = open_source(name, builder, split, data_dir)
        inputs, labels = _materialize(source, input_key, label_key)
        if np.issubdtype(inputs.dtype, np.integer):
            inputs = inputs.astype(np.float32) / pixel_max
        splits[split] = Split(inputs.astype(np.float32), labels.astype(np.int32))
    return Dataset(name=name, train=splits["train"], test=splits["test"], num_classes=num_classes)


def open_source(name: str, builder, split: str, data_dir: str):
    """The random-access TFDS data source of one split; "not prepared" is a UserError."""
    import tensorflow_datasets as tfds

    from dl_jax.data.embedded import EMBEDDED_BUILDERS

    try:
        if name in EMBEDDED_BUILDERS:
            return builder.as_data_source(split=split)
        return tfds.data_source(name, split=split, data_dir=data_dir, download=False)
    except Exception as error:  # TFDS raises several types for "not prepared".
        if builder.is_prepared():
            raise
        raise UserError(_not_prepared_message(name, data_dir)) from error


def _check_classification(name: str, builder) -> None:
    """Refuses a dataset without a class label (e.g. a translation corpus) in one line."""
    keys = builder.info.supervised_keys
    if not keys or not hasattr(builder.info.features[keys[1]], "num_classes"):
        raise UserError(f"dataset {name!r} is not a classification dataset (no class label); "
                        "translation corpora are loaded by experiments.nmt")


def _not_prepared_message(name: str, data_dir: str) -> str:
    return (
        f"dataset {name!r} is not prepared in {data_dir} and nothing is downloaded at run time: "
        f"on a machine with network run `tfds build {name} --data_dir={data_dir} "
        f"--file_format=array_record` and copy {data_dir}/{name} to this data_dir"
    )


def _materialize(source, input_key: str, label_key: str, chunk: int = 4096):
    """Reads a whole random-access source into two numpy arrays."""
    n = len(source)
    records = []
    for start in range(0, n, chunk):
        keys = list(range(start, min(n, start + chunk)))
        try:
            records.extend(source.__getitems__(keys))
        except (AttributeError, TypeError):  # Mocked sources only support item access.
            records.extend(source[k] for k in keys)
    inputs = np.stack([np.asarray(r[input_key]) for r in records])
    labels = np.asarray([r[label_key] for r in records])
    return inputs, labels


# ---------------------------------------------------------------------------------------------
# The batch schedule: the batch of step s is a pure function of (seed, s).
#
# The training stream is the concatenation of one permutation of the training set per epoch
# (permutation e drawn from key(seed) folded with a data tag and e). Batch s is the slice
# [s*B, (s+1)*B) of that stream, so every example is seen exactly once per epoch, batches keep
# one static shape (an epoch boundary may fall inside a batch), and resuming at any step or
# running on any number of devices reads the same examples in the same order.
# ---------------------------------------------------------------------------------------------

_DATA_STREAM_TAG = 0x0DA7A


@functools.lru_cache(maxsize=8)
def epoch_permutation(seed: int, epoch: int, num_examples: int) -> np.ndarray:
    """The order in which epoch ``epoch`` visits the training set (cached, pure)."""
    key = jax.random.fold_in(jax.random.fold_in(jax.random.key(seed), _DATA_STREAM_TAG), epoch)
    with jax.default_device(jax.local_devices(backend="cpu")[0]):
        permutation = np.asarray(jax.random.permutation(key, jnp.arange(num_examples)))
    permutation.setflags(write=False)
    return permutation


def batch_indices(seed: int, step: int, num_examples: int, batch_size: int) -> np.ndarray:
    """Indices of the training examples of global batch ``step`` (pure in its arguments)."""
    positions = np.arange(step * batch_size, (step + 1) * batch_size, dtype=np.int64)
    epochs = positions // num_examples
    offsets = positions % num_examples
    out = np.empty(batch_size, dtype=np.int64)
    for epoch in np.unique(epochs):
        mask = epochs == epoch
        out[mask] = epoch_permutation(seed, int(epoch), num_examples)[offsets[mask]]
    return out


def process_slice(global_batch_size: int) -> slice:
    """This process's contiguous slice of a global batch (multi-host data parallelism)."""
    count, index = jax.process_count(), jax.process_index()
    if global_batch_size % count:
        raise UserError(
            f"batch_size {global_batch_size} is not divisible by the process count {count}"
        )
    per_process = global_batch_size // count
    return slice(index * per_process, (index + 1) * per_process)
