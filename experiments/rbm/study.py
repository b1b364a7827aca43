"""RBM features for digit classification (scikit-learn's BernoulliRBM example, with dl_jax.rbm).

8x8 digits scaled to [0, 1], the training images nudged by one pixel in each of the 4 directions
(5x data), a Bernoulli RBM trained by PCD-1, then multinomial logistic regression on the RBM's
hidden probabilities p(h | v) against logistic regression on the raw pixels. Per epoch
``metrics.jsonl`` records the reconstruction error, the exact pseudo-log-likelihood on train and
test and, every ``ais_every_epochs``, the AIS estimate of log Z with the test log-likelihood of
the test digits binarised at 0.5. ``visible='gaussian'`` trains a Gaussian-Bernoulli RBM on the
pixels standardised per pixel (README.md has the details and the results).

Resuming: params, momentum and the persistent chain are an Orbax checkpoint every epoch in
WORKDIR/checkpoints (``dl_jax.training.checkpoints``); re-running continues from the newest one
and, because epoch ``e`` draws from ``fold_in(key, e)`` exactly like ``rbm.fit``, ends with the
params of an uninterrupted run. Classifiers and figures are recomputed from the final params on
every invocation (seconds).
"""

from __future__ import annotations

import dataclasses
import os
import time

import jax
import jax.numpy as jnp
import numpy as np
from absl import logging

from dl_jax import data as data_lib
from dl_jax import rbm
from dl_jax.errors import UserError
from dl_jax.training import writers
from dl_jax.training.checkpoints import Checkpointer
from experiments.common import baselines, plots

# Tags folded into key(seed) so the RBM's streams and the evaluations never share bits.
_INIT_TAG, _FIT_TAG, _AIS_TAG, _SAMPLES_TAG = 1, 2, 3, 4
# Config keys that may change between invocations of one workdir without changing any result.
RESUME_FREE_KEYS = frozenset({"data_dir", "stop_after_epochs"})
_CHECKPOINTS_KEPT = 2
# Smallest per-pixel standard deviation used to standardise images for Gaussian visible units.
_GAUSSIAN_STD_FLOOR = 0.1
C_SELECTIONS = ("fixed", "cv")


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


@dataclasses.dataclass(frozen=True)
class _Data:
    """The study's arrays: training rows (nudged copies), test rows, display transform."""

    train_x: jax.Array  # (num_copies * N, n_visible), standardised for Gaussian units
    train_y: np.ndarray  # labels of train_x
    test_x: jax.Array
    test_y: np.ndarray
    test_likelihood_x: jax.Array  # binarised test digits (Gaussian units: test_x itself)
    num_copies: int
    image_shape: tuple[int, int]
    pixel_mean: np.ndarray | float = 0.0
    pixel_scale: np.ndarray | float = 1.0


def _prepare_data(config, dataset: data_lib.Dataset) -> _Data:
    shape = dataset.input_shape
    if len(shape) not in (2, 3) or (len(shape) == 3 and shape[2] != 1):
        raise UserError(f"the RBM study needs greyscale images (H, W[, 1]), got {shape}")
    image_shape = tuple(shape[:2])
    train_images = dataset.train.inputs.reshape(len(dataset.train), *image_shape)
    num_copies = 5 if config.nudge else 1
    copies = nudge_images(train_images) if config.nudge else train_images
    train_x = jnp.asarray(flatten(copies))
    test_x = jnp.asarray(flatten(dataset.test.inputs))
    data = _Data(train_x=train_x, train_y=np.tile(dataset.train.labels, num_copies),
                 test_x=test_x, test_y=dataset.test.labels,
                 test_likelihood_x=(test_x > 0.5).astype(jnp.float32), num_copies=num_copies,
                 image_shape=image_shape)
    if config.visible != "gaussian":
        return data
    pixel_mean = jnp.mean(train_x, axis=0)
    pixel_scale = jnp.maximum(jnp.std(train_x, axis=0), _GAUSSIAN_STD_FLOOR)
    test_x = (test_x - pixel_mean) / pixel_scale
    return dataclasses.replace(data, train_x=(train_x - pixel_mean) / pixel_scale, test_x=test_x,
                               test_likelihood_x=test_x, pixel_mean=np.asarray(pixel_mean),
                               pixel_scale=np.asarray(pixel_scale))


def _evaluate_epoch(config, params, data: _Data, seed_key, epoch) -> dict:
    gaussian = config.visible == "gaussian"
    record = {}
    if not gaussian:
        record = {
            "pll_train": float(rbm.pseudo_log_likelihood(params, data.train_x)),
            "pll_test": float(rbm.pseudo_log_likelihood(params, data.test_x)),
        }
    if epoch % config.ais_every_epochs == 0 or epoch == config.epochs:
        # The base-rate model of Salakhutdinov & Murray (2008): the training data's log-odds
        # (binary units) or its mean (Gaussian units).
        mean = jnp.mean(data.train_x, axis=0)
        if not gaussian:
            mean = jnp.clip(mean, 1e-3, 1 - 1e-3)
            mean = jnp.log(mean) - jnp.log1p(-mean)
        log_z, log_z_std = rbm.ais_log_partition(
            params, jax.random.fold_in(jax.random.fold_in(seed_key, _AIS_TAG), epoch),
            num_chains=config.ais_chains, num_betas=config.ais_betas, base_visible_bias=mean,
            visible=config.visible,
        )
        test_ll = rbm.log_likelihood(params, data.test_likelihood_x, log_z,
                                     visible=config.visible)
        record.update(ais_log_z=float(log_z), ais_log_z_std=float(log_z_std),
                      test_log_likelihood=float(test_ll))
    return record


def _initial_state(config, train_x: jax.Array, seed_key: jax.Array) -> dict:
    """Epoch 0: params, zero momentum and (PCD) the persistent chain, keyed like ``rbm.fit``."""
    chain_key, _ = jax.random.split(jax.random.fold_in(seed_key, _FIT_TAG))
    params = rbm.init(jax.random.fold_in(seed_key, _INIT_TAG), train_x.shape[1],
                      config.n_hidden, scale=config.init_scale,
                      visible_mean=jnp.mean(train_x, axis=0), visible=config.visible)
    state = {"params": params, "velocity": jax.tree.map(jnp.zeros_like, params)}
    if config.persistent:
        state["chain"] = rbm.init_persistent_chain(params, chain_key, config.batch_size,
                                                   visible=config.visible)
    return state


def _train_epoch(config, state: dict, train_x: jax.Array, epoch_key: jax.Array) -> tuple:
    params, velocity, chain, metrics = rbm.train_epoch(
        state["params"], state["velocity"], state.get("chain"), train_x, epoch_key,
        batch_size=config.batch_size, k=config.k, learning_rate=config.learning_rate,
        momentum=config.momentum, weight_decay=config.weight_decay, sampler=config.sampler,
        visible=config.visible,
    )
    new_state = {"params": params, "velocity": velocity}
    if chain is not None:
        new_state["chain"] = chain
    return new_state, float(metrics["reconstruction_error"])


def _train(config, workdir: str, data: _Data) -> tuple[rbm.Params, bool]:
    """Runs (or resumes) the epochs; returns the params and whether all epochs are done."""
    seed_key = jax.random.key(config.seed)
    # Same key split as rbm.fit, so a finished run equals rbm.fit(params, data, fit_key, ...).
    _, epoch_key = jax.random.split(jax.random.fold_in(seed_key, _FIT_TAG))
    state = _initial_state(config, data.train_x, seed_key)
    checkpointer = Checkpointer(os.path.join(workdir, "checkpoints"), _CHECKPOINTS_KEPT)
    start_epoch, state = checkpointer.restore_latest(state)
    start_epoch = min(start_epoch or 0, config.epochs)
    writer = writers.MetricWriter(workdir, resume_step=start_epoch if start_epoch else None)
    stop_epoch = config.epochs
    if config.stop_after_epochs:
        stop_epoch = min(config.epochs, start_epoch + config.stop_after_epochs)
    try:
        for epoch in range(start_epoch + 1, stop_epoch + 1):
            started = time.perf_counter()
            state, error = _train_epoch(config, state, data.train_x,
                                        jax.random.fold_in(epoch_key, epoch - 1))
            record = {"reconstruction_error": error, "epoch_time_s": time.perf_counter() - started}
            record.update(_evaluate_epoch(config, state["params"], data, seed_key, epoch))
            if not all(np.isfinite(v) for v in record.values()):
                raise UserError(f"RBM metrics became NaN/Inf at epoch {epoch}: {record}")
            writer.write(epoch, record)
            checkpointer.save(epoch, state)
    finally:
        writer.close()
        checkpointer.close()
    return state["params"], stop_epoch == config.epochs


def _classify(config, params: rbm.Params, data: _Data) -> dict:
    """Logistic regression on the RBM's hidden probabilities and on the pixels (C fixed or CV)."""
    features = np.asarray(rbm.hidden_probs(params, data.train_x))
    test_features = np.asarray(rbm.hidden_probs(params, data.test_x))
    train_x = np.asarray(data.train_x)
    result = {}
    if config.c_selection == "cv":
        num_images = len(train_x) // data.num_copies
        labels = data.train_y[:num_images]
        for name, values, grid in (("rbm", features, config.rbm_c_grid),
                                   ("raw", train_x, config.raw_c_grid)):
            c, scores = baselines.select_c_by_cv(values.reshape(data.num_copies, num_images, -1),
                                                 labels, grid, config.cv_folds, int(config.seed))
            result[f"{name}_c"] = c
            result[f"{name}_cv_accuracy"] = {str(k): v for k, v in scores.items()}
    else:
        result.update(rbm_c=config.rbm_c, raw_c=config.raw_c)
    result["rbm_features_test_accuracy"] = baselines.logistic_regression_accuracy(
        features, data.train_y, test_features, data.test_y, result["rbm_c"])
    result["raw_pixels_test_accuracy"] = baselines.logistic_regression_accuracy(
        train_x, data.train_y, np.asarray(data.test_x), data.test_y, result["raw_c"])
    result["rbm_c"], result["raw_c"] = float(result["rbm_c"]), float(result["raw_c"])
    return result


def _draw_figures(config, workdir: str, params: rbm.Params, data: _Data) -> None:
    """samples.png (Gibbs chains' means, in pixel values) and filters.png (W per hidden unit)."""
    key = jax.random.fold_in(jax.random.key(config.seed), _SAMPLES_TAG)
    samples = model_samples(params, key, config.num_samples, config.gibbs_steps, config.sampler,
                            config.visible)
    # Back to pixel values (the identity for binary units) for display.
    samples = np.clip(samples * data.pixel_scale + data.pixel_mean, 0.0, 1.0)
    if jax.process_index() != 0:
        return
    plots.save_image_grid(os.path.join(workdir, "samples.png"),
                          samples.reshape(-1, *data.image_shape),
                          columns=int(np.ceil(np.sqrt(config.num_samples))),
                          title=f"RBM samples: p(v|h) after {config.gibbs_steps} Gibbs steps")
    filters = np.asarray(params["W"]).T.reshape(-1, *data.image_shape)
    plots.save_image_grid(os.path.join(workdir, "filters.png"), filters,
                          columns=int(np.ceil(np.sqrt(len(filters)))),
                          title="RBM filters: W[:, j] of each hidden unit", per_image_scale=True)


def _validate(config) -> None:
    if config.c_selection not in C_SELECTIONS:
        raise UserError(f"unknown config.c_selection {config.c_selection!r}: choose one of "
                        f"{', '.join(C_SELECTIONS)}")
    if config.visible not in rbm.VISIBLE_UNITS:
        raise UserError(f"unknown config.visible {config.visible!r}: choose one of "
                        f"{', '.join(rbm.VISIBLE_UNITS)}")
    if config.sampler not in rbm.SAMPLERS:
        raise UserError(f"unknown config.sampler {config.sampler!r}: choose one of "
                        f"{', '.join(rbm.SAMPLERS)}")
    for name in ("epochs", "n_hidden", "batch_size", "ais_every_epochs", "num_samples"):
        if int(config[name]) <= 0:
            raise UserError(f"config.{name} must be positive, got {config[name]}")


def run(config, workdir: str, *, dataset: data_lib.Dataset | None = None) -> dict:
    """Trains the RBM, compares logistic regression on its features and on pixels, draws figures.

    Args:
        config: see experiments/rbm/config.py.
        workdir: run directory: config.json, metrics.jsonl, summary.json, samples.png,
            filters.png, checkpoints/.
        dataset: optional dataset instead of ``load_dataset(config.dataset)`` (tests).

    Returns:
        The summary (empty when ``stop_after_epochs`` stopped the run early).

    Raises:
        UserError: a workdir of another config, an unknown option, non-finite metrics.
    """
    wall_start = time.perf_counter()
    _validate(config)
    writers.claim_workdir(workdir, config, resume_free=RESUME_FREE_KEYS)
    if dataset is None:
        dataset = data_lib.load_dataset(config.dataset, data_dir=config.data_dir or None)
    data = _prepare_data(config, dataset)
    params, finished = _train(config, workdir, data)
    if not finished:
        logging.info("stopped early (stop_after_epochs); re-run the same command to resume")
        return {}
    classified = _classify(config, params, data)
    _draw_figures(config, workdir, params, data)
    last = writers.read_jsonl(os.path.join(workdir, "metrics.jsonl"))[-1]
    summary = {
        **{k: classified[k] for k in ("rbm_features_test_accuracy", "raw_pixels_test_accuracy",
                                      "rbm_c", "raw_c")},
        **{k: v for k, v in classified.items() if k.endswith("_cv_accuracy")},
        **{k: last[k] for k in ("reconstruction_error", "pll_train", "pll_test", "ais_log_z",
                                "ais_log_z_std", "test_log_likelihood") if k in last},
        "epochs": int(config.epochs),
        "num_train_rows": int(data.train_x.shape[0]),
        "seed": int(config.seed),
        "wall_time_s": time.perf_counter() - wall_start,
    }
    writers.write_json(os.path.join(workdir, "summary.json"), summary)
    return summary
