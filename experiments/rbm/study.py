"""RBM features for digit classification (scikit-learn's example, done with ``dl_jax.rbm``).

The setting of scikit-learn's "Restricted Boltzmann Machine features for digit classification":
8x8 digits scaled to [0, 1], the training images nudged by one pixel in each of the 4 directions
(5x data), a Bernoulli RBM with 100 hidden units trained by PCD-1 (learning rate 0.06, batch 10),
then multinomial logistic regression on the RBM's hidden probabilities p(h | v) against logistic
regression on the raw pixels. Differences from the example: the project's fixed stratified split
(1,437 train / 360 test) and only the training split is nudged (the example nudges before
splitting, so shifted copies of test images are in its training set).

Per epoch ``metrics.jsonl`` records the reconstruction error, the exact pseudo-log-likelihood on
train and test and, every ``ais_every_epochs``, the AIS estimate of log Z with the test
log-likelihood. p(v) is a distribution over binary images, so the log-likelihood is evaluated on
the test digits binarised at 0.5 (the pseudo-log-likelihood uses the grey values in its
cross-entropy form, see ``rbm.pseudo_log_likelihood``).

``--config.visible=gaussian`` trains a Gaussian–Bernoulli RBM (unit-variance visible units) on
the pixels standardised with the training images' per-pixel mean and standard deviation (floored
at 0.1 so that nearly constant border pixels are not blown up); the classifier then reads its
hidden probabilities of the standardised images. The pseudo-log-likelihood is for binary units
only, so those runs record the AIS log Z and the test log-density of the standardised test images
(in nats per image, a density: not comparable with the binary model's probabilities).

Resuming: params, momentum and the persistent chain are saved as ``.npz`` every epoch in
WORKDIR/checkpoints; re-running continues from the newest one and, because epoch ``e`` draws from
``fold_in(key, e)`` exactly like ``rbm.fit``, ends with the params of an uninterrupted run. The
classifiers and figures are recomputed from the final params on every invocation (seconds).
"""

from __future__ import annotations

import glob
import os
import re
import time
from typing import Any

import jax
import jax.numpy as jnp
import numpy as np
from absl import logging

from dl_jax import data as data_lib
from dl_jax import rbm
from dl_jax.training import writers
from dl_jax.errors import UserError

# Tags folded into key(seed) so the RBM's streams and the evaluations never share bits.
_INIT_TAG, _FIT_TAG, _AIS_TAG, _SAMPLES_TAG = 1, 2, 3, 4
# Config keys that may change between invocations of one workdir without changing any result.
RESUME_FREE_KEYS = frozenset({"data_dir", "stop_after_epochs"})
_CHECKPOINTS_KEPT = 2
# Smallest per-pixel standard deviation used to standardise images for Gaussian visible units.
_GAUSSIAN_STD_FLOOR = 0.1


# ---------------------------------------------------------------------------------------------
# Shared experiment plumbing (also used by dl_jax.dbn).
# ---------------------------------------------------------------------------------------------


def nudge_images(images: np.ndarray) -> np.ndarray:
    """The images followed by 4 copies shifted by one pixel up, down, left and right.

    Pixels shifted in from outside the image are 0 (background), as in scikit-learn's example.

    Args:
        images: (N, H, W) or (N, H, W, C).

    Returns:
        (5N, ...) with the original images first, then the up, down, left and right shifts.
    """
    images = np.asarray(images)
    copies = [images]
    for axis, shift in ((1, -1), (1, 1), (2, -1), (2, 1)):
        shifted = np.roll(images, shift, axis=axis)
        # The row/column that wrapped around is background, not the opposite edge.
        edge = [slice(None)] * images.ndim
        edge[axis] = slice(-1, None) if shift < 0 else slice(0, 1)
        shifted[tuple(edge)] = 0
        copies.append(shifted)
    return np.concatenate(copies)


def flatten(images: np.ndarray) -> np.ndarray:
    """(N, ...) -> (N, prod(...)) float32."""
    images = np.asarray(images, np.float32)
    return images.reshape(len(images), -1)


def logistic_regression_accuracy(
    train_x: np.ndarray, train_y: np.ndarray, test_x: np.ndarray, test_y: np.ndarray, c: float
) -> float:
    """Test accuracy of scikit-learn's multinomial LogisticRegression(C=c) (lbfgs).

    Args:
        train_x: (N, d) training features.
        train_y: (N,) labels.
        test_x: (M, d) test features.
        test_y: (M,) labels.
        c: Inverse L2 strength.

    Returns:
        Accuracy on the test features.
    """
    from sklearn.linear_model import LogisticRegression
    from threadpoolctl import threadpool_limits

    # One BLAS thread: the problem is tiny, and on a shared machine multi-threaded BLAS made
    # each fit tens of times slower.
    with threadpool_limits(1):
        model = LogisticRegression(C=float(c), max_iter=5000)
        model.fit(np.asarray(train_x, np.float64), train_y)
        return float(model.score(np.asarray(test_x, np.float64), test_y))


def select_c_by_cv(copies: np.ndarray, labels: np.ndarray, grid, folds: int) -> tuple[float, dict]:
    """Chooses C by K-fold cross-validation over the training images (not their nudged copies).

    Folds split the original training images; a fold's classifier is fitted on all copies
    (original + nudges) of the other folds' images and scored on the held-out originals, so no
    shifted copy of a validation image is in its training set and validation looks like test.

    Args:
        copies: (num_copies, N, d) features of each nudged copy of the N training images.
        labels: (N,) labels.
        grid: Candidate C values.
        folds: Number of folds.

    Returns:
        ``(best C, {C: mean validation accuracy})``; ties go to the smallest C.
    """
    num_images = copies.shape[1]
    fold_of = np.random.default_rng(0).permutation(num_images) % folds
    scores = {}
    for c in sorted(float(c) for c in grid):
        accuracies = []
        for fold in range(folds):
            train = fold_of != fold
            train_x = copies[:, train].reshape(-1, copies.shape[-1])
            train_y = np.tile(labels[train], copies.shape[0])
            accuracies.append(logistic_regression_accuracy(
                train_x, train_y, copies[0, ~train], labels[~train], c))
        scores[c] = float(np.mean(accuracies))
    best = max(scores, key=lambda c: (scores[c], -c))
    return best, scores


# ---------------------------------------------------------------------------------------------
# Checkpoints: one small .npz per epoch.
# ---------------------------------------------------------------------------------------------


def _checkpoint_path(directory: str, epoch: int) -> str:
    return os.path.join(directory, f"epoch_{epoch:05d}.npz")


def _latest_checkpoint(directory: str) -> int:
    epochs = [int(m.group(1)) for path in glob.glob(os.path.join(directory, "epoch_*.npz"))
              if (m := re.search(r"epoch_(\d+)\.npz$", path))]
    return max(epochs, default=0)


def _save_checkpoint(directory: str, epoch: int, params, velocity, chain) -> None:
    if jax.process_index() != 0:
        return
    os.makedirs(directory, exist_ok=True)
    arrays = {f"params/{k}": np.asarray(v) for k, v in params.items()}
    arrays.update({f"velocity/{k}": np.asarray(v) for k, v in velocity.items()})
    if chain is not None:
        arrays["chain"] = np.asarray(chain)
    path = _checkpoint_path(directory, epoch)
    np.savez(path[: -len(".npz")] + ".tmp.npz", **arrays)
    os.replace(path[: -len(".npz")] + ".tmp.npz", path)
    for old in sorted(glob.glob(os.path.join(directory, "epoch_*.npz")))[:-_CHECKPOINTS_KEPT]:
        os.remove(old)


def _load_checkpoint(directory: str, epoch: int):
    with np.load(_checkpoint_path(directory, epoch)) as saved:
        params = {k: jnp.asarray(saved[f"params/{k}"]) for k in ("W", "b_v", "b_h")}
        velocity = {k: jnp.asarray(saved[f"velocity/{k}"]) for k in ("W", "b_v", "b_h")}
        chain = jnp.asarray(saved["chain"]) if "chain" in saved.files else None
    return params, velocity, chain


# ---------------------------------------------------------------------------------------------
# Figures.
# ---------------------------------------------------------------------------------------------


def save_image_grid(path: str, images: np.ndarray, *, columns: int, title: str,
                    per_image_scale: bool = False) -> None:
    """Writes a grid of greyscale images as a PNG.

    Args:
        path: Output file.
        images: (N, H, W).
        columns: Images per row.
        title: Figure title.
        per_image_scale: Stretch every image to its own range (weights) instead of [0, 1].
    """
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    rows = -(-len(images) // columns)
    fig, axes = plt.subplots(rows, columns, figsize=(columns * 0.8, rows * 0.8 + 0.4),
                             squeeze=False)
    for index, ax in enumerate(axes.flat):
        ax.axis("off")
        if index < len(images):
            limits = {} if per_image_scale else {"vmin": 0.0, "vmax": 1.0}
            ax.imshow(images[index], cmap="gray", interpolation="nearest", **limits)
    fig.suptitle(title, fontsize=9)
    fig.tight_layout()
    fig.savefig(path, dpi=80)
    plt.close(fig)


def model_samples(params: rbm.Params, key: jax.Array, num_samples: int, gibbs_steps: int,
                  sampler: str = "threefry", visible: str = "bernoulli") -> np.ndarray:
    """Visible means E[v | h] at the end of independent Gibbs chains.

    Chains start at v ~ p(v | h = 0) (the visible base rates), run ``gibbs_steps`` block Gibbs
    steps, then one more hidden sample; the mean of p(v | h) is shown instead of a sample
    because it is easier to read.

    Args:
        params: RBM parameters.
        key: PRNG key.
        num_samples: Number of chains.
        gibbs_steps: Gibbs steps per chain.
        sampler: ``"threefry"`` or ``"hash"``.
        visible: ``"bernoulli"`` or ``"gaussian"`` visible units.

    Returns:
        (num_samples, n_visible) array: probabilities in [0, 1], or real Gaussian means.
    """
    start_key, chain_key, hidden_key = jax.random.split(key, 3)
    v = rbm.init_persistent_chain(params, start_key, num_samples, visible=visible)
    v = rbm.gibbs_sample(params, chain_key, v, gibbs_steps, sampler=sampler, visible=visible)
    hidden = rbm.sample_hidden(params, hidden_key, v)
    return np.asarray(rbm.visible_mean(params, hidden, visible=visible))


# ---------------------------------------------------------------------------------------------
# The experiment.
# ---------------------------------------------------------------------------------------------


def _evaluate_epoch(config, params, train_x, test_x, test_binary, seed_key, epoch) -> dict:
    # For Gaussian visible units test_binary holds the standardised test images themselves.
    gaussian = config.visible == "gaussian"
    record = {}
    if not gaussian:
        record = {
            "pll_train": float(rbm.pseudo_log_likelihood(params, train_x)),
            "pll_test": float(rbm.pseudo_log_likelihood(params, test_x)),
        }
    if epoch % config.ais_every_epochs == 0 or epoch == config.epochs:
        # The base-rate model of Salakhutdinov & Murray (2008): the training data's log-odds
        # (binary units) or its mean (Gaussian units).
        mean = jnp.mean(train_x, axis=0)
        if not gaussian:
            mean = jnp.clip(mean, 1e-3, 1 - 1e-3)
            mean = jnp.log(mean) - jnp.log1p(-mean)
        log_z, log_z_std = rbm.ais_log_partition(
            params, jax.random.fold_in(jax.random.fold_in(seed_key, _AIS_TAG), epoch),
            num_chains=config.ais_chains, num_betas=config.ais_betas, base_visible_bias=mean,
            visible=config.visible,
        )
        test_ll = rbm.log_likelihood(params, test_binary, log_z, visible=config.visible)
        record.update(ais_log_z=float(log_z), ais_log_z_std=float(log_z_std),
                      test_log_likelihood=float(test_ll))
    return record


def _train(config, workdir: str, train_x: jax.Array, test_x: jax.Array,
           test_binary: jax.Array) -> tuple[rbm.Params, bool]:
    """Runs (or resumes) the epochs; returns the params and whether all epochs are done."""
    seed_key = jax.random.key(config.seed)
    checkpoint_dir = os.path.join(workdir, "checkpoints")
    start_epoch = min(_latest_checkpoint(checkpoint_dir), config.epochs)
    # Same key split as rbm.fit, so a finished run equals rbm.fit(params, data, fit_key, ...).
    fit_key = jax.random.fold_in(seed_key, _FIT_TAG)
    chain_key, epoch_key = jax.random.split(fit_key)
    if start_epoch:
        params, velocity, chain = _load_checkpoint(checkpoint_dir, start_epoch)
    else:
        params = rbm.init(jax.random.fold_in(seed_key, _INIT_TAG), train_x.shape[1],
                          config.n_hidden, scale=config.init_scale,
                          visible_mean=jnp.mean(train_x, axis=0), visible=config.visible)
        velocity = jax.tree.map(jnp.zeros_like, params)
        chain = None
        if config.persistent:
            chain = rbm.init_persistent_chain(params, chain_key, config.batch_size,
                                              visible=config.visible)
    writer = writers.MetricWriter(workdir, resume_step=start_epoch if start_epoch else None)
    stop_epoch = config.epochs
    if config.stop_after_epochs:
        stop_epoch = min(config.epochs, start_epoch + config.stop_after_epochs)
    try:
        for epoch in range(start_epoch + 1, stop_epoch + 1):
            started = time.perf_counter()
            params, velocity, chain, metrics = rbm.train_epoch(
                params, velocity, chain, train_x, jax.random.fold_in(epoch_key, epoch - 1),
                batch_size=config.batch_size, k=config.k, learning_rate=config.learning_rate,
                momentum=config.momentum, weight_decay=config.weight_decay,
                sampler=config.sampler, visible=config.visible,
            )
            record = {"reconstruction_error": float(metrics["reconstruction_error"]),
                      "epoch_time_s": time.perf_counter() - started}
            record.update(_evaluate_epoch(config, params, train_x, test_x, test_binary,
                                          seed_key, epoch))
            if not all(np.isfinite(v) for v in record.values()):
                raise UserError(f"RBM metrics became NaN/Inf at epoch {epoch}: {record}")
            writer.write(epoch, record)
            _save_checkpoint(checkpoint_dir, epoch, params, velocity, chain)
    finally:
        writer.close()
    return params, stop_epoch == config.epochs


def run(config, workdir: str, *, dataset: data_lib.Dataset | None = None) -> dict:
    """Trains the RBM, compares logistic regression on its features and on pixels, draws figures.

    Args:
        config: See experiments/configs/rbm.py.
        workdir: Run directory: config.json, metrics.jsonl, summary.json, samples.png,
            filters.png, checkpoints/.
        dataset: Optional dataset instead of ``load_dataset(config.dataset)`` (tests).

    Returns:
        The summary (empty when ``stop_after_epochs`` stopped the run early).

    Raises:
        UserError: a workdir of another config, an unknown option, non-finite metrics.
    """
    wall_start = time.perf_counter()
    if config.c_selection not in ("fixed", "cv"):
        raise UserError(f"config.c_selection must be 'fixed' or 'cv', got {config.c_selection!r}")
    if config.visible not in rbm.VISIBLE_UNITS:
        raise UserError(f"config.visible must be one of {rbm.VISIBLE_UNITS}, "
                        f"got {config.visible!r}")
    for name in ("epochs", "n_hidden", "batch_size", "ais_every_epochs", "num_samples"):
        if int(config[name]) <= 0:
            raise UserError(f"config.{name} must be positive, got {config[name]}")
    writers.claim_workdir(workdir, config, resume_free=RESUME_FREE_KEYS)
    if dataset is None:
        dataset = data_lib.load_dataset(config.dataset, data_dir=config.data_dir or None)
    shape = dataset.input_shape
    if len(shape) not in (2, 3) or (len(shape) == 3 and shape[2] != 1):
        raise UserError(f"the RBM experiment needs greyscale images (H, W[, 1]), got {shape}")
    image_shape = shape[:2]
    train_images = dataset.train.inputs.reshape(len(dataset.train), *image_shape)
    num_copies = 5 if config.nudge else 1
    copies = nudge_images(train_images) if config.nudge else train_images
    train_x = jnp.asarray(flatten(copies))
    train_y = np.tile(dataset.train.labels, num_copies)
    test_x = jnp.asarray(flatten(dataset.test.inputs))
    test_binary = (test_x > 0.5).astype(jnp.float32)
    pixel_mean, pixel_scale = 0.0, 1.0
    if config.visible == "gaussian":
        pixel_mean = jnp.mean(train_x, axis=0)
        pixel_scale = jnp.maximum(jnp.std(train_x, axis=0), _GAUSSIAN_STD_FLOOR)
        train_x = (train_x - pixel_mean) / pixel_scale
        test_x = test_binary = (test_x - pixel_mean) / pixel_scale

    params, finished = _train(config, workdir, train_x, test_x, test_binary)
    if not finished:
        logging.info("stopped early (stop_after_epochs); re-run the same command to resume")
        return {}

    features = np.asarray(rbm.hidden_probs(params, train_x))
    test_features = np.asarray(rbm.hidden_probs(params, test_x))
    test_y = dataset.test.labels
    selection: dict[str, Any] = {}
    if config.c_selection == "cv":
        rbm_c, selection["rbm_cv_accuracy"] = select_c_by_cv(
            features.reshape(num_copies, len(dataset.train), -1), dataset.train.labels,
            config.rbm_c_grid, config.cv_folds)
        raw_c, selection["raw_cv_accuracy"] = select_c_by_cv(
            np.asarray(train_x).reshape(num_copies, len(dataset.train), -1),
            dataset.train.labels, config.raw_c_grid, config.cv_folds)
        selection = {k: {str(c): v for c, v in s.items()} for k, s in selection.items()}
    else:
        rbm_c, raw_c = config.rbm_c, config.raw_c
    rbm_accuracy = logistic_regression_accuracy(features, train_y, test_features, test_y, rbm_c)
    raw_accuracy = logistic_regression_accuracy(np.asarray(train_x), train_y,
                                                np.asarray(test_x), test_y, raw_c)

    seed_key = jax.random.key(config.seed)
    samples = model_samples(params, jax.random.fold_in(seed_key, _SAMPLES_TAG),
                            config.num_samples, config.gibbs_steps, config.sampler, config.visible)
    # Back to pixel values (the identity for binary units) for display.
    samples = np.clip(samples * np.asarray(pixel_scale) + np.asarray(pixel_mean), 0.0, 1.0)
    columns = int(np.ceil(np.sqrt(config.num_samples)))
    save_image_grid(os.path.join(workdir, "samples.png"), samples.reshape(-1, *image_shape),
                    columns=columns,
                    title=f"RBM samples: p(v|h) after {config.gibbs_steps} Gibbs steps")
    filters = np.asarray(params["W"]).T.reshape(-1, *image_shape)
    save_image_grid(os.path.join(workdir, "filters.png"), filters,
                    columns=int(np.ceil(np.sqrt(len(filters)))),
                    title="RBM filters: W[:, j] of each hidden unit", per_image_scale=True)

    last = writers.read_jsonl(os.path.join(workdir, "metrics.jsonl"))[-1]
    summary = {
        "rbm_features_test_accuracy": rbm_accuracy,
        "raw_pixels_test_accuracy": raw_accuracy,
        "rbm_c": float(rbm_c),
        "raw_c": float(raw_c),
        **selection,
        "reconstruction_error": last["reconstruction_error"],
        **{key: last[key] for key in ("pll_train", "pll_test") if key in last},
        "ais_log_z": last["ais_log_z"],
        "ais_log_z_std": last["ais_log_z_std"],
        "test_log_likelihood": last["test_log_likelihood"],
        "epochs": int(config.epochs),
        "num_train_rows": int(train_x.shape[0]),
        "seed": int(config.seed),
        "wall_time_s": time.perf_counter() - wall_start,
    }
    writers.write_json(os.path.join(workdir, "summary.json"), summary)
    return summary
