"""Classical baselines (scikit-learn): logistic regression, C by cross-validation, PCA, SVMs.

Every fit runs with one BLAS thread: the problems are tiny, and on a shared or loaded machine
multi-threaded BLAS made each logistic-regression fit tens to ~100 times slower.
"""

from __future__ import annotations

import time

import numpy as np


def _flat(x) -> np.ndarray:
    x = np.asarray(x, np.float64)
    return x.reshape(len(x), -1)


def logistic_regression_accuracy(train_x: np.ndarray, train_y: np.ndarray, test_x: np.ndarray,
                                 test_y: np.ndarray, c: float) -> float:
    """Test accuracy of scikit-learn's multinomial ``LogisticRegression(C=c)`` (lbfgs).

    Args:
      train_x: (N, d) training features.
      train_y: (N,) labels.
      test_x: (M, d) test features.
      test_y: (M,) labels.
      c: inverse L2 strength.

    Returns:
      Accuracy on the test features.
    """
    from sklearn.linear_model import LogisticRegression
    from threadpoolctl import threadpool_limits

    with threadpool_limits(1):
        model = LogisticRegression(C=float(c), max_iter=5000)
        model.fit(np.asarray(train_x, np.float64), train_y)
        return float(model.score(np.asarray(test_x, np.float64), test_y))


def select_c_by_cv(copies: np.ndarray, labels: np.ndarray, grid, folds: int,
                   seed: int) -> tuple[float, dict]:
    """Chooses C by K-fold cross-validation over the training images (not their nudged copies).

    Folds split the original training images (a permutation drawn from ``seed``); a fold's
    classifier is fitted on all copies (original + nudges) of the other folds' images and scored
    on the held-out originals, so no shifted copy of a validation image is in its training set
    and validation looks like test.

    Args:
      copies: (num_copies, N, d) features of each nudged copy of the N training images, the
        originals first.
      labels: (N,) labels.
      grid: candidate C values.
      folds: number of folds.
      seed: seed of the fold assignment (the study's config seed).

    Returns:
      ``(best C, {C: mean validation accuracy})``; ties go to the smallest C.
    """
    num_images = copies.shape[1]
    fold_of = np.random.default_rng(seed).permutation(num_images) % folds
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


def pca_codes_and_reconstructions(train_inputs: np.ndarray, inputs: np.ndarray,
                                  code_size: int) -> tuple[np.ndarray, np.ndarray]:
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

    with threadpool_limits(1):
        pca = PCA(n_components=code_size, svd_solver="full").fit(_flat(train_inputs))
        codes = pca.transform(_flat(inputs))
        reconstructions = pca.inverse_transform(codes)
    return codes, reconstructions.reshape(np.shape(inputs))


def pca_reconstruction_mse(train_inputs: np.ndarray, inputs: np.ndarray, code_size: int) -> float:
    """Per-pixel mean squared error of the ``code_size``-component PCA reconstruction."""
    _, reconstructions = pca_codes_and_reconstructions(train_inputs, inputs, code_size)
    return float(np.mean(np.square(reconstructions - np.asarray(inputs, np.float64))))


def classic_classifiers() -> dict:
    """``{method: (estimator, hyper-parameter grid)}``: logistic regression and an RBF SVM.

    Grid keys are named for a ``make_pipeline(StandardScaler(), estimator)`` pipeline.
    """
    from sklearn.linear_model import LogisticRegression
    from sklearn.svm import SVC

    return {
        "logistic regression": (LogisticRegression(max_iter=5000),
                                {"logisticregression__C": [0.01, 0.1, 1.0, 10.0, 100.0]}),
        "SVM (RBF)": (SVC(kernel="rbf"),
                      {"svc__C": [1.0, 10.0, 100.0],
                       "svc__gamma": ["scale", 0.003, 0.01, 0.03, 0.1]}),
    }


def fit_and_score(estimator, grid: dict, train: tuple[np.ndarray, np.ndarray],
                  test: tuple[np.ndarray, np.ndarray], *, cv_folds: int, seed: int) -> dict:
    """``StandardScaler -> estimator``, hyper-parameters by stratified k-fold CV on ``train``.

    Args:
      estimator: an unfitted scikit-learn classifier.
      grid: its ``GridSearchCV`` grid (pipeline-prefixed keys).
      train: (features (N, d), labels).
      test: (features (M, d), labels).
      cv_folds: folds of the search; below 2 the estimator's defaults are used, no search.
      seed: shuffling seed of the folds.

    Returns:
      ``num_features``, ``test_accuracy``, ``train_accuracy``, ``best_params`` (unprefixed)
      and ``fit_time_s``.
    """
    from sklearn.model_selection import GridSearchCV, StratifiedKFold
    from sklearn.pipeline import make_pipeline
    from sklearn.preprocessing import StandardScaler
    from threadpoolctl import threadpool_limits

    (train_x, train_y), (test_x, test_y) = train, test
    start = time.perf_counter()
    model = make_pipeline(StandardScaler(), estimator)
    best_params = {}
    with threadpool_limits(1):
        if cv_folds >= 2:
            folds = StratifiedKFold(cv_folds, shuffle=True, random_state=seed)
            search = GridSearchCV(model, grid, cv=folds).fit(train_x, train_y)
            model = search.best_estimator_
            best_params = {k.split("__", 1)[1]: v for k, v in search.best_params_.items()}
        else:
            model.fit(train_x, train_y)
        test_accuracy = float(np.mean(model.predict(test_x) == test_y))
        train_accuracy = float(np.mean(model.predict(train_x) == train_y))
    return {"num_features": int(train_x.shape[1]), "test_accuracy": test_accuracy,
            "train_accuracy": train_accuracy, "best_params": best_params,
            "fit_time_s": time.perf_counter() - start}
