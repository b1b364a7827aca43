r"""RBM features for digit classification (scikit-learn's BernoulliRBM example, with dl_jax.rbm).

Run:

    python -m experiments.rbm --workdir=/tmp/rbm

Data: the project's digits split (1,437 train / 360 test, stratified, random_state 0), pixels in
[0, 1]; the training images are nudged by one pixel in 4 directions (7,185 rows), the test images
are not. Model: Bernoulli RBM, 64 visible, 100 hidden, PCD-1, learning rate 0.06, batch 10, no
momentum or weight decay (scikit-learn's BernoulliRBM and the example's values), 20 epochs, the
integer-hash Bernoulli sampler (``sampler='threefry'``: jax.random, ~2.5x slower per epoch here;
seed 0 then gives 0.947).
Classifiers: scikit-learn LogisticRegression (lbfgs) with the example's fixed C values, 6000 on
the RBM's hidden probabilities and 100 on raw pixels (``c_selection='fixed'``, nothing tuned on
test). ``--config.c_selection=cv`` chooses both C values instead by 3-fold cross-validation on
the training images (folds split the original images; validation uses un-nudged originals).

Outputs in WORKDIR: config.json, metrics.jsonl (per epoch: reconstruction_error, pll_train,
pll_test; every 5 epochs and at the end ais_log_z ± ais_log_z_std and test_log_likelihood of the
test digits binarised at 0.5), summary.json, samples.png (100 Gibbs chains, 1,000 steps each),
filters.png (W of each hidden unit as an 8x8 image), checkpoints/epoch_*.npz. Re-running resumes
from the newest epoch checkpoint (``--config.stop_after_epochs=N`` stops early to show it).

Expected result (seed 0, 2 shared CPU cores, ~18 s; training itself is ~0.02 s/epoch):
  rbm_features_test_accuracy 0.942, raw_pixels_test_accuracy 0.903
  pll_train -21.09, pll_test -21.85, ais_log_z 48.06 (± 0.01), test_log_likelihood -22.00 nats
Seeds 1-4: RBM features 0.947 / 0.925 / 0.942 / 0.961 (seeds 0-4: 0.943 ± 0.013, sample std);
raw pixels 0.903 for every seed. With ``--config.c_selection=cv`` (seed 0, ~34 s): C = 10000 for
RBM features (test 0.936) and C = 0.1 for pixels (test 0.911). The summary's
reconstruction_error (0.042) is the last epoch's mean CD reconstruction error of the training
batches, p(v | h) with h sampled from p(h | batch) (Hinton's guide, section 5).
(Measured 2026-11-25 after the hash sampler's shuffle became the sort-free Feistel permutation;
with the earlier sort-based shuffle the same config gave 0.956, seeds 0-4 0.947 ± 0.007: the
spread between shuffles is the seed-to-seed spread.)

Gaussian-Bernoulli RBM (unit-variance visible units on pixels standardised per pixel):

    python -m experiments.rbm --workdir=/tmp/rbm_gaussian --config.visible=gaussian \
        --config.learning_rate=0.01

Expected result (~15 s): rbm_features_test_accuracy 0.939 (seeds 1, 2: 0.936, 0.928; learning
rate 0.003: 0.931, 0.001: 0.925), raw_pixels_test_accuracy 0.903 (logistic regression on the
standardised pixels), test_log_likelihood -78.3 nats (a log-density of the standardised test
images; the independent unit-variance Gaussian N(mean, I), i.e. the initial model, gives -79.3):
with variances fixed at 1 the density gain is small, the features are what helps.

Reference points measured here (not part of the run; with the earlier sort-based shuffle):
scikit-learn's own BernoulliRBM with the same settings (n_iter 10 or 20, C = 6000) gives
0.936-0.958 on this split, so dl_jax matches it. In the example's own protocol (nudge all
1,797 digits, then a random 80/20 split, so test rows include shifted images) this pipeline
gives 0.934-0.940 (3 seeds) against 0.784 for pixels, the example's ~0.78; BernoulliRBM gives
0.936-0.943 there. The ~0.97-0.98 quoted for the example was not reproduced by either
implementation.
"""

import ml_collections


def get_config():
    """Returns the RBM experiment config (override with --config.key=value)."""
    config = ml_collections.ConfigDict()
    config.seed = 0
    config.dataset = "digits"
    config.data_dir = ""
    config.nudge = True  # 5x training rows: original + 1-pixel shifts up, down, left, right.
    # The RBM (dl_jax.rbm.fit's hyper-parameters).
    config.n_hidden = 100
    config.epochs = 20
    config.batch_size = 10
    config.learning_rate = 0.06
    config.k = 1
    config.momentum = 0.0
    config.weight_decay = 0.0
    config.persistent = True
    config.init_scale = 0.01
    config.sampler = "hash"
    config.visible = "bernoulli"  # or "gaussian": a Gaussian-Bernoulli RBM on standardised pixels
    # Evaluation.
    config.ais_every_epochs = 5
    config.ais_chains = 100
    config.ais_betas = 5000
    config.num_samples = 100
    config.gibbs_steps = 1000
    # Logistic regression: fixed C values (scikit-learn's example) or cross-validation.
    config.c_selection = "fixed"  # fixed | cv
    config.rbm_c = 6000.0
    config.raw_c = 100.0
    config.rbm_c_grid = (10.0, 100.0, 1000.0, 10000.0)
    config.raw_c_grid = (0.01, 0.1, 1.0, 10.0, 100.0)
    config.cv_folds = 3
    # Stop after this many epochs of this invocation (0 = run to the end); re-run to resume.
    config.stop_after_epochs = 0
    return config
