r"""ResNet-20 on CIFAR-10 with He et al. (2016) §4.2's recipe — a GPU run.

    python -m experiments.image_classification --workdir=/tmp/resnet20_cifar10 \
        --config=experiments/configs/resnet20_cifar10.py --config.data_dir=/path/to/tfds

Recipe (He, Zhang, Ren and Sun 2016, "Deep Residual Learning for Image Recognition", §4.2):
45k/5k split is used there for tuning only — we train on all 50k and test on the 10k test set as
the paper's table does; per-pixel mean subtraction (we standardise per channel), 4-pixel padding,
random 32x32 crops and horizontal flips; SGD with momentum 0.9, weight decay 1e-4, batch 128,
learning rate 0.1 divided by 10 at 32k and 48k iterations, stopped at 64k; He initialisation and
batch norm. Option A (parameter-free, zero-padded) shortcuts as in the paper.

Target: 8.75 % test error (the paper's ResNet-20), i.e. test_accuracy ≈ 0.9125. CIFAR-10 must be
prepared offline (``tfds build cifar10 --data_dir=DIR --file_format=array_record``). Not measured
in this repository yet: no GPU run has been made (see README).

Mixed precision: ``--config.model_kwargs.dtype=bfloat16`` computes in bfloat16 with float32
parameters, batch-norm statistics and logits (tested on CPU for two steps; neither its speed nor
its accuracy has been measured on an accelerator yet).
"""

import ml_collections

from dl_jax.image_classification import image_config


def get_config():
    """Returns He et al.'s CIFAR-10 ResNet-20 config."""
    config = image_config()
    config.dataset = "cifar10"
    config.model = "resnet20"
    config.model_kwargs = ml_collections.ConfigDict({"dtype": "float32"})
    config.standardize = True
    config.augment = "crop_flip"
    config.augment_kwargs = {"pad": 4}
    config.optimizer = "momentum"
    config.momentum = 0.9
    config.weight_decay = 1e-4
    config.learning_rate = 0.1
    config.schedule = "piecewise"
    config.schedule_boundaries = (32000, 48000)
    config.schedule_factor = 0.1
    config.batch_size = 128
    config.eval_batch_size = 1000
    config.num_steps = 64000
    config.log_every_steps = 200
    config.eval_every_steps = 2000
    config.checkpoint_every_steps = 2000
    return config
