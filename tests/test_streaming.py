"""dl_jax.data.streaming: the in-memory batches, exact resume, disjoint hosts, Grain workers."""

import functools

import jax
import numpy as np
import pytest
import tensorflow_datasets as tfds

from dl_jax import data as data_lib
from dl_jax.data import streaming
from dl_jax.errors import UserError

N, B = 48, 16  # mock MNIST: 48 examples, 3 steps per epoch, so 8 steps cross 2 epoch boundaries


@pytest.fixture
def mock_mnist(tmp_path):
    """The same mocked MNIST in memory and streamed; the mock stays on while the test reads.

    Function-scoped so that the mock never leaks into other tests (e.g. the session's mnist1d).
    """
    with tfds.testing.mock_data(num_examples=N):
        memory = data_lib.load_dataset("mnist", data_dir=str(tmp_path))
        streamed = streaming.load_streaming_dataset("mnist", data_dir=str(tmp_path))
        yield memory, streamed


def assert_same_batch(a, b):
    assert a.keys() == b.keys()
    for key in a:
        assert a[key].dtype == b[key].dtype, key
        np.testing.assert_array_equal(a[key], b[key], err_msg=key)


def collect(stream):
    with stream:
        return list(stream)


def test_streaming_split_is_a_drop_in_for_split(mock_mnist):
    memory, streamed = mock_mnist
    assert len(streamed.train) == len(memory.train) == N
    assert streamed.input_shape == memory.input_shape == (28, 28, 1)
    assert streamed.num_classes == memory.num_classes
    np.testing.assert_array_equal(streamed.train.inputs[:2], memory.train.inputs[:2])
    np.testing.assert_array_equal(streamed.test.labels, memory.test.labels)
    index = np.array([[5, 0], [47, 5]])  # any shape, repeats allowed, like numpy indexing
    assert_same_batch(streamed.train.take(index), memory.train.take(index))


def test_stream_gives_the_in_memory_trainers_batches(mock_mnist):
    memory, streamed = mock_mnist
    stream = streaming.BatchStream(streamed.train, seed=3, batch_size=B, stop_step=8,
                                   segment_steps=5)
    batches = collect(stream)
    assert [step for step, _ in batches] == list(range(8))
    seen = np.concatenate([data_lib.batch_indices(3, s, N, B) for s in range(3)])
    assert sorted(seen) == list(range(N))  # one epoch visits every example once
    for step, batch in batches:
        assert_same_batch(batch, memory.train.take(data_lib.batch_indices(3, step, N, B)))
    assert stream.get_state() == {"step": 8}


def test_resume_mid_epoch_is_exact(mock_mnist, tmp_path):
    from dl_jax.training.checkpoints import Checkpointer

    _, streamed = mock_mnist
    kwargs = dict(seed=1, batch_size=B, stop_step=7)
    uninterrupted = collect(streaming.BatchStream(streamed.train, **kwargs))
    first = streaming.BatchStream(streamed.train, **kwargs)
    head = [next(first) for _ in range(4)]  # step 4 is mid-epoch (3 steps per epoch)
    state = first.get_state()
    first.close()
    assert state == {"step": 4}
    # The iterator state travels in the Orbax checkpoint next to the train state.
    checkpointer = Checkpointer(str(tmp_path / "checkpoints"))
    checkpointer.save(4, {"params": np.ones(3, np.float32), "data": {"step": np.int64(4)}})
    checkpointer.wait()
    template = {"params": np.zeros(3, np.float32), "data": {"step": np.int64(0)}}
    state = {"step": int(checkpointer.restore(template)["data"]["step"])}
    checkpointer.close()
    resumed = streaming.BatchStream(streamed.train, start_step=state["step"], **kwargs)
    reused = streaming.BatchStream(streamed.train, **kwargs)
    reused.set_state(state)
    for tail in (collect(resumed), collect(reused)):
        assert len(head + tail) == len(uninterrupted)
        for (s1, b1), (s2, b2) in zip(head + tail, uninterrupted, strict=True):
            assert s1 == s2
            assert_same_batch(b1, b2)


def test_two_processes_read_disjoint_halves_of_each_global_batch(mock_mnist):
    _, streamed = mock_mnist
    streams = [streaming.BatchStream(streamed.train, seed=2, batch_size=B, stop_step=3,
                                     process_index=i, process_count=2) for i in range(2)]
    tables = [s.index_table(0, 3) for s in streams]
    assert tables[0].shape == tables[1].shape == (3, B // 2)
    assert not set(tables[0].ravel()) & set(tables[1].ravel())  # disjoint over the epoch
    one_host = streaming.BatchStream(streamed.train, seed=2, batch_size=B, stop_step=3,
                                     process_index=0, process_count=1)
    halves = [collect(s) for s in streams]
    for (step, whole), (_, first), (_, second) in zip(collect(one_host), *halves, strict=True):
        assert first["inputs"].shape[0] == B // 2
        for key in whole:
            np.testing.assert_array_equal(
                np.concatenate([first[key], second[key]]), whole[key], err_msg=f"{step} {key}")
    with pytest.raises(UserError, match="not divisible by the process count 3"):
        streaming.process_indices(0, 0, N, B, 0, 3)


def test_grain_worker_processes_keep_the_order(tfds_dir, mnist1d):
    # Workers are spawned processes: they read the real ArrayRecord files (the mock does not
    # reach them), so this uses the embedded MNIST-1D.
    # The transform (a stand-in for augmentation) runs in the workers too.
    streamed = streaming.load_streaming_dataset("mnist1d", data_dir=tfds_dir)
    n = len(mnist1d.train)
    negate = functools.partial(jax.tree.map, np.negative)
    stream = streaming.BatchStream(streamed.train, seed=0, batch_size=64, start_step=61,
                                   stop_step=67, num_workers=2, transform=negate)
    batches = collect(stream)  # steps 61..66 cross the epoch boundary (63 steps per epoch)
    assert [step for step, _ in batches] == list(range(61, 67))
    for step, batch in batches:
        expected = mnist1d.train.take(data_lib.batch_indices(0, step, n, 64))
        assert_same_batch(batch, negate(expected))


def test_config_data_mode_stream_trains_to_the_same_numbers(tmp_path, tiny_config, tfds_dir,
                                                              mnist1d):
    # The trainer reads train.take(batch_indices(...)[process_slice]) and the test split's take,
    # so a streaming dataset (config.data_mode='stream') trains to the very same numbers.
    from dl_jax.training.trainer import train_and_evaluate

    config = dict(num_steps=10, log_every_steps=10, eval_every_steps=10,
                  checkpoint_every_steps=10, data_dir=tfds_dir)
    memory = train_and_evaluate(tiny_config(**config), str(tmp_path / "memory"))
    stream = train_and_evaluate(tiny_config(data_mode="stream", **config),
                                str(tmp_path / "stream"))
    drop = ("wall_time_s", "steps_per_sec")
    assert {k: v for k, v in stream.summary.items() if k not in drop} == {
        k: v for k, v in memory.summary.items() if k not in drop}


def test_unknown_dataset_is_a_user_error(tmp_path):
    with pytest.raises(UserError, match="unknown dataset 'imagenet_typo'"):
        streaming.load_streaming_dataset("imagenet_typo", data_dir=str(tmp_path))
