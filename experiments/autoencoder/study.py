"""Representation learning vs hand-made representations: the lecture's introduction, measured.

Two experiments on scikit-learn's 8x8 ``digits`` (fixed stratified split, 1,437 train / 360 test):

* **Autoencoder vs PCA** (``run_autoencoder``): a deep dense autoencoder
  (``dl_jax.models.autoencoder.DenseAutoencoder``, Hinton & Salakhutdinov 2006) trained with the
  shared trainer to reconstruct its input, against PCA with the same code size. Both are judged
  by the per-pixel test reconstruction MSE on [0, 1] pixels.
* **Traditional ML vs deep learning** (``run_classic_vs_deep``): logistic regression and an RBF
  SVM on raw pixels and on hand-crafted features (``hand_crafted_features``: gradient-orientation
  histograms plus row/column projection profiles), against a small CNN (``DigitsCNN``) that
  learns its features end to end.

Both write WORKDIR/config.json, metrics.jsonl (one record per sub-result) and summary.json, plus
figures or a markdown table; neural sub-runs live in WORKDIR/<name>/ and resume like any
``train_and_evaluate`` run, and everything else is recomputed (cheap and deterministic), so
re-running a command is idempotent.
"""

from __future__ import annotations

import os
import time
from collections.abc import Sequence
from typing import TYPE_CHECKING

import flax.linen as nn
import jax
import jax.numpy as jnp
import numpy as np

from dl_jax import data as data_lib
from dl_jax.training import steps as steps_lib
from dl_jax.training import writers
from dl_jax.errors import UserError
from dl_jax.models.autoencoder import ACTIVATIONS, DenseAutoencoder

if TYPE_CHECKING:
    import ml_collections

Array = jax.Array

# ---------------------------------------------------------------------------------------------
# Shared run plumbing.
# ---------------------------------------------------------------------------------------------


def _load(config, dataset: data_lib.Dataset | None) -> data_lib.Dataset:
    if dataset is not None:
        return dataset
    return data_lib.load_dataset(config.dataset, data_dir=config.data_dir or None)


def _subrun_config(config: ml_collections.ConfigDict, **overrides) -> ml_collections.ConfigDict:
    """An unlocked copy of ``config`` with some fields replaced (for a sub-run)."""
    sub = type(config)(config.to_dict())
    for key, value in overrides.items():
        setattr(sub, key, value)
    return sub


def _flat(x: np.ndarray) -> np.ndarray:
    return np.asarray(x, np.float64).reshape(len(x), -1)


# ---------------------------------------------------------------------------------------------
# 1. Deep autoencoder vs PCA.
# ---------------------------------------------------------------------------------------------


def reconstruction_dataset(dataset: data_lib.Dataset) -> data_lib.Dataset:
    """The same splits with targets = inputs, for training with ``steps.REGRESSION``."""
    return data_lib.Dataset(
        name=dataset.name,
        train=data_lib.Split(dataset.train.inputs, dataset.train.inputs),
        test=data_lib.Split(dataset.test.inputs, dataset.test.inputs),
        num_classes=dataset.num_classes,
    )


def pca_codes_and_reconstructions(
    train_inputs: np.ndarray, inputs: np.ndarray, code_size: int
) -> tuple[np.ndarray, np.ndarray]:
    """PCA fitted on ``train_inputs``: codes and (unclipped) reconstructions of ``inputs``.

    Args:
      train_inputs: (N, ...) examples the principal subspace is fitted on.
      inputs: (M, ...) examples to encode and reconstruct.
      code_size: number of principal components kept.

    Returns:
      (codes (M, code_size), reconstructions with ``inputs``' shape), both float64.
    """
    from sklearn.decomposition import PCA
    from threadpoolctl import threadpool_limits

    with threadpool_limits(1):  # tiny problem; see classic_baselines
        pca = PCA(n_components=code_size, svd_solver="full").fit(_flat(train_inputs))
        codes = pca.transform(_flat(inputs))
        reconstructions = pca.inverse_transform(codes)
    return codes, reconstructions.reshape(inputs.shape)


def pca_reconstruction_mse(train_inputs: np.ndarray, inputs: np.ndarray, code_size: int) -> float:
    """Per-pixel mean squared error of the ``code_size``-component PCA reconstruction."""
    _, reconstructions = pca_codes_and_reconstructions(train_inputs, inputs, code_size)
    return float(np.mean(np.square(reconstructions - np.asarray(inputs, np.float64))))


def build_autoencoder(config: ml_collections.ConfigDict, data_shape: Sequence[int],
                      code_size: int) -> DenseAutoencoder:
    """The config's ``DenseAutoencoder`` (``model_kwargs``: encoder_sizes, activation).

    Raises:
      UserError: an unknown activation or a non-positive size.
    """
    kwargs = config.model_kwargs.to_dict()
    encoder_sizes = tuple(int(w) for w in kwargs.pop("encoder_sizes", (256, 128)))
    activation = kwargs.pop("activation", "relu")
    if kwargs:
        raise UserError(f"unknown autoencoder model_kwargs {sorted(kwargs)}: use encoder_sizes "
                        f"and activation")
    if activation not in ACTIVATIONS:
        raise UserError(f"unknown activation {activation!r}: choose one of "
                        f"{', '.join(sorted(ACTIVATIONS))}")
    if code_size <= 0 or any(w <= 0 for w in encoder_sizes):
        raise UserError(f"code_size ({code_size}) and encoder_sizes {encoder_sizes} must be "
                        f"positive")
    return DenseAutoencoder(encoder_sizes=encoder_sizes, code_size=int(code_size),
                            activation=activation, data_shape=tuple(data_shape))


def _train_autoencoder(config, workdir: str, dataset: data_lib.Dataset, code_size: int) -> dict:
    """Trains (or resumes) one autoencoder sub-run; returns its test codes and reconstructions."""
    from dl_jax.training.trainer import train_and_evaluate

    model = build_autoencoder(config, dataset.input_shape, code_size)
    sub_config = _subrun_config(config, code_size=code_size)
    result = train_and_evaluate(sub_config, os.path.join(workdir, f"ae_code{code_size}"),
                                dataset=reconstruction_dataset(dataset), model=model,
                                objective=steps_lib.REGRESSION,
                                extra_summary={"code_size": code_size})
    if not result.finished:
        return {"finished": False}
    # One compiled pass over train and test together gives every code and reconstruction.
    inputs = np.concatenate([dataset.train.inputs, dataset.test.inputs])
    codes, reconstructions = _encode_and_reconstruct(model, result.state.params, inputs)
    n_train = len(dataset.train)
    return {
        "finished": True,
        "summary": result.summary,
        "codes": codes[n_train:],
        "reconstructions": reconstructions[n_train:],
        "train_reconstructions": reconstructions[:n_train],
    }


def _encode_and_reconstruct(model: DenseAutoencoder, params, inputs: np.ndarray):
    # Parameters are an argument, not a closure, so they are not baked into the program.
    @jax.jit
    def apply(params, x):
        codes = model.apply({"params": params}, x, method=DenseAutoencoder.encode)
        return codes, model.apply({"params": params}, codes, method=DenseAutoencoder.decode)

    codes, reconstructions = apply(params, jnp.asarray(inputs))
    return np.asarray(codes), np.asarray(reconstructions).reshape(inputs.shape)


def run_autoencoder(config: ml_collections.ConfigDict, workdir: str, *,
                    dataset: data_lib.Dataset | None = None) -> dict:
    """Deep autoencoder vs PCA at the same code size; writes summary, metrics and two PNGs.

    Trains ``DenseAutoencoder`` with code size ``config.code_size`` in WORKDIR/ae_code<k>/ and,
    when that is not 2, a second one with a 2-D code in WORKDIR/ae_code2/ for the
    ``codes_2d.png`` figure (PCA's first two components vs the 2-D autoencoder code, as in
    Hinton & Salakhutdinov's Fig. 3). PCA is fitted on the training inputs.

    Args:
      config: the trainer's fields plus ``code_size`` and ``model_kwargs`` (encoder_sizes,
        activation); see experiments/configs/autoencoder.py.
      workdir: run directory.
      dataset: use this dataset instead of ``config.dataset`` (tests pass a small subset).

    Returns:
      The summary (also WORKDIR/summary.json): ``autoencoder_test_mse`` and ``pca_test_mse``
      (per pixel) at ``code_size``, the same pair at code size 2 (``*_code2``), the per-image
      squared errors (``*_test_sse_per_image``, Hinton & Salakhutdinov's unit) and the train
      MSEs. Empty if a sub-run stopped early (``stop_after_steps``); re-run to resume.

    Raises:
      UserError: invalid config, or a workdir holding another config.
    """
    wall_start = time.perf_counter()
    writers.claim_workdir(workdir, config)
    dataset = _load(config, dataset)
    code_size = int(config.code_size)
    code_sizes = [code_size] + ([2] if code_size != 2 else [])
    for k in code_sizes:
        build_autoencoder(config, dataset.input_shape, k)  # validate before any training
    num_pixels = int(np.prod(dataset.input_shape))

    runs = {}
    for k in code_sizes:
        runs[k] = _train_autoencoder(config, workdir, dataset, k)
        if not runs[k]["finished"]:
            return {}

    records, summary = [], {"code_size": code_size, "dataset": dataset.name,
                            "num_pixels": num_pixels}
    pca = {}
    for k in code_sizes:
        pca[k] = pca_codes_and_reconstructions(dataset.train.inputs, dataset.test.inputs, k)
        test_x = np.asarray(dataset.test.inputs, np.float64)
        train_x = np.asarray(dataset.train.inputs, np.float64)
        ae_mse = float(np.mean(np.square(runs[k]["reconstructions"] - test_x)))
        pca_mse = float(np.mean(np.square(pca[k][1] - test_x)))
        sub = runs[k]["summary"]
        record = {
            "step": int(sub["step"]),
            "code_size": k,
            "autoencoder_test_mse": ae_mse,
            "autoencoder_train_mse": float(
                np.mean(np.square(runs[k]["train_reconstructions"] - train_x))),
            "pca_test_mse": pca_mse,
            "pca_train_mse": pca_reconstruction_mse(train_x, train_x, k),
            "autoencoder_num_params": int(sub["num_params"]),
        }
        records.append(record)
        suffix = "" if k == code_size else f"_code{k}"
        for name in ("autoencoder_test_mse", "pca_test_mse", "autoencoder_train_mse",
                     "pca_train_mse", "autoencoder_num_params"):
            summary[name + suffix] = record[name]
        summary["autoencoder_test_sse_per_image" + suffix] = ae_mse * num_pixels
        summary["pca_test_sse_per_image" + suffix] = pca_mse * num_pixels
    summary["autoencoder_beats_pca"] = summary["autoencoder_test_mse"] < summary["pca_test_mse"]
    summary["seed"] = int(config.seed)
    summary["num_steps"] = int(config.num_steps)

    if jax.process_index() == 0:
        test_y = np.asarray(dataset.test.labels)
        plot_reconstructions(os.path.join(workdir, "reconstructions.png"), dataset.test.inputs,
                             test_y, runs[code_size]["reconstructions"], pca[code_size][1],
                             code_size)
        plot_codes_2d(os.path.join(workdir, "codes_2d.png"), pca[2][0], runs[2]["codes"], test_y)
    writers.write_jsonl(os.path.join(workdir, "metrics.jsonl"), records)
    summary["wall_time_s"] = time.perf_counter() - wall_start
    writers.write_json(os.path.join(workdir, "summary.json"), summary)
    return summary


def _one_per_class(labels: np.ndarray, count: int) -> np.ndarray:
    """Indices of up to ``count`` examples, cycling through the classes in order."""
    order = []
    classes = np.unique(labels)
    by_class = {c: list(np.flatnonzero(labels == c)) for c in classes}
    while len(order) < min(count, len(labels)):
        for c in classes:
            if by_class[c] and len(order) < count:
                order.append(by_class[c].pop(0))
    return np.asarray(order, np.int64)


def plot_reconstructions(path: str, originals: np.ndarray, labels: np.ndarray,
                         autoencoder: np.ndarray, pca: np.ndarray, code_size: int,
                         count: int = 10) -> None:
    """Writes a PNG grid: originals (top), autoencoder and PCA reconstructions (one per class)."""
    from matplotlib.figure import Figure

    index = _one_per_class(np.asarray(labels), count)
    rows = [("original", originals), (f"autoencoder ({code_size}-D)", autoencoder),
            (f"PCA ({code_size}-D)", pca)]
    figure = Figure(figsize=(1.1 * len(index) + 1.5, 3.6))
    axes = figure.subplots(len(rows), len(index), squeeze=False)
    for r, (title, images) in enumerate(rows):
        for c, i in enumerate(index):
            image = np.asarray(images[i]).reshape(originals.shape[1:3])
            axes[r, c].imshow(np.clip(image, 0.0, 1.0), cmap="gray_r", vmin=0.0, vmax=1.0)
            axes[r, c].set_xticks([])
            axes[r, c].set_yticks([])
        axes[r, 0].set_ylabel(title, fontsize=8)
    figure.suptitle("test digits and their reconstructions")
    figure.savefig(path, dpi=100, bbox_inches="tight")


def plot_codes_2d(path: str, pca_codes: np.ndarray, autoencoder_codes: np.ndarray,
                  labels: np.ndarray) -> None:
    """Writes a PNG of 2-D test codes coloured by class: PCA (left) vs autoencoder (right)."""
    from matplotlib.figure import Figure

    num_classes = max(int(np.max(labels)) + 1, 10)
    figure = Figure(figsize=(11, 5))
    axes = figure.subplots(1, 2)
    for ax, codes, title in ((axes[0], pca_codes, "PCA: first two components"),
                             (axes[1], autoencoder_codes, "autoencoder: 2-D code")):
        points = ax.scatter(codes[:, 0], codes[:, 1], c=labels, s=12, vmin=-0.5,
                            vmax=num_classes - 0.5,
                            cmap="tab10" if num_classes == 10 else "tab20")
        ax.set_title(title)
    figure.colorbar(points, ax=axes, ticks=range(num_classes), label="class")
    figure.savefig(path, dpi=100, bbox_inches="tight")


# ---------------------------------------------------------------------------------------------
# 2. Traditional ML on hand-crafted features vs a CNN trained end to end.
# ---------------------------------------------------------------------------------------------


def _as_gray(images: np.ndarray) -> np.ndarray:
    images = np.asarray(images, np.float64)
    if images.ndim == 4:
        if images.shape[-1] != 1:
            raise ValueError(f"expected single-channel images, got shape {images.shape}")
        images = images[..., 0]
    if images.ndim != 3:
        raise ValueError(f"expected images (N, H, W) or (N, H, W, 1), got {images.shape}")
    return images


def gradient_orientation_histograms(images: np.ndarray, *, cell_size: int = 2,
                                    num_bins: int = 9, eps: float = 1e-6) -> np.ndarray:
    """HOG-like features (Dalal & Triggs 2005) of single-channel images, in numpy.

    Gradients are centred differences with zero padding (the digits lie on a black background,
    so the image border is an edge like any other): ``gx[i, j] = I[i, j+1] - I[i, j-1]`` and
    ``gy[i, j] = I[i+1, j] - I[i-1, j]``. Every pixel votes its gradient magnitude into one of
    ``num_bins`` unsigned orientation bins of width 180/num_bins degrees (bin ``b`` covers
    ``[b, b+1) * pi / num_bins`` of ``atan2(gy, gx) mod pi``; no interpolation between bins or
    cells) of its ``cell_size`` x ``cell_size`` cell. The concatenated cell histograms are
    L2-normalised together (``v / (|v| + eps)``), i.e. the whole image is one normalisation
    block (Dalal & Triggs use overlapping 2x2-cell blocks; an 8x8 digit has little room for
    more than one).

    Args:
      images: (N, H, W) or (N, H, W, 1) with H and W multiples of ``cell_size``.
      cell_size: side of a square cell in pixels.
      num_bins: orientation bins over [0, 180) degrees.
      eps: keeps blank images at zero instead of dividing by zero.

    Returns:
      (N, (H / cell_size) * (W / cell_size) * num_bins) float64, cells in row-major order, bins
      innermost.

    Raises:
      ValueError: a shape that is not single-channel or not divisible into cells.
    """
    images = _as_gray(images)
    n, height, width = images.shape
    if height % cell_size or width % cell_size:
        raise ValueError(f"image size {height}x{width} is not a multiple of cell_size "
                         f"{cell_size}")
    padded = np.pad(images, ((0, 0), (1, 1), (1, 1)))
    gx = padded[:, 1:-1, 2:] - padded[:, 1:-1, :-2]
    gy = padded[:, 2:, 1:-1] - padded[:, :-2, 1:-1]
    magnitude = np.hypot(gx, gy)
    angle = np.mod(np.arctan2(gy, gx), np.pi)
    # Rounding can put an angle a hair below pi into bin num_bins; it belongs with 0 (unsigned).
    bins = np.floor(angle * (num_bins / np.pi)).astype(np.int64) % num_bins
    votes = magnitude[..., None] * (bins[..., None] == np.arange(num_bins))
    cells = votes.reshape(n, height // cell_size, cell_size, width // cell_size, cell_size,
                          num_bins).sum(axis=(2, 4))
    flat = cells.reshape(n, -1)
    return flat / (np.linalg.norm(flat, axis=1, keepdims=True) + eps)


def projection_profiles(images: np.ndarray) -> np.ndarray:
    """Mean intensity of every row, then of every column: (N, H + W)."""
    images = _as_gray(images)
    return np.concatenate([images.mean(axis=2), images.mean(axis=1)], axis=1)


def hand_crafted_features(images: np.ndarray, *, cell_size: int = 2,
                          num_bins: int = 9) -> np.ndarray:
    """The traditional pipeline's representation: orientation histograms + projection profiles.

    For 8x8 digits with the defaults: 4x4 cells of 2x2 pixels x 9 bins = 144 gradient features
    (stroke directions per cell, insensitive to a one-pixel shift inside a cell and, after
    normalisation, to contrast) and 8 + 8 projection profile values (where the ink is along each
    axis): 160 features. On the digits split, cells of 4x4 pixels (52 features) lost 1.9 (SVM)
    and 3.1 (logistic regression) points of test accuracy against these.

    Args:
      images: (N, H, W) or (N, H, W, 1) single-channel images.
      cell_size: see ``gradient_orientation_histograms``.
      num_bins: see ``gradient_orientation_histograms``.

    Returns:
      (N, num_features) float64.
    """
    return np.concatenate([
        gradient_orientation_histograms(images, cell_size=cell_size, num_bins=num_bins),
        projection_profiles(images),
    ], axis=1)


class DigitsCNN(nn.Module):
    """A compact CNN for 8x8x1 digits (classifier contract: ``__call__ -> logits``).

    conv 3x3 (c0) -> ReLU -> conv 3x3 (c0) -> ReLU -> 2x2 max pool (4x4) -> conv 3x3 (c1) ->
    ReLU -> 2x2 max pool (2x2) -> flatten -> dense ``hidden`` -> ReLU -> dropout -> logits.
    All convolutions are 'SAME'. With the defaults (c0, c1) = (32, 64), hidden 128: 62,250
    parameters.

    Attributes:
      num_classes: number of logits.
      channels: channels of the first two and of the third convolution.
      hidden: width of the dense layer.
      dropout_rate: dropout before the logits (training only).
    """

    num_classes: int
    channels: Sequence[int] = (32, 64)
    hidden: int = 128
    dropout_rate: float = 0.0

    @nn.compact
    def __call__(self, x: Array, *, train: bool = False) -> Array:
        """Returns logits (N, num_classes) for images (N, H, W, 1) or (N, H, W)."""
        if x.ndim == 3:
            x = x[..., None]
        first, second = self.channels
        x = nn.relu(nn.Conv(first, (3, 3), padding="SAME")(x))
        x = nn.relu(nn.Conv(first, (3, 3), padding="SAME")(x))
        x = nn.max_pool(x, (2, 2), (2, 2))
        x = nn.relu(nn.Conv(second, (3, 3), padding="SAME")(x))
        x = nn.max_pool(x, (2, 2), (2, 2))
        x = x.reshape((x.shape[0], -1))
        x = nn.relu(nn.Dense(self.hidden)(x))
        x = nn.Dropout(self.dropout_rate, deterministic=not train)(x)
        return nn.Dense(self.num_classes)(x)


FEATURE_SETS = ("raw pixels", "HOG + projection profiles")


def classic_baselines(dataset: data_lib.Dataset, *, cv_folds: int = 5, seed: int = 0,
                      cell_size: int = 2, num_bins: int = 9) -> list[dict]:
    """Logistic regression and an RBF SVM on raw pixels and on hand-crafted features.

    Every model is ``StandardScaler -> classifier`` (scikit-learn). With ``cv_folds >= 2`` the
    regularisation (C; and gamma for the SVM) is chosen by stratified k-fold cross-validation
    on the training split only; otherwise scikit-learn's defaults are used (C=1,
    gamma='scale').

    Args:
      dataset: single-channel image dataset (digits).
      cv_folds: folds of the hyper-parameter search (< 2: no search).
      seed: shuffling seed of the folds.
      cell_size: cell side of the orientation histograms.
      num_bins: orientation bins.

    Returns:
      One dict per (method, features): ``method``, ``features``, ``num_features``,
      ``test_accuracy``, ``train_accuracy``, ``best_params``, ``fit_time_s``.
    """
    from sklearn.linear_model import LogisticRegression
    from sklearn.svm import SVC
    from threadpoolctl import threadpool_limits

    representations = {
        FEATURE_SETS[0]: (_flat(dataset.train.inputs), _flat(dataset.test.inputs)),
        FEATURE_SETS[1]: tuple(hand_crafted_features(s.inputs, cell_size=cell_size,
                                                     num_bins=num_bins)
                               for s in (dataset.train, dataset.test)),
    }
    methods = {
        "logistic regression": (LogisticRegression(max_iter=5000),
                                {"logisticregression__C": [0.01, 0.1, 1.0, 10.0, 100.0]}),
        "SVM (RBF)": (SVC(kernel="rbf"),
                      {"svc__C": [1.0, 10.0, 100.0],
                       "svc__gamma": ["scale", 0.003, 0.01, 0.03, 0.1]}),
    }
    train_y, test_y = np.asarray(dataset.train.labels), np.asarray(dataset.test.labels)
    results = []
    # One BLAS thread: these problems are tiny, and on a shared or loaded machine multi-threaded
    # BLAS made each logistic-regression fit ~100x slower (seconds instead of milliseconds).
    with threadpool_limits(1):
        for method, (estimator, grid) in methods.items():
            for features, (train_x, test_x) in representations.items():
                results.append(_fit_and_score(method, features, estimator, grid, train_x,
                                              train_y, test_x, test_y, cv_folds, seed))
    return results


def _fit_and_score(method, features, estimator, grid, train_x, train_y, test_x, test_y,
                   cv_folds, seed) -> dict:
    from sklearn.model_selection import GridSearchCV, StratifiedKFold
    from sklearn.pipeline import make_pipeline
    from sklearn.preprocessing import StandardScaler

    start = time.perf_counter()
    model = make_pipeline(StandardScaler(), estimator)
    best_params = {}
    if cv_folds >= 2:
        folds = StratifiedKFold(cv_folds, shuffle=True, random_state=seed)
        search = GridSearchCV(model, grid, cv=folds).fit(train_x, train_y)
        model = search.best_estimator_
        best_params = {k.split("__", 1)[1]: v for k, v in search.best_params_.items()}
    else:
        model.fit(train_x, train_y)
    return {
        "method": method,
        "features": features,
        "num_features": int(train_x.shape[1]),
        "test_accuracy": float(np.mean(model.predict(test_x) == test_y)),
        "train_accuracy": float(np.mean(model.predict(train_x) == train_y)),
        "best_params": best_params,
        "fit_time_s": time.perf_counter() - start,
    }


def markdown_table(results: Sequence[dict]) -> str:
    """The results as a markdown table (method, features, #features, test accuracy)."""
    lines = ["| method | features | # features | test accuracy |",
             "|---|---|---:|---:|"]
    for r in results:
        lines.append(f"| {r['method']} | {r['features']} | {r['num_features']} | "
                     f"{100 * r['test_accuracy']:.2f} % |")
    return "\n".join(lines) + "\n"


_SHORT_NAMES = {"logistic regression": "logreg", "SVM (RBF)": "svm",
                FEATURE_SETS[0]: "raw", FEATURE_SETS[1]: "handcrafted"}


def run_classic_vs_deep(config: ml_collections.ConfigDict, workdir: str, *,
                        dataset: data_lib.Dataset | None = None) -> dict:
    """Traditional pipelines vs a CNN on the same split; writes summary.json and table.md.

    The CNN (``DigitsCNN`` with ``config.model_kwargs``) is trained by the shared trainer in
    WORKDIR/cnn/ (resumable); the scikit-learn baselines are refitted on every invocation
    (seconds, deterministic).

    Args:
      config: the trainer's fields plus ``cv_folds``, ``hog_cell_size`` and ``hog_num_bins``;
        see experiments/configs/classic_vs_deep.py.
      workdir: run directory.
      dataset: use this dataset instead of ``config.dataset`` (tests pass a small subset).

    Returns:
      The summary: ``results`` (one row per method and representation, the CNN last), flat
      ``<method>_<features>_test_accuracy`` keys and ``cnn_test_accuracy``. Empty if the CNN
      stopped early (``stop_after_steps``); re-run to resume.

    Raises:
      UserError: invalid config, or a workdir holding another config.
    """
    from dl_jax.training.trainer import train_and_evaluate

    wall_start = time.perf_counter()
    writers.claim_workdir(workdir, config)
    dataset = _load(config, dataset)
    if len(dataset.input_shape) != 3 or dataset.input_shape[-1] != 1:
        raise UserError(f"classic_vs_deep needs single-channel images (H, W, 1), got "
                        f"{dataset.name} with shape {dataset.input_shape}")
    cell = int(config.hog_cell_size)
    if cell <= 0 or dataset.input_shape[0] % cell or dataset.input_shape[1] % cell:
        raise UserError(f"hog_cell_size {cell} must divide the image size "
                        f"{dataset.input_shape[:2]}")

    cnn = DigitsCNN(num_classes=dataset.num_classes, **config.model_kwargs.to_dict())
    cnn_run = train_and_evaluate(_subrun_config(config), os.path.join(workdir, "cnn"),
                                 dataset=dataset, model=cnn)
    if not cnn_run.finished:
        return {}
    results = classic_baselines(dataset, cv_folds=int(config.cv_folds), seed=int(config.seed),
                                cell_size=cell, num_bins=int(config.hog_num_bins))
    results.append({
        "method": "CNN",
        "features": "learned end to end",
        "num_features": int(np.prod(dataset.input_shape)),
        "test_accuracy": float(cnn_run.summary["test_accuracy"]),
        "train_accuracy": float(cnn_run.summary["train_accuracy"]),
        "best_params": {},
        "num_params": int(cnn_run.summary["num_params"]),
        "fit_time_s": float(cnn_run.summary["wall_time_s"]),
    })
    summary = {"results": results, "dataset": dataset.name, "seed": int(config.seed),
               "num_train": len(dataset.train), "num_test": len(dataset.test)}
    for r in results[:-1]:
        key = f"{_SHORT_NAMES[r['method']]}_{_SHORT_NAMES[r['features']]}_test_accuracy"
        summary[key] = r["test_accuracy"]
    summary["cnn_test_accuracy"] = results[-1]["test_accuracy"]
    summary["cnn_num_params"] = results[-1]["num_params"]

    if jax.process_index() == 0:
        with open(os.path.join(workdir, "table.md"), "w") as f:
            f.write(markdown_table(results))
    writers.write_jsonl(os.path.join(workdir, "metrics.jsonl"),
                 [{"step": i, **{k: v for k, v in r.items() if k != "best_params"}}
                  for i, r in enumerate(results)])
    summary["wall_time_s"] = time.perf_counter() - wall_start
    writers.write_json(os.path.join(workdir, "summary.json"), summary)
    return summary
