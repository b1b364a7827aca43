"""Deep belief net (Hinton, Osindero & Teh 2006): greedy RBM pretraining vs random init.

    python -m experiments.dbn --workdir=/tmp/dbn

Headline (seeds 0-4, 100 labelled digits, 64-256-256-256 sigmoid net): pretrained 0.870 ± 0.018
test accuracy vs random init 0.842 ± 0.026 (gain +0.028 ± 0.016, 5/5 seeds). Setting, results and
variants: README.md.
"""

import ml_collections

from dl_jax.errors import UserError
from dl_jax.training.trainer import default_config


def get_config(arg: str | None = None):
    """Returns the DBN study config (no variants; override with --config.key=value)."""
    if arg:
        raise UserError(f"unknown variant {arg!r} of experiments/dbn/config.py: choose one of "
                        f"(none; override fields with --config.key=value)")
    config = ml_collections.ConfigDict()
    config.seeds = (0, 1, 2, 3, 4)
    config.dataset = "digits"
    config.data_dir = ""
    config.hidden_sizes = (256, 256, 256)  # the RBM stack and the fine-tuned net's hidden layers
    config.num_labelled = 100  # class-stratified, drawn per seed from the training split
    config.pixels_c = 1.0  # reference logistic regression on raw pixels (scikit-learn's default C)

    # Greedy layer-wise pretraining (dl_jax.rbm.greedy_pretrain), the same for every layer.
    config.pretrain = ml_collections.ConfigDict()
    config.pretrain.nudge = False  # True: also the 4 one-pixel shifts (5x unlabelled rows)
    config.pretrain.epochs = 50
    config.pretrain.batch_size = 10
    config.pretrain.learning_rate = 0.05
    config.pretrain.k = 1
    config.pretrain.momentum = 0.5
    config.pretrain.weight_decay = 2e-4
    config.pretrain.persistent = False
    config.pretrain.init_scale = 0.01
    config.pretrain.sampler = "hash"

    # Fine-tuning: a train_and_evaluate config; seed and dataset are set per sub-run, the
    # model's hidden_sizes from config.hidden_sizes.
    finetune = default_config()
    finetune.model = "dbn_classifier"
    finetune.optimizer = "adam"
    finetune.learning_rate = 1e-3
    finetune.batch_size = 100
    finetune.num_steps = 1000
    finetune.log_every_steps = 100
    finetune.eval_every_steps = 250
    finetune.checkpoint_every_steps = 500
    config.finetune = finetune
    return config
