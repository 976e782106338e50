"""Metrics: values worked out by hand, agreement with scipy, invariances."""

from __future__ import annotations

from typing import Any

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from hypothesis.extra import numpy as hnp
from numpy.typing import NDArray
from scipy import stats

from bayesfold.exceptions import (
    BayesfoldWarning,
    EmptySampleError,
    InputValueError,
    NonFiniteError,
    ShapeMismatchError,
    WeightError,
)
from bayesfold.metrics import (
    chi2,
    ks_distance,
    triangular_discriminator,
    wasserstein1,
)

# A correct chi2 fails a uniformity test at this rate.
P_MIN = 1e-3
# No example database on disk: the tests leave the working tree as they found it.
PROPERTIES = settings(max_examples=60, deadline=None, database=None)

samples = hnp.arrays(
    np.float64,
    st.integers(1, 40),
    elements=st.floats(-1e3, 1e3, allow_subnormal=False),
)


@st.composite
def histogram_pairs(
    draw: st.DrawFn,
) -> tuple[NDArray[np.float64], NDArray[np.float64]]:
    n = draw(st.integers(1, 12))
    contents = hnp.arrays(
        np.float64, n, elements=st.floats(0.0, 1e3, allow_subnormal=False)
    ).filter(lambda a: a.sum() > 0)
    return draw(contents), draw(contents)


# --- triangular discriminator -------------------------------------------------


@pytest.mark.parametrize(
    ("p", "q", "value"),
    [
        ([1.0, 2.0, 3.0], [1.0, 2.0, 3.0], 0.0),
        ([1.0, 1.0], [2.0, 2.0], 0.0),
        # no bin in common: (1^2/1 + 1^2/1) / 2
        ([1.0, 0.0], [0.0, 3.0], 1.0),
        # (0.25, 0.75) against (0.75, 0.25): (0.25/1 + 0.25/1) / 2
        ([1.0, 3.0], [3.0, 1.0], 0.25),
        # (0.5, 0.5) against (1, 0): (0.25/1.5 + 0.25/0.5) / 2 = 1/3
        ([1.0, 1.0], [5.0, 0.0], 1.0 / 3.0),
        # an empty bin in both is skipped
        ([1.0, 0.0, 3.0], [3.0, 0.0, 1.0], 0.25),
    ],
)
def test_triangular_discriminator_by_hand(
    p: list[float], q: list[float], value: float
) -> None:
    assert triangular_discriminator(p, q) == pytest.approx(value, abs=1e-15)


@PROPERTIES
@given(histogram_pairs(), st.floats(1e-3, 1e3))
def test_triangular_discriminator_properties(
    pair: tuple[NDArray[np.float64], NDArray[np.float64]], scale: float
) -> None:
    p, q = pair
    value = triangular_discriminator(p, q)

    assert 0.0 <= value <= 1.0 + 1e-12
    assert triangular_discriminator(q, p) == pytest.approx(value, abs=1e-12)
    assert triangular_discriminator(scale * p, q) == pytest.approx(value, abs=1e-12)
    assert triangular_discriminator(p, scale * p) == pytest.approx(0.0, abs=1e-12)
    order = np.argsort(-p, kind="stable")
    permuted = triangular_discriminator(p[order], q[order])
    assert permuted == pytest.approx(value, abs=1e-12)


@pytest.mark.parametrize(
    ("p", "q", "error"),
    [
        ([1.0, 2.0], [1.0, 2.0, 3.0], ShapeMismatchError),
        ([1.0, -2.0], [1.0, 2.0], InputValueError),
        ([1.0, np.nan], [1.0, 2.0], NonFiniteError),
        ([0.0, 0.0], [1.0, 2.0], EmptySampleError),
        ([[1.0, 2.0]], [[1.0, 2.0]], ShapeMismatchError),
        ([], [], EmptySampleError),
        (["a", "b"], [1.0, 2.0], NonFiniteError),
    ],
)
def test_triangular_discriminator_rejects_bad_histograms(
    p: list[Any], q: list[Any], error: type[Exception]
) -> None:
    with pytest.raises(error):
        triangular_discriminator(p, q)


# --- chi2 ------------------------------------------------------------------------


def test_chi2_by_hand() -> None:
    # (12 - 10)^2 / 10 + (8 - 10)^2 / 10 = 0.8; for 2 ndf, P(chi2 > x) = exp(-x/2).
    result = chi2([12.0, 8.0], [10.0, 10.0])

    assert result.chi2 == pytest.approx(0.8)
    assert result.ndf == 2
    assert result.p_value == pytest.approx(np.exp(-0.4))


def test_chi2_without_covariance_is_pearson() -> None:
    # scipy.stats.chisquare takes the totals as equal, which costs one ndf.
    observed = np.array([18.0, 25.0, 31.0, 26.0])
    expected = np.array([20.0, 30.0, 25.0, 25.0])
    reference = stats.chisquare(observed, expected)
    result = chi2(observed, expected, ddof=1)

    assert result.chi2 == pytest.approx(reference.statistic)
    assert result.ndf == 3
    assert result.p_value == pytest.approx(reference.pvalue)
    assert chi2(observed, expected).p_value == pytest.approx(
        stats.chi2.sf(reference.statistic, 4)
    )


def test_chi2_with_diagonal_covariance_matches_scipy() -> None:
    observed = np.array([3.0, -1.0, 2.5, 0.0])
    expected = np.array([2.0, 0.0, 2.0, 1.0])
    variance = np.array([0.5, 2.0, 1.0, 4.0])
    statistic = np.sum((observed - expected) ** 2 / variance)
    result = chi2(observed, expected, np.diag(variance))

    assert result.chi2 == pytest.approx(statistic)
    assert result.ndf == 4
    assert result.p_value == pytest.approx(stats.chi2.sf(statistic, 4))
    poisson = chi2(observed, expected + 5.0)
    assert chi2(observed, expected + 5.0, np.diag(expected + 5.0)).chi2 == (
        pytest.approx(poisson.chi2)
    )


def test_chi2_with_full_covariance_is_the_quadratic_form() -> None:
    rng = np.random.default_rng(11)
    factor = rng.normal(size=(6, 6))
    covariance = factor @ factor.T + 0.1 * np.eye(6)
    observed, expected = rng.normal(size=6), rng.normal(size=6)
    residual = observed - expected
    result = chi2(observed, expected, covariance)

    assert result.chi2 == pytest.approx(
        residual @ np.linalg.solve(covariance, residual)
    )
    assert result.ndf == 6
    order = rng.permutation(6)
    permuted = chi2(observed[order], expected[order], covariance[np.ix_(order, order)])
    assert permuted.chi2 == pytest.approx(result.chi2)


def test_chi2_p_values_are_uniform_for_correct_covariance() -> None:
    rng = np.random.default_rng(5)
    factor = rng.normal(size=(8, 8))
    covariance = factor @ factor.T + np.eye(8)
    expected = rng.normal(size=8)
    observed = rng.multivariate_normal(expected, covariance, size=2000)

    p_values = [chi2(o, expected, covariance).p_value for o in observed]

    assert stats.kstest(p_values, "uniform").pvalue > P_MIN
    too_narrow = [chi2(o, expected, covariance / 2).p_value for o in observed[:500]]
    assert stats.kstest(too_narrow, "uniform").pvalue < 1e-6


def test_chi2_with_singular_covariance_uses_the_rank() -> None:
    rng = np.random.default_rng(2)
    draws = rng.normal(size=(3, 5))  # three replicas over five bins: rank 2
    covariance = np.cov(draws, rowvar=False)
    expected = np.zeros(5)
    observed = draws[0] + 0.1 * (draws[1] - draws[2])  # inside the span

    with pytest.warns(BayesfoldWarning, match="rank is 2"):
        result = chi2(observed, expected + draws.mean(axis=0), covariance)

    residual = observed - draws.mean(axis=0)
    assert result.ndf == 2
    assert result.chi2 == pytest.approx(
        residual @ np.linalg.pinv(covariance) @ residual
    )


def test_chi2_cuts_small_eigenvalues_at_rcond() -> None:
    covariance = np.diag([1.0, 1e-9])
    observed = np.array([1.0, 1e-3])

    assert chi2(observed, [0.0, 0.0], covariance).chi2 == pytest.approx(1.0 + 1e3)
    with pytest.warns(BayesfoldWarning):
        cut = chi2(observed, [0.0, 0.0], covariance, rcond=1e-6)
    assert cut.chi2 == pytest.approx(1.0)
    assert cut.ndf == 1


def test_chi2_skips_bins_expecting_nothing() -> None:
    result = chi2([4.0, 0.0, 6.0], [5.0, 0.0, 5.0])

    assert result.ndf == 2
    assert result.chi2 == pytest.approx(0.4)
    impossible = chi2([4.0, 1.0, 6.0], [5.0, 0.0, 5.0])
    assert impossible.chi2 == np.inf
    assert impossible.p_value == 0.0


@pytest.mark.parametrize(
    ("arguments", "error"),
    [
        (([1.0, 2.0], [1.0]), ShapeMismatchError),
        (([1.0, 2.0], [1.0, -1.0]), InputValueError),
        (([1.0, np.inf], [1.0, 1.0]), NonFiniteError),
        (([1.0, 2.0], [1.0, 1.0], np.eye(3)), ShapeMismatchError),
        (([1.0, 2.0], [1.0, 1.0], [[1.0, 0.5], [0.0, 1.0]]), InputValueError),
        (([1.0, 2.0], [1.0, 1.0], [[1.0, 0.0], [0.0, -1.0]]), InputValueError),
        (([1.0, 2.0], [1.0, 1.0], np.zeros((2, 2))), InputValueError),
        (([1.0, 2.0], [1.0, 1.0], [[1.0, np.nan], [np.nan, 1.0]]), NonFiniteError),
        (([1.0], [0.0]), InputValueError),
    ],
)
def test_chi2_rejects_bad_input(
    arguments: tuple[object, ...], error: type[Exception]
) -> None:
    with pytest.raises(error):
        chi2(*arguments)  # type: ignore[arg-type]


def test_chi2_needs_a_degree_of_freedom() -> None:
    with pytest.raises(InputValueError, match="degree of freedom"):
        chi2([1.0, 2.0], [1.0, 2.0], ddof=2)


# --- Wasserstein-1 ---------------------------------------------------------------


def test_wasserstein1_by_hand() -> None:
    assert wasserstein1([0.0], [1.0]) == pytest.approx(1.0)
    # F_x = 0.75 on [0, 1) against F_y = 1: area 0.25
    assert wasserstein1([0.0, 1.0], [0.0], [3.0, 1.0]) == pytest.approx(0.25)
    assert wasserstein1([0.0, 2.0], [1.0]) == pytest.approx(1.0)


@PROPERTIES
@given(samples, st.floats(-50.0, 50.0), st.floats(1e-2, 1e2))
def test_wasserstein1_of_a_shift_is_the_shift(
    x: NDArray[np.float64], shift: float, scale: float
) -> None:
    weights = np.linspace(1.0, 2.0, x.size)
    shifted = x + shift

    assert wasserstein1(x, shifted) == pytest.approx(abs(shift), abs=1e-9)
    assert wasserstein1(x, shifted, weights, weights) == pytest.approx(
        abs(shift), abs=1e-9
    )
    assert wasserstein1(x, shifted, scale * weights, weights) == pytest.approx(
        abs(shift), abs=1e-9
    )


@PROPERTIES
@given(samples, samples)
def test_wasserstein1_is_symmetric(
    x: NDArray[np.float64], y: NDArray[np.float64]
) -> None:
    assert wasserstein1(x, y) == pytest.approx(wasserstein1(y, x))


# --- Kolmogorov–Smirnov ----------------------------------------------------------


def test_ks_distance_by_hand() -> None:
    assert ks_distance([0.0, 1.0], [0.5]) == pytest.approx(0.5)
    assert ks_distance([0.0, 1.0], [2.0, 3.0]) == pytest.approx(1.0)
    assert ks_distance([1.0, 2.0], [2.0, 1.0]) == 0.0
    # F_x(0) = 0.75 with weights (3, 1); F_y(0) = 0.5
    assert ks_distance([0.0, 1.0], [0.0, 1.0], [3.0, 1.0]) == pytest.approx(0.25)


@PROPERTIES
@given(samples, samples)
def test_ks_distance_matches_scipy_with_unit_weights(
    x: NDArray[np.float64], y: NDArray[np.float64]
) -> None:
    # Only the statistic is compared; scipy's asymptotic p-value divides by
    # zero for identical samples, which is no concern here.
    with np.errstate(divide="ignore", invalid="ignore"):
        reference = stats.ks_2samp(x, y, method="asymp").statistic

    assert ks_distance(x, y) == pytest.approx(reference, abs=1e-12)


@PROPERTIES
@given(
    samples.flatmap(
        lambda x: st.tuples(
            st.just(x), hnp.arrays(np.int64, x.size, elements=st.integers(1, 4))
        )
    ),
    samples,
    st.floats(1e-3, 1e3),
)
def test_ks_distance_with_integer_weights_repeats_events(
    x_and_counts: tuple[NDArray[np.float64], NDArray[np.int64]],
    y: NDArray[np.float64],
    scale: float,
) -> None:
    x, counts = x_and_counts
    repeated = ks_distance(np.repeat(x, counts), y)

    assert ks_distance(x, y, counts) == pytest.approx(repeated, abs=1e-12)
    assert ks_distance(x, y, scale * counts) == pytest.approx(repeated, abs=1e-12)
    assert ks_distance(y, x, None, counts) == pytest.approx(repeated, abs=1e-12)


# --- shared validation of samples ----------------------------------------------------


@pytest.mark.parametrize("distance", [wasserstein1, ks_distance])
@pytest.mark.parametrize(
    ("arguments", "error"),
    [
        (([1.0, 2.0], [1.0], [1.0]), ShapeMismatchError),
        (([1.0, 2.0], [1.0], [1.0, -1.0]), WeightError),
        (([1.0, 2.0], [1.0], [0.0, 0.0]), WeightError),
        (([1.0, 2.0], [1.0], None, [np.nan]), NonFiniteError),
        (([1.0, np.nan], [1.0]), NonFiniteError),
        (([], [1.0]), EmptySampleError),
        (([[1.0, 2.0]], [1.0]), ShapeMismatchError),
    ],
)
def test_sample_distances_reject_bad_input(
    distance: object, arguments: tuple[object, ...], error: type[Exception]
) -> None:
    with pytest.raises(error):
        distance(*arguments)  # type: ignore[operator]
