r"""LeNet-5 on digits brought to 32x32 (or on TFDS MNIST), trained with LeCun's distortions.

    python -m experiments.lenet5 --workdir=/tmp/lenet5
    python -m experiments.lenet5 --workdir=/tmp/lenet5_mnist --config.dataset=mnist  # prepared TFDS

Headline (seed 0, 2 CPU cores, ~20 s): test_accuracy 0.997 (359/360 test digits); without
distortions (``--config.augment=none``) 0.978. Details and the MNIST reference in README.md.
"""

from dl_jax.errors import UserError
from experiments.image_classification.config import image_config

# LeNet5.conv_form: 'auto' is resolved by the study when the run starts (after a multi-host
# job is joined, which must come before JAX picks its backend): 'toeplitz' (banded matmuls) on
# CPU, 'lax' (XLA's convolution) elsewhere. 'lax' or 'toeplitz' here forces one.
AUTO_CONV_FORM = "auto"


def get_config(arg: str | None = None):
    """Returns the LeNet-5 config (override with --config.key=value); it has no variants."""
    if arg:
        raise UserError(f"unknown variant {arg!r} of experiments/lenet5/config.py: "
                        "this config has none (override fields with --config.key=value)")
    config = image_config()
    config.dataset = "digits"
    config.model = "lenet5"
    config.model_kwargs.conv_form = AUTO_CONV_FORM
    config.lenet_input = True
    config.augment = "affine"
    config.augment_kwargs = {"max_shift": 2.0, "max_rotation": 10.0, "max_scale": 0.1,
                             "max_shear": 0.1}
    config.optimizer = "adam"
    config.learning_rate = 2e-3
    config.schedule = "warmup_cosine"
    config.warmup_steps = 200
    config.weight_decay = 0.0
    config.batch_size = 64
    config.eval_batch_size = 360
    config.num_steps = 4000
    config.log_every_steps = 200
    config.eval_every_steps = 1000
    config.checkpoint_every_steps = 1000
    return config
