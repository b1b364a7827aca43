"""Datasets that ship inside packages, written as TFDS builders so they load like the catalog.

All are generated locally on first use (no network) into the TFDS data_dir as ArrayRecord files
and then read back through `as_data_source()`, exactly like a prepared catalog dataset.

* ``mnist1d``: Greydanus (2020), "Scaling down deep learning", produced by the ``mnist1d``
  package's own generator with its default arguments: 5,000 sequences of length 40, the first
  4,000 for training and the last 1,000 for testing, seed 42 (the split of the paper's table).
* ``digits``: scikit-learn's 1,797 8x8 handwritten digits (UCI optdigits test set), pixel values
  0..16 stored as uint8. The held-out split is fixed: ``train_test_split(test_size=0.2,
  stratify=labels, random_state=0)`` gives 1,437 train / 360 test examples with every class
  represented in proportion.

* ``numbers_translation/<lang>``: English sentences of numbers in words and their French (``fr``)
  or Vietnamese (``vi``) translation (chapter 4), from ``dl_jax.data.translation.generate_pairs``.

Only numpy and tensorflow_datasets are needed here; mnist1d and scikit-learn are imported when a
builder generates its data.
"""

import numpy as np
import tensorflow_datasets as tfds


class Mnist1d(tfds.core.GeneratorBasedBuilder):
    """MNIST-1D (Greydanus 2020) from the mnist1d package's default generator, no download."""

    VERSION = tfds.core.Version("1.0.0")
    RELEASE_NOTES = {"1.0.0": "make_dataset(get_dataset_args()): 4000/1000, length 40."}

    def _info(self):
        return tfds.core.DatasetInfo(
            builder=self,
            description="MNIST-1D: 1-D digit templates under random shear, shift, noise.",
            features=tfds.features.FeaturesDict(
                {
                    "x": tfds.features.Tensor(shape=(40,), dtype=np.float32),
                    "label": tfds.features.ClassLabel(num_classes=10),
                }
            ),
            supervised_keys=("x", "label"),
            homepage="https://github.com/greydanus/mnist1d",
        )

    def _split_generators(self, dl_manager):
        del dl_manager  # Nothing to download: the package generates the data.
        from mnist1d.data import get_dataset_args, make_dataset

        data = make_dataset(get_dataset_args())
        return {
            "train": self._generate_examples(data["x"], data["y"]),
            "test": self._generate_examples(data["x_test"], data["y_test"]),
        }

    def _generate_examples(self, xs, ys):
        for index, (x, y) in enumerate(zip(xs, ys, strict=True)):
            yield index, {"x": x.astype(np.float32), "label": int(y)}


class Digits(tfds.core.GeneratorBasedBuilder):
    """scikit-learn's 8x8 digits with a fixed stratified 80/20 split (random_state=0)."""

    VERSION = tfds.core.Version("1.0.0")
    RELEASE_NOTES = {"1.0.0": "load_digits(); train_test_split(0.2, stratify, random_state=0)."}

    def _info(self):
        return tfds.core.DatasetInfo(
            builder=self,
            description="8x8 handwritten digits, grey levels 0..16 (UCI optdigits).",
            features=tfds.features.FeaturesDict(
                {
                    "image": tfds.features.Tensor(shape=(8, 8, 1), dtype=np.uint8),
                    "label": tfds.features.ClassLabel(num_classes=10),
                }
            ),
            supervised_keys=("image", "label"),
            homepage="https://scikit-learn.org/stable/datasets/toy_dataset.html#digits-dataset",
        )

    def _split_generators(self, dl_manager):
        del dl_manager
        from sklearn.datasets import load_digits
        from sklearn.model_selection import train_test_split

        digits = load_digits()
        images = digits.images.astype(np.uint8)[..., None]
        train_x, test_x, train_y, test_y = train_test_split(
            images, digits.target, test_size=0.2, stratify=digits.target, random_state=0
        )
        return {
            "train": self._generate_examples(train_x, train_y),
            "test": self._generate_examples(test_x, test_y),
        }

    def _generate_examples(self, images, labels):
        for index, (image, label) in enumerate(zip(images, labels, strict=True)):
            yield index, {"image": image, "label": int(label)}


class NumbersTranslation(tfds.core.GeneratorBasedBuilder):
    """Numbers in words, English -> French / Vietnamese (num2words), held-out numbers in test."""

    VERSION = tfds.core.Version("1.0.0")
    RELEASE_NOTES = {"1.0.0": "20,000 train (seed 0) / 1,000 test (seed 1) pairs, <= 120 tokens."}
    BUILDER_CONFIGS = [tfds.core.BuilderConfig(name=lang) for lang in ("fr", "vi")]

    def _info(self):
        lang = self.builder_config.name
        return tfds.core.DatasetInfo(
            builder=self,
            description="Sentences of 1-8 numbers written out in words joined by connectives.",
            features=tfds.features.FeaturesDict(
                {"en": tfds.features.Text(), lang: tfds.features.Text()}
            ),
            supervised_keys=("en", lang),
            homepage="https://github.com/savoirfairelinux/num2words",
        )

    def _split_generators(self, dl_manager):
        del dl_manager
        from dl_jax.data import translation

        lang = self.builder_config.name
        return {
            "train": self._generate_examples(translation.generate_pairs(
                translation.NUM_TRAIN, lang, held_out=False, seed=0)),
            "test": self._generate_examples(translation.generate_pairs(
                translation.NUM_TEST, lang, held_out=True, seed=1)),
        }

    def _generate_examples(self, pairs):
        lang = self.builder_config.name
        for index, (english, foreign) in enumerate(pairs):
            yield index, {"en": english, lang: foreign}


EMBEDDED_BUILDERS = {"mnist1d": Mnist1d, "digits": Digits,
                     "numbers_translation": NumbersTranslation}
