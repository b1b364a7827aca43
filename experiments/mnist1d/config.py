r"""MNIST-1D with the models of Greydanus (2020), "Scaling down deep learning".

    python -m experiments.mnist1d --workdir=/tmp/mnist1d_cnn --config.model=cnn
    python -m experiments.mnist1d --workdir=/tmp/mnist1d_mlp \
        --config=experiments/mnist1d/config.py:mlp   # a variant names the model

Headline (seed 0, CPU): cnn test_accuracy 0.945, mlp 0.656 (paper 0.94 and 0.68); all models,
seeds and the schedule ablation in README.md.
"""

from dl_jax.errors import UserError
from dl_jax.training.trainer import default_config

# The variants: one per model this study trains (``cnn`` is the registry's alias of ``conv1d``).
MODELS = ("logistic", "mlp", "cnn", "conv1d", "gru", "rnn", "lstm")


def get_config(arg: str | None = None):
    """Returns the MNIST-1D config; ``arg`` (after ``config.py:``) names the model."""
    config = default_config()
    config.dataset = "mnist1d"
    config.model = "cnn"
    if arg:
        if arg not in MODELS:
            raise UserError(f"unknown variant {arg!r} of experiments/mnist1d/config.py: "
                            f"choose one of {', '.join(MODELS)}")
        config.model = arg
    config.optimizer = "adam"
    config.learning_rate = 2e-2
    config.schedule = "warmup_cosine"
    config.warmup_steps = 300
    config.batch_size = 100
    config.num_steps = 6000
    config.log_every_steps = 250
    config.eval_every_steps = 1000
    config.checkpoint_every_steps = 1000
    return config
