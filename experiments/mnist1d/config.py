r"""MNIST-1D with the models of Greydanus (2020), "Scaling down deep learning".

Run (the README's main job):

    python -m experiments.mnist1d --workdir=/tmp/mnist1d_cnn --config.model=cnn

Models: ``logistic``, ``mlp`` (40-100-100-10 with the reference's residual second layer),
``cnn`` (3 stride-2 Conv1d layers of 25 channels + linear), and the recurrent ``gru`` (the
paper's bidirectional GRU, 6 units per direction, all 40 outputs read by one linear layer),
``rnn`` and ``lstm`` (the same read-out with the lecture's cells). Data: the mnist1d package's
default generator (4,000 train / 1,000 test, length 40). Paper test accuracy: logistic 32 %,
MLP 68 %, CNN 94 %, GRU 91 %.

Schedule. The paper trains with Adam at a constant 1e-2, batch 100, 6,000 steps. With that
schedule we measured the CNN at 92.9 / 92.2 / 92.3 / 92.4 % (seeds 0-3), below the paper's 94 %,
the last steps' noise deciding the final number. A 300-step linear warm-up to 2e-2 followed by
cosine decay to zero (same optimizer, batch and step count) is what this config uses; it ends
every run in a quiet minimum (``--config.schedule=constant --config.learning_rate=0.01`` gives
the paper's schedule back).

Expected result (seed 0, this config, 2 CPU cores, ~10-15 s each):
  logistic: test_accuracy 0.327   (paper 0.32)
  mlp:      test_accuracy 0.667   (paper 0.68; seed 1: 0.665)
  cnn:      test_accuracy 0.952   (paper 0.94; seeds 1-3: 0.949, 0.955, 0.960)
  gru:      test_accuracy 0.894   (paper 0.91; seed 1: 0.894; the paper's constant 1e-2: 0.879)
  rnn:      test_accuracy 0.816
  lstm:     test_accuracy 0.874
"""

from dl_jax.training.trainer import default_config


def get_config():
    """Returns the MNIST-1D config (override with --config.key=value)."""
    config = default_config()
    config.dataset = "mnist1d"
    config.model = "cnn"
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
