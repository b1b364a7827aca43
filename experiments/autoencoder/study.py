"""Deep dense autoencoder vs PCA at the same code size (Hinton & Salakhutdinov 2006, scaled down).

The registered ``config.model`` (``dense_autoencoder``) is trained by the shared trainer to
reconstruct its input (``steps.REGRESSION``) in WORKDIR/ae_code<k>/, against scikit-learn PCA
fitted on the same training inputs; both are judged by the per-pixel test reconstruction MSE on
[0, 1] pixels. A second autoencoder with a 2-D code (WORKDIR/ae_code2/) gives codes_2d.png (PCA's
first two components vs the 2-D code, as in the paper's Fig. 3); reconstructions.png shows test
digits with both reconstructions. Sub-runs resume like any ``train_and_evaluate`` run and the rest
is recomputed (cheap, deterministic), so re-running a command is idempotent.
"""

from __future__ import annotations

import os
import time

import jax
import jax.numpy as jnp
import ml_collections
import numpy as np

from dl_jax import data as data_lib
from dl_jax.errors import UserError
from dl_jax.models import canonical_name, get_model
from dl_jax.models.autoencoder import ACTIVATIONS
from dl_jax.training import steps as steps_lib
from dl_jax.training import writers
from experiments.common import baselines, plots

# Registered models with encode/decode methods and a code_size (the study's comparison).
MODELS = ("dense_autoencoder",)


def reconstruction_dataset(dataset: data_lib.Dataset) -> data_lib.Dataset:
    """The same splits with targets = inputs, for training with ``steps.REGRESSION``."""
    return data_lib.Dataset(
        name=dataset.name,
        train=data_lib.Split(dataset.train.inputs, dataset.train.inputs),
        test=data_lib.Split(dataset.test.inputs, dataset.test.inputs),
        num_classes=dataset.num_classes,
    )


def build_autoencoder(config, data_shape, code_size: int):
    """``get_model(config.model, ...)`` with ``model_kwargs``, ``code_size`` and ``data_shape``.

    Raises:
      UserError: a model that is not an autoencoder, an unknown activation or a non-positive
        size.
    """
    if canonical_name(config.model) not in MODELS:
        raise UserError(f"model {config.model!r} is not an autoencoder: choose one of "
                        f"{', '.join(MODELS)}")
    kwargs = config.model_kwargs.to_dict()
    activation = kwargs.get("activation", "relu")
    if isinstance(activation, str) and activation not in ACTIVATIONS:
        raise UserError(f"unknown activation {activation!r}: choose one of "
                        f"{', '.join(sorted(ACTIVATIONS))}")
    encoder_sizes = tuple(int(w) for w in kwargs.get("encoder_sizes", (256, 128)))
    if code_size <= 0 or any(w <= 0 for w in encoder_sizes):
        raise UserError(f"code_size ({code_size}) and encoder_sizes {encoder_sizes} must be "
                        f"positive")
    if {"code_size", "data_shape"} & set(kwargs):
        raise UserError("set the code size with config.code_size (data_shape is the dataset's), "
                        "not in model_kwargs")
    return get_model(config.model, None, **kwargs, code_size=int(code_size),
                     data_shape=tuple(data_shape))


def _subrun_config(config, code_size: int) -> ml_collections.ConfigDict:
    sub = ml_collections.ConfigDict(config.to_dict())
    sub.code_size = code_size
    return sub


def _encode_and_reconstruct(model, params, inputs: np.ndarray):
    # Parameters are an argument, not a closure, so they are not baked into the program.
    @jax.jit
    def apply(params, x):
        codes = model.apply({"params": params}, x, method=type(model).encode)
        return codes, model.apply({"params": params}, codes, method=type(model).decode)

    codes, reconstructions = apply(params, jnp.asarray(inputs))
    return np.asarray(codes), np.asarray(reconstructions).reshape(inputs.shape)


def _train_autoencoder(config, workdir: str, dataset: data_lib.Dataset,
                       code_size: int) -> dict | None:
    """Trains (or resumes) one sub-run; its summary, test codes and reconstructions, or None."""
    from dl_jax.training.trainer import train_and_evaluate

    model = build_autoencoder(config, dataset.input_shape, code_size)
    result = train_and_evaluate(_subrun_config(config, code_size),
                                os.path.join(workdir, f"ae_code{code_size}"),
                                dataset=reconstruction_dataset(dataset), model=model,
                                objective=steps_lib.REGRESSION,
                                extra_summary={"code_size": code_size})
    if not result.finished:
        return None
    # One compiled pass over train and test together gives every code and reconstruction.
    inputs = np.concatenate([dataset.train.inputs, dataset.test.inputs])
    codes, reconstructions = _encode_and_reconstruct(model, result.state.params, inputs)
    n_train = len(dataset.train)
    return {"summary": result.summary, "codes": codes[n_train:],
            "reconstructions": reconstructions[n_train:],
            "train_reconstructions": reconstructions[:n_train]}


def _compare(dataset: data_lib.Dataset, k: int, run: dict, pca_test: np.ndarray) -> dict:
    """One metrics record: autoencoder vs PCA (per-pixel MSE) at code size ``k``."""
    test_x = np.asarray(dataset.test.inputs, np.float64)
    train_x = np.asarray(dataset.train.inputs, np.float64)
    return {
        "step": int(run["summary"]["step"]),
        "code_size": k,
        "autoencoder_test_mse": float(np.mean(np.square(run["reconstructions"] - test_x))),
        "autoencoder_train_mse": float(np.mean(np.square(run["train_reconstructions"]
                                                         - train_x))),
        "pca_test_mse": float(np.mean(np.square(pca_test - test_x))),
        "pca_train_mse": baselines.pca_reconstruction_mse(train_x, train_x, k),
        "autoencoder_num_params": int(run["summary"]["num_params"]),
    }


def _summarise(config, dataset: data_lib.Dataset, records: list[dict]) -> dict:
    code_size = int(config.code_size)
    num_pixels = int(np.prod(dataset.input_shape))
    summary = {"code_size": code_size, "dataset": dataset.name, "num_pixels": num_pixels}
    for record in records:
        suffix = "" if record["code_size"] == code_size else f"_code{record['code_size']}"
        for name in ("autoencoder_test_mse", "pca_test_mse", "autoencoder_train_mse",
                     "pca_train_mse", "autoencoder_num_params"):
            summary[name + suffix] = record[name]
        summary["autoencoder_test_sse_per_image" + suffix] = (
            record["autoencoder_test_mse"] * num_pixels)
        summary["pca_test_sse_per_image" + suffix] = record["pca_test_mse"] * num_pixels
    summary["autoencoder_beats_pca"] = summary["autoencoder_test_mse"] < summary["pca_test_mse"]
    summary["seed"] = int(config.seed)
    summary["num_steps"] = int(config.num_steps)
    return summary


def run(config, workdir: str, *, dataset: data_lib.Dataset | None = None) -> dict:
    """Deep autoencoder vs PCA at the same code size; writes summary, metrics and two PNGs.

    Args:
      config: the trainer's fields plus ``code_size``; see experiments/autoencoder/config.py.
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
    if dataset is None:
        dataset = data_lib.load_dataset(config.dataset, data_dir=config.data_dir or None)
    code_size = int(config.code_size)
    code_sizes = [code_size] + ([2] if code_size != 2 else [])
    for k in code_sizes:
        build_autoencoder(config, dataset.input_shape, k)  # validate before any training
    writers.claim_workdir(workdir, config)
    runs, pca, records = {}, {}, []
    for k in code_sizes:
        runs[k] = _train_autoencoder(config, workdir, dataset, k)
        if runs[k] is None:
            return {}
    for k in code_sizes:
        pca[k] = baselines.pca_codes_and_reconstructions(dataset.train.inputs,
                                                         dataset.test.inputs, k)
        records.append(_compare(dataset, k, runs[k], pca[k][1]))
    summary = _summarise(config, dataset, records)
    if jax.process_index() == 0:
        _draw_figures(workdir, dataset, code_size, runs, pca)
    writers.write_jsonl(os.path.join(workdir, "metrics.jsonl"), records)
    summary["wall_time_s"] = time.perf_counter() - wall_start
    writers.write_json(os.path.join(workdir, "summary.json"), summary)
    return summary


def _draw_figures(workdir: str, dataset: data_lib.Dataset, code_size: int, runs: dict,
                  pca: dict) -> None:
    test_y = np.asarray(dataset.test.labels)
    plot_reconstructions(os.path.join(workdir, "reconstructions.png"), dataset.test.inputs,
                         test_y, runs[code_size]["reconstructions"], pca[code_size][1], code_size)
    plot_codes_2d(os.path.join(workdir, "codes_2d.png"), pca[2][0], runs[2]["codes"], test_y)


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
    plots.save_figure(figure, path)


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
    plots.save_figure(figure, path)
