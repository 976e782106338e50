"""The contract that every classifier of bayesfold meets.

Each test runs once per entry of ``CLASSIFIER_FACTORIES``; a new backend joins
the suite by appending a small, fast configuration of itself there.

The statistical tests compare learned logits with analytic log-likelihood
ratios of Gaussian samples. Their tolerance is the resolution that the events
allow: the standard deviation of a logit estimated from the counts of the two
classes in one bin of width ``RESOLUTION_BIN_WIDTH`` at the origin,
``sqrt(1/k_0 + 1/k_1)``, times ``TOLERANCE_IN_SIGMA``. A smooth classifier
should do at least as well as such a histogram; a classifier that ignores the
features, or the weights, misses by several times more.
"""

from __future__ import annotations

import pickle
from collections.abc import Callable
from dataclasses import dataclass

import numpy as np
import pytest
from numpy.typing import NDArray
from scipy.special import expit
from scipy.stats import norm
from sklearn.base import clone

from bayesfold.classifiers import (
    BayesianMLPClassifier,
    Classifier,
    GBDTClassifier,
    MLPClassifier,
)
from bayesfold.exceptions import (
    InputValueError,
    NonFiniteError,
    NotFittedError,
    ShapeMismatchError,
    WeightError,
)


@dataclass(frozen=True)
class ClassifierFactory:
    """A named, fast configuration of one classifier for the contract suite.

    ``build(random_state)`` returns an unfitted classifier. ``stochastic`` is
    False for a classifier whose fit does not depend on ``random_state``.
    ``history_keys`` are the training curves its ``history_`` must hold.
    ``tempered`` marks a Bayesian classifier, whose weights are likelihood
    weights: scaling them all tempers the posterior by design (tested in
    test_bayesian_classifier.py), so it is exempt from the scale invariance.
    """

    name: str
    build: Callable[[int | np.random.Generator | None], Classifier]
    stochastic: bool = True
    history_keys: tuple[str, ...] = ("loss", "val_loss")
    tempered: bool = False


CLASSIFIER_FACTORIES = [
    ClassifierFactory("mlp", lambda seed: MLPClassifier(random_state=seed)),
    ClassifierFactory("gbdt", lambda seed: GBDTClassifier(random_state=seed)),
    # One hidden layer of 8, small enough for these tests' sample sizes. The
    # logits compared are those at the posterior mean: the tolerances are an
    # estimator's statistical error, and one posterior draw scatters about the
    # estimate by as much again (its squared error is about twice as large).
    ClassifierFactory(
        "bayesian",
        lambda seed: BayesianMLPClassifier(
            hidden_layers=(8,), prediction="mean", random_state=seed
        ),
        history_keys=("elbo",),
        tempered=True,
    ),
]

# Reference and target samples of the density-ratio tests: N(0, 1) and N(0.5, 1.2).
TARGET_MEAN = 0.5
TARGET_SCALE = 1.2
# The logits are compared where both samples are dense.
BULK = 1.5
RESOLUTION_BIN_WIDTH = 0.5
TOLERANCE_IN_SIGMA = 2.5
# Tilt of the weight-function test: class 1 weighted by 2 exp(TILT x).
TILT = 0.5


@pytest.fixture(params=CLASSIFIER_FACTORIES, ids=lambda factory: factory.name)
def factory(request: pytest.FixtureRequest) -> ClassifierFactory:
    return request.param


def gaussian_problem(
    n_per_class: int, seed: int
) -> tuple[NDArray[np.float64], NDArray[np.float64]]:
    """Class 0 from N(0, 1), class 1 from N(0.5, 1.2); X of shape (2n, 1)."""
    rng = np.random.default_rng(seed)
    x = np.concatenate(
        [
            rng.normal(0.0, 1.0, n_per_class),
            rng.normal(TARGET_MEAN, TARGET_SCALE, n_per_class),
        ]
    )
    y = np.repeat([0.0, 1.0], n_per_class)
    return x[:, np.newaxis], y


def true_log_ratio(x: NDArray[np.float64]) -> NDArray[np.float64]:
    return norm.logpdf(x, TARGET_MEAN, TARGET_SCALE) - norm.logpdf(x, 0.0, 1.0)


def bulk_grid() -> tuple[NDArray[np.float64], NDArray[np.float64]]:
    """Points on |x| < BULK and weights proportional to the standard normal."""
    x = np.linspace(-BULK, BULK, 61)
    density = norm.pdf(x)
    return x, density / density.sum()


def bulk_rms(error: NDArray[np.float64]) -> float:
    """Root mean square of an error on the bulk grid, weighted by density."""
    _, weights = bulk_grid()
    return float(np.sqrt(np.sum(weights * error**2)))


def bin_probability(mean: float, scale: float) -> float:
    """Probability that N(mean, scale) falls in the resolution bin at 0."""
    half = RESOLUTION_BIN_WIDTH / 2
    return float(norm.cdf(half, mean, scale) - norm.cdf(-half, mean, scale))


def logit_tolerance(k_0: float, k_1: float) -> float:
    """TOLERANCE_IN_SIGMA standard deviations of a logit from k_0, k_1 counts."""
    return TOLERANCE_IN_SIGMA * float(np.sqrt(1 / k_0 + 1 / k_1))


def kish(weights: NDArray[np.float64]) -> float:
    return float(weights.sum() ** 2 / np.sum(weights**2))


@pytest.fixture(scope="module")
def problem() -> tuple[NDArray[np.float64], NDArray[np.float64]]:
    return gaussian_problem(500, seed=1)


# Protocol and estimator manners -------------------------------------------


def test_is_a_classifier(factory: ClassifierFactory) -> None:
    assert isinstance(factory.build(0), Classifier)


def test_fit_returns_self(factory: ClassifierFactory, problem) -> None:
    classifier = factory.build(0)
    assert classifier.fit(*problem) is classifier


def test_predict_before_fit_raises(factory: ClassifierFactory, problem) -> None:
    with pytest.raises(NotFittedError, match="not fitted"):
        factory.build(0).predict_logit(problem[0])


def test_clone_copies_settings_not_state(factory: ClassifierFactory, problem) -> None:
    fitted = factory.build(3).fit(*problem)
    copy = clone(fitted)
    assert copy.get_params() == fitted.get_params()
    with pytest.raises(NotFittedError):
        copy.predict_logit(problem[0])


def test_set_params_returns_self_and_sets(factory: ClassifierFactory) -> None:
    classifier = factory.build(0)
    assert classifier.set_params(random_state=7) is classifier
    assert classifier.get_params()["random_state"] == 7


def test_pickled_classifier_predicts_the_same(
    factory: ClassifierFactory, problem
) -> None:
    fitted = factory.build(0).fit(*problem)
    restored = pickle.loads(pickle.dumps(fitted))
    np.testing.assert_array_equal(
        restored.predict_logit(problem[0]), fitted.predict_logit(problem[0])
    )


# Shapes and values ----------------------------------------------------------


@pytest.mark.parametrize("weights", ["none", "ones"])
def test_1d_weights_give_one_logit_per_event(
    factory: ClassifierFactory, problem, weights: str
) -> None:
    X, y = problem
    sample_weight = None if weights == "none" else np.ones(y.size)
    logits = factory.build(0).fit(X, y, sample_weight=sample_weight).predict_logit(X)
    assert logits.shape == (y.size,)
    assert logits.dtype == np.float64
    assert np.all(np.isfinite(logits))


def test_2d_weights_give_one_row_per_replica(
    factory: ClassifierFactory, problem
) -> None:
    X, y = problem
    weights = np.random.default_rng(0).poisson(1.0, (3, y.size)).astype(float)
    classifier = factory.build(0).fit(X, y, sample_weight=weights)
    logits = classifier.predict_logit(X[:10])
    assert logits.shape == (3, 10)
    assert np.all(np.isfinite(logits))


def test_history_has_a_column_per_replica(factory: ClassifierFactory, problem) -> None:
    X, y = problem
    one = factory.build(0).fit(X, y).history_
    two = factory.build(0).fit(X, y, sample_weight=np.ones((2, y.size))).history_
    keys = factory.history_keys
    assert not set(keys) - set(one)
    assert not set(keys) - set(two)
    assert all(one[key].ndim == 1 for key in keys)
    assert all(two[key].shape[1:] == (2,) for key in keys)


def test_probabilities_are_the_sigmoid_of_the_logits(
    factory: ClassifierFactory, problem
) -> None:
    X, y = problem
    classifier = factory.build(0).fit(X, y)
    probabilities = classifier.predict_proba(X)
    np.testing.assert_allclose(probabilities, expit(classifier.predict_logit(X)))
    assert np.all((probabilities > 0) & (probabilities < 1))


# Randomness -----------------------------------------------------------------


def test_same_random_state_gives_the_same_fit(
    factory: ClassifierFactory, problem
) -> None:
    first = factory.build(11).fit(*problem).predict_logit(problem[0])
    second = factory.build(11).fit(*problem).predict_logit(problem[0])
    np.testing.assert_array_equal(first, second)


def test_same_generator_seed_gives_the_same_fit(
    factory: ClassifierFactory, problem
) -> None:
    fits = [
        factory.build(np.random.default_rng(5)).fit(*problem).predict_logit(problem[0])
        for _ in range(2)
    ]
    np.testing.assert_array_equal(fits[0], fits[1])


def test_different_random_state_gives_a_different_fit(
    factory: ClassifierFactory, problem
) -> None:
    if not factory.stochastic:
        pytest.skip(f"{factory.name} does not depend on random_state")
    first = factory.build(1).fit(*problem).predict_logit(problem[0])
    second = factory.build(2).fit(*problem).predict_logit(problem[0])
    assert not np.allclose(first, second)


# Weights and replicas -------------------------------------------------------


def test_scaling_all_weights_changes_nothing(
    factory: ClassifierFactory, problem
) -> None:
    # A power of two scales every sum exactly, so the fit is the same to the bit
    # where the classifier normalises the weights.
    if factory.tempered:
        pytest.skip("likelihood weights: their scale tempers the posterior")
    X, y = problem
    weights = np.random.default_rng(2).uniform(0.5, 1.5, y.size)
    plain = factory.build(0).fit(X, y, sample_weight=weights).predict_logit(X)
    scaled = factory.build(0).fit(X, y, sample_weight=4 * weights).predict_logit(X)
    np.testing.assert_allclose(scaled, plain, rtol=1e-6, atol=1e-6)


def test_replicas_do_not_see_each_others_weights(
    factory: ClassifierFactory, problem
) -> None:
    X, y = problem
    rng = np.random.default_rng(4)
    shared = rng.poisson(1.0, y.size).astype(float)
    weights_a = np.stack([shared, rng.poisson(1.0, y.size)])
    weights_b = np.stack([shared, rng.uniform(0.0, 3.0, y.size)])
    logits_a = factory.build(0).fit(X, y, sample_weight=weights_a).predict_logit(X)
    logits_b = factory.build(0).fit(X, y, sample_weight=weights_b).predict_logit(X)
    np.testing.assert_allclose(logits_a[0], logits_b[0], rtol=1e-6, atol=1e-6)
    assert not np.allclose(logits_a[1], logits_b[1])


@pytest.mark.parametrize("replicas", [None, 2], ids=["1-D weights", "2-D weights"])
def test_learns_the_gaussian_density_ratio(
    factory: ClassifierFactory, replicas: int | None
) -> None:
    n = 2000
    X, y = gaussian_problem(n, seed=12)
    weights = None if replicas is None else np.ones((replicas, y.size))
    classifier = factory.build(0).fit(X, y, sample_weight=weights)

    x, _ = bulk_grid()
    logits = np.atleast_2d(classifier.predict_logit(x[:, np.newaxis]))
    tolerance = logit_tolerance(
        n * bin_probability(0.0, 1.0), n * bin_probability(TARGET_MEAN, TARGET_SCALE)
    )
    for row in logits:
        assert bulk_rms(row - true_log_ratio(x)) < tolerance


def test_weight_function_tilts_the_logit(factory: ClassifierFactory) -> None:
    # Both classes from N(0, 1); class 1 weighted by w(x) = 2 exp(TILT x). The
    # weighted class-1 density over the class-0 density is then w(x) itself.
    n = 2000
    rng = np.random.default_rng(21)
    X = rng.normal(0.0, 1.0, (2 * n, 1))
    y = np.repeat([0.0, 1.0], n)
    weights = np.where(y == 1, 2 * np.exp(TILT * X[:, 0]), 1.0)
    classifier = factory.build(0).fit(X, y, sample_weight=weights)

    x, _ = bulk_grid()
    expected = np.log(2.0) + TILT * x
    error = classifier.predict_logit(x[:, np.newaxis]) - expected
    n_1 = kish(weights[y == 1])
    tolerance = logit_tolerance(
        n * bin_probability(0.0, 1.0), n_1 * bin_probability(TILT, 1.0)
    )
    assert bulk_rms(error) < tolerance


def test_zero_weight_events_are_ignored(factory: ClassifierFactory) -> None:
    # A narrow pile of class-1 events at x = -1 would raise the logit there by
    # about 2 if it counted.
    n, n_ignored = 1000, 500
    X, y = gaussian_problem(n, seed=31)
    pile = np.random.default_rng(32).normal(-1.0, 0.3, (n_ignored, 1))
    X = np.concatenate([X, pile])
    y = np.concatenate([y, np.ones(n_ignored)])
    weights = np.concatenate([np.ones(2 * n), np.zeros(n_ignored)])
    classifier = factory.build(0).fit(X, y, sample_weight=weights)

    x, _ = bulk_grid()
    error = classifier.predict_logit(x[:, np.newaxis]) - true_log_ratio(x)
    tolerance = logit_tolerance(
        n * bin_probability(0.0, 1.0), n * bin_probability(TARGET_MEAN, TARGET_SCALE)
    )
    assert bulk_rms(error) < tolerance


# Bad inputs -----------------------------------------------------------------


def _bad_inputs() -> list:
    X, y = gaussian_problem(20, seed=0)
    ones = np.ones(y.size)
    negative = ones.copy()
    negative[3] = -1.0
    with_nan = X.copy()
    with_nan[5, 0] = np.nan
    no_class_one_weight = np.where(y == 1, 0.0, 1.0)
    cases = {
        "label 2": (X, np.where(y == 1, 2.0, 0.0), None, InputValueError),
        "one class": (X, np.zeros(y.size), None, InputValueError),
        "short y": (X, y[:-1], None, ShapeMismatchError),
        "short weights": (X, y, ones[:-1], ShapeMismatchError),
        "3-D weights": (X, y, ones[None, None, :], ShapeMismatchError),
        "1-D X": (X[:, 0], y, None, ShapeMismatchError),
        "negative weight": (X, y, negative, WeightError),
        "class without weight": (X, y, no_class_one_weight, WeightError),
        "NaN feature": (with_nan, y, None, NonFiniteError),
        "NaN weight": (X, y, np.where(y == 1, np.nan, 1.0), NonFiniteError),
    }
    return [pytest.param(*case, id=name) for name, case in cases.items()]


@pytest.mark.parametrize(("X", "y", "sample_weight", "error"), _bad_inputs())
def test_bad_inputs_raise(
    factory: ClassifierFactory, X, y, sample_weight, error: type[Exception]
) -> None:
    with pytest.raises(error):
        factory.build(0).fit(X, y, sample_weight=sample_weight)


def test_predict_with_other_feature_count_raises(
    factory: ClassifierFactory, problem
) -> None:
    X, y = problem
    classifier = factory.build(0).fit(X, y)
    with pytest.raises(ShapeMismatchError, match="features"):
        classifier.predict_logit(np.hstack([X, X]))
