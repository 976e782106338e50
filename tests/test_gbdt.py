"""What the gradient-boosted-tree classifier promises beyond the shared contract."""

from __future__ import annotations

import numpy as np
import pytest
from numpy.typing import NDArray

from bayesfold.classifiers.gbdt import GBDTClassifier
from bayesfold.exceptions import ConfigurationError, ConvergenceWarning


@pytest.fixture(scope="module")
def problem() -> tuple[NDArray[np.float64], NDArray[np.float64]]:
    rng = np.random.default_rng(0)
    x = np.concatenate([rng.normal(0.0, 1.0, 500), rng.normal(0.5, 1.2, 500)])
    return x[:, np.newaxis], np.repeat([0.0, 1.0], 500)


def test_budget_exhausted_warns_and_is_recorded(problem) -> None:
    with pytest.warns(ConvergenceWarning, match="max_iter=3"):
        classifier = GBDTClassifier(max_iter=3, random_state=0).fit(*problem)
    assert classifier.converged_ is False
    assert classifier.n_iter_ == 3


def test_without_early_stopping_nothing_is_claimed(problem) -> None:
    classifier = GBDTClassifier(early_stopping=False, max_iter=5).fit(*problem)
    assert classifier.converged_ is False
    assert classifier.history_["val_loss"].size == 0


def test_history_pads_replicas_that_stopped_early(problem) -> None:
    X, y = problem
    weights = np.random.default_rng(1).poisson(1.0, (3, y.size)).astype(float)
    classifier = GBDTClassifier(random_state=0).fit(X, y, sample_weight=weights)
    lengths = np.sum(np.isfinite(classifier.history_["val_loss"]), axis=0)
    np.testing.assert_array_equal(lengths, classifier.n_iter_ + 1)
    assert classifier.history_["val_loss"].shape == (lengths.max(), 3)


def test_bad_setting_raises_configuration_error(problem) -> None:
    with pytest.raises(ConfigurationError, match="learning_rate"):
        GBDTClassifier(learning_rate=-1.0).fit(*problem)
