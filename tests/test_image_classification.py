import json

import jax
import jax.numpy as jnp
import numpy as np
import pytest
import tensorflow_datasets as tfds

from dl_jax.data import augment
from dl_jax.data import image as image_lib
from dl_jax.errors import UserError
from experiments.image_classification import config as ic_config
from experiments.image_classification import study as ic_study
from experiments.lenet5 import config as lenet5_config
from experiments.lenet5 import study as lenet5_study
from experiments.mnist1d import config as mnist1d_config


def test_warp_identity_shift_and_quarter_turn():
    image = jnp.asarray(np.random.default_rng(0).uniform(size=(7, 7, 2)), jnp.float32)
    same = augment.affine_warp(image, jnp.zeros(2), 0.0, 1.0, 0.0)
    np.testing.assert_allclose(same, image, atol=1e-6)
    shifted = augment.affine_warp(image, jnp.array([1.0, 0.0]), 0.0, 1.0, 0.0)
    np.testing.assert_allclose(shifted[1:], image[:-1], atol=1e-6)
    np.testing.assert_allclose(shifted[0], 0.0)
    turned = augment.affine_warp(image, jnp.zeros(2), np.pi / 2, 1.0, 0.0)
    # A positive angle turns the content clockwise in (row, col) display: rot90 three times.
    np.testing.assert_allclose(turned, np.rot90(image, k=3, axes=(0, 1)), atol=1e-5)


def test_crop_flip_is_a_shifted_window_and_reproducible():
    images = jnp.asarray(np.random.default_rng(1).uniform(size=(16, 6, 6, 1)), jnp.float32)
    keys = jax.vmap(lambda i: jax.random.fold_in(jax.random.key(0), i))(jnp.arange(16))
    out = np.asarray(augment.random_crop_flip(pad=2)(keys, images))
    np.testing.assert_array_equal(out, augment.random_crop_flip(pad=2)(keys, images))
    padded = np.pad(np.asarray(images), ((0, 0), (2, 2), (2, 2), (0, 0)))
    for n in range(16):
        windows = [padded[n, r:r + 6, c:c + 6] for r in range(5) for c in range(5)]
        windows += [w[:, ::-1] for w in windows]
        assert any(np.array_equal(out[n], w) for w in windows)
    assert len({out[n].tobytes() for n in range(16)}) > 8  # examples get different crops


def test_lenet_input_centres_digits_in_32x32(digits):
    lenet = image_lib.to_lenet_input(digits)
    assert lenet.input_shape == (32, 32, 1)
    border = np.ones((32, 32), bool)
    border[6:26, 6:26] = False
    assert np.all(lenet.train.inputs[:, border] == 0)
    np.testing.assert_array_equal(lenet.train.labels, digits.train.labels)


def test_lenet5_experiment_tiny_run(digits, tmp_path):
    config = lenet5_config.get_config()
    config.update(num_steps=40, warmup_steps=5, log_every_steps=20, eval_every_steps=40,
                  checkpoint_every_steps=40, num_devices=1)
    summary = lenet5_study.run(config, str(tmp_path))
    assert summary["input_shape"] == [32, 32, 1]
    assert summary["test_accuracy"] > 0.3  # 40 steps already learn something
    # 'auto' was resolved before the run (banded matmuls on this CPU) and recorded as such.
    saved = json.load(open(tmp_path / "config.json"))
    assert saved["model_kwargs"]["conv_form"] == "toeplitz"
    assert config.model_kwargs.conv_form == "auto"  # the caller's config is left alone


def test_resnet20_on_a_catalog_dataset_with_crop_flip(tmp_path):
    config = ic_config.get_config()
    config.update(dataset="cifar10", image_size=0, augment="crop_flip", num_steps=2,
                  log_every_steps=1, eval_every_steps=2, checkpoint_every_steps=2,
                  batch_size=8, num_devices=1)
    config.augment_kwargs = {"pad": 4}
    with tfds.testing.mock_data(num_examples=16):
        result = ic_study.train(config, str(tmp_path))
    assert result.summary["input_shape"] == [32, 32, 3]
    assert np.isfinite(result.summary["test_loss"])


def test_resnet20_cifar10_config_trains_in_bfloat16(tmp_path):
    config = ic_config.get_config("resnet20_cifar10")
    config.update(num_steps=2, log_every_steps=1, eval_every_steps=2, checkpoint_every_steps=2,
                  batch_size=8, eval_batch_size=8, num_devices=1, schedule_boundaries=(1,))
    config.model_kwargs.dtype = "bfloat16"
    with tfds.testing.mock_data(num_examples=16):
        result = ic_study.train(config, str(tmp_path))
    assert np.isfinite(result.summary["test_loss"])
    for leaf in jax.tree.leaves(result.state.params):
        assert leaf.dtype == jnp.float32


def test_unknown_augmentation_is_a_user_error():
    config = ic_config.get_config()
    config.augment = "mixup"
    with pytest.raises(UserError, match="choose one of none, affine, crop_flip"):
        ic_study.augmentation(config)


def test_config_variants():
    # A variant of the MNIST-1D config names the model: config.py:mlp == --config.model=mlp.
    by_variant, by_flag = mnist1d_config.get_config("mlp"), mnist1d_config.get_config()
    by_flag.model = "mlp"
    assert by_variant.to_dict() == by_flag.to_dict()
    assert mnist1d_config.get_config().model == "cnn"
    cifar = ic_config.get_config("resnet20_cifar10")
    assert (cifar.dataset, cifar.augment, cifar.num_steps) == ("cifar10", "crop_flip", 64000)
    for get_config in (mnist1d_config.get_config, ic_config.get_config, lenet5_config.get_config):
        with pytest.raises(UserError, match="unknown variant 'nope'"):
            get_config("nope")


def test_lenet5_study_refuses_other_models(tmp_path):
    config = lenet5_config.get_config()
    config.model = "resnet20"
    with pytest.raises(UserError, match="lenet5 study trains model 'lenet5' only"):
        lenet5_study.run(config, str(tmp_path))
    assert not (tmp_path / "config.json").exists()

