r"""The copy task (Hochreiter & Schmidhuber, 1997; Arjovsky et al., 2016 form), small.

Run:

    python -m experiments.copy_task --workdir=/tmp/copy_lstm

Task (``dl_jax.sequence_tasks``): K = 10 symbols from an alphabet of 8, a delay of D = 20 (19
blanks, then the marker), then 10 blanks during which the model must output the 10 symbols
(sequence length 2K + D = 40; per-step cross-entropy on every step, many-to-many). Memoryless
baseline: blanks, then a uniform guess: symbol cross-entropy log 8 = 2.079, symbol accuracy
1/8, mean per-step loss K log 8 / 40 = 0.520. Data: 50,000 training and 2,000 test sequences
(pure functions of ``data_seed``). Model: one-hot tokens, one recurrent layer of 128 units, a
linear read-out per step. Adam 3e-3 (constant), clipping 1.0, batch 50, 10,000 steps.

Expected result (seed 0, this config; 2 shared CPU cores at load ~2-4):

| model | params | symbol accuracy | symbol CE | all 10 right | mean loss | wall |
|-------|-------:|----------------:|----------:|-------------:|----------:|-----:|
| lstm  | 72,458 | 99.91 %         | 0.0052    | 99.05 %      | 0.0013    | 82 s |
| gru   | 54,666 | 99.14 %         | 0.0256    | 91.90 %      | 0.0064    | 71 s |
| rnn   | 19,082 | 17.62 %         | 1.834     | 0 %          | 0.459     | 25 s |
| memoryless baseline | | 12.5 % | 2.079 |              | 0.520     |      |

The LSTM passes 90 % symbol accuracy at step 4,000 and 99 % at 8,000; the GRU reached 99.98 % at
step 8,000 and then had a spike at 10,000 (constant learning rate). The vanilla RNN barely
leaves the baseline. Tried: 64 units at lr 1e-2 (69 % after 8,000 steps), 128 units with
warm-up + cosine decay from 5e-3 or 3e-3 over 8,000 steps (92.0 %, 93.7 %: the decay arrives
before the model has learned the task).
"""

import ml_collections

from dl_jax.training.trainer import default_config


def get_config():
    """Returns the copy-task config (override with --config.key=value)."""
    config = default_config()
    config.dataset = "copy"
    config.model = "lstm"  # lstm | gru | rnn
    config.model_kwargs = ml_collections.ConfigDict({"features": 128, "num_layers": 1})
    config.num_symbols = 10
    config.delay = 20
    config.alphabet = 8
    config.num_train = 50_000
    config.num_test = 2_000
    config.data_seed = 0
    config.optimizer = "adam"
    config.learning_rate = 3e-3
    config.grad_clip_norm = 1.0
    config.batch_size = 50
    config.eval_batch_size = 2000
    config.num_steps = 10_000
    config.log_every_steps = 250
    config.eval_every_steps = 1000
    config.checkpoint_every_steps = 2000
    config.parallel = "none"
    config.num_devices = 1
    return config
