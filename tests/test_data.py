import numpy as np
import pytest
import tensorflow_datasets as tfds

from dl_jax.data import batch_indices, epoch_permutation, load_dataset
from dl_jax.errors import UserError


def test_batch_is_pure_function_of_seed_and_step():
    a = batch_indices(3, 17, 1000, 64)
    epoch_permutation.cache_clear()
    b = batch_indices(3, 17, 1000, 64)
    np.testing.assert_array_equal(a, b)
    assert not np.array_equal(a, batch_indices(4, 17, 1000, 64))
    assert not np.array_equal(a, batch_indices(3, 18, 1000, 64))


@pytest.mark.parametrize("n,batch", [(100, 10), (103, 10), (50, 64)])
def test_each_epoch_is_a_permutation(n, batch):
    steps = -(-3 * n // batch)
    stream = np.concatenate([batch_indices(0, s, n, batch) for s in range(steps)])
    for epoch in range(3):
        chunk = stream[epoch * n:(epoch + 1) * n]
        np.testing.assert_array_equal(np.sort(chunk), np.arange(n))
    # Epochs are shuffled differently.
    assert not np.array_equal(stream[:n], stream[n:2 * n])


def test_mnist1d_is_the_packages_default_dataset(mnist1d):
    from mnist1d.data import get_dataset_args, make_dataset

    reference = make_dataset(get_dataset_args())
    assert mnist1d.train.inputs.shape == (4000, 40)
    assert mnist1d.test.inputs.shape == (1000, 40)
    assert mnist1d.num_classes == 10
    # TFDS stores records in its own order: compare the splits as sets of rows.
    def rows(x, y):
        return sorted(map(tuple, np.round(np.c_[x, y], 4).tolist()))
    assert rows(mnist1d.test.inputs, mnist1d.test.labels) == rows(
        reference["x_test"].astype(np.float32), reference["y_test"])


def test_digits_fixed_stratified_split(digits):
    assert digits.train.inputs.shape == (1437, 8, 8, 1)
    assert digits.test.inputs.shape == (360, 8, 8, 1)
    assert 0.0 <= digits.train.inputs.min() and digits.train.inputs.max() == 1.0
    counts = np.bincount(digits.test.labels, minlength=10)
    assert counts.min() >= 35 and counts.max() <= 37  # stratified: ~36 per class


def test_catalog_dataset_through_tfds_data_source(tmp_path):
    with tfds.testing.mock_data(num_examples=20):
        dataset = load_dataset("mnist", data_dir=str(tmp_path))
    assert dataset.train.inputs.shape == (20, 28, 28, 1)
    assert dataset.train.inputs.dtype == np.float32
    assert dataset.train.inputs.max() <= 1.0
    assert dataset.num_classes == 10


def test_catalog_dataset_not_prepared_says_how(tmp_path):
    with pytest.raises(UserError, match="tfds build mnist"):
        load_dataset("mnist", data_dir=str(tmp_path))


def test_unknown_dataset_lists_valid_ones(tmp_path):
    with pytest.raises(UserError, match="digits, mnist1d"):
        load_dataset("no_such_dataset", data_dir=str(tmp_path))


def test_translation_corpus_is_not_loaded_as_a_classification_set(tfds_dir):
    with pytest.raises(UserError, match="not a classification dataset.*experiments.nmt"):
        load_dataset("numbers_translation", data_dir=tfds_dir)


def test_processes_starting_together_generate_a_dataset_once(tmp_path):
    # Two workers (threads here; flock also separates them) find the dataset missing at once:
    # the first generates it, the second waits for the lock and then reads its files.
    import threading
    import time
    import types

    from dl_jax import data as data_lib

    generated = []

    class SlowBuilder:
        info = types.SimpleNamespace(full_name="slow/1.0.0")

        def is_prepared(self):
            return (tmp_path / "done").exists()

        def download_and_prepare(self):
            time.sleep(0.3)
            generated.append(threading.get_ident())
            (tmp_path / "done").write_text("")

    workers = [threading.Thread(target=data_lib.prepared_builder, args=(SlowBuilder, str(tmp_path)))
               for _ in range(2)]
    for worker in workers:
        worker.start()
    for worker in workers:
        worker.join()
    assert len(generated) == 1
