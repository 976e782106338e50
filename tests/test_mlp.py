"""What the MLP classifier promises beyond the shared contract."""

from __future__ import annotations

import numpy as np
import pytest
from numpy.typing import NDArray

from bayesfold.classifiers import mlp
from bayesfold.classifiers.mlp import MLPClassifier
from bayesfold.exceptions import ConfigurationError, ConvergenceWarning, WeightError


@pytest.fixture(scope="module")
def problem() -> tuple[NDArray[np.float64], NDArray[np.float64]]:
    rng = np.random.default_rng(0)
    x = np.concatenate([rng.normal(0.0, 1.0, 500), rng.normal(0.5, 1.2, 500)])
    return x[:, np.newaxis], np.repeat([0.0, 1.0], 500)


@pytest.fixture(scope="module")
def fitted(problem) -> MLPClassifier:
    return MLPClassifier(random_state=0).fit(*problem)


def test_refits_reuse_the_compiled_network(problem, monkeypatch) -> None:
    X, y = problem
    classifier = MLPClassifier(random_state=0).fit(X, y)

    def fail(layout: object) -> None:
        raise AssertionError(f"recompiled {layout}")

    monkeypatch.setattr(mlp, "_compile_step", fail)
    monkeypatch.setattr(mlp, "_compile_forward", fail)
    classifier.set_params(random_state=1).fit(X, y, sample_weight=np.ones((3, y.size)))
    MLPClassifier(random_state=2).fit(X, y).predict_logit(X)


def test_best_epoch_has_the_lowest_validation_loss(fitted: MLPClassifier) -> None:
    val_loss = fitted.history_["val_loss"]
    assert fitted.converged_
    assert fitted.best_epoch_ == np.nanargmin(val_loss) + 1
    assert fitted.n_epochs_ == val_loss.size == fitted.best_epoch_ + fitted.patience


def test_replicas_stop_on_their_own(problem) -> None:
    X, y = problem
    weights = np.random.default_rng(1).poisson(1.0, (4, y.size)).astype(float)
    classifier = MLPClassifier(random_state=0).fit(X, y, sample_weight=weights)
    stopped_at = np.sum(np.isfinite(classifier.history_["val_loss"]), axis=0)
    np.testing.assert_array_equal(stopped_at, classifier.best_epoch_ + 10)
    assert stopped_at.max() == classifier.n_epochs_
    assert np.all(classifier.converged_)


def test_budget_exhausted_warns_and_is_recorded(problem) -> None:
    with pytest.warns(ConvergenceWarning, match="max_epochs=2"):
        classifier = MLPClassifier(max_epochs=2, random_state=0).fit(*problem)
    assert classifier.converged_ is False
    assert classifier.n_epochs_ == 2


def test_warm_start_starts_from_the_previous_fit(problem, fitted) -> None:
    # With steps too small to beat the starting point by tol, early stopping
    # hands back the starting parameters: those of the previous fit.
    X, y = problem
    classifier = MLPClassifier(random_state=0).fit(X, y)
    classifier.set_params(warm_start=True, learning_rate=1e-9, tol=1e-3)
    classifier.set_params(random_state=5).fit(X, y, sample_weight=np.ones((3, y.size)))
    assert np.all(classifier.best_epoch_ == 0)
    np.testing.assert_array_equal(
        classifier.predict_logit(X), np.tile(fitted.predict_logit(X), (3, 1))
    )


def test_float32_learns_what_float64_learns(problem, fitted) -> None:
    X, y = problem
    single = MLPClassifier(dtype="float32", random_state=0).fit(X, y)
    grid = np.linspace(-1.5, 1.5, 31)[:, np.newaxis]
    difference = single.predict_logit(grid) - fitted.predict_logit(grid)
    assert single.predict_logit(grid).dtype == np.float64
    assert np.sqrt(np.mean(difference**2)) < 0.2


@pytest.mark.parametrize(
    "setting",
    [
        {"activation": "sigmoid"},
        {"hidden_layers": (10, 0)},
        {"learning_rate": 0.0},
        {"batch_size": 0},
        {"batch_size": "large"},
        {"max_epochs": 1.5},
        {"patience": 0},
        {"validation_fraction": 0.0},
        {"tol": -1.0},
        {"dtype": "float16"},
        {"backend": "gpu"},
        {"blas_threads": 0},
    ],
    ids=str,
)
def test_bad_settings_raise(problem, setting: dict) -> None:
    with pytest.raises(ConfigurationError):
        MLPClassifier(**setting).fit(*problem)


@pytest.mark.parametrize(("n_train", "expected"), [(100, 32), (1600, 50), (10**6, 512)])
def test_auto_batch_size(n_train: int, expected: int) -> None:
    assert mlp._batch_size("auto", n_train) == expected


def test_a_split_without_weight_raises() -> None:
    with pytest.raises(WeightError, match=r"replica\(s\) \[1\].*validation"):
        mlp._check_split_weight("validation", np.array([2.0, 0.0]))
