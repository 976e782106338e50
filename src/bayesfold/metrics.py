"""Distances between histograms and between weighted samples, and a chi2 test.

Histogram metrics take bin contents (sums of event weights), sample metrics take
the events and their weights. These are the figures of merit with which
unfolded results are compared with the truth: the triangular discriminator
(the OmniFold paper's table metric), a chi2 test with or without a covariance,
the Wasserstein-1 distance and the Kolmogorov–Smirnov distance.

Every function checks its inputs and raises a subclass of
:class:`~bayesfold.exceptions.InputValueError` that names the broken rule.
"""

from __future__ import annotations

import warnings
from dataclasses import dataclass
from typing import Any

import numpy as np
from numpy.typing import ArrayLike, NDArray
from scipy import stats

from bayesfold.exceptions import (
    BayesfoldWarning,
    EmptySampleError,
    InputValueError,
    NonFiniteError,
    ShapeMismatchError,
    WeightError,
)

__all__ = [
    "Chi2Result",
    "chi2",
    "ks_distance",
    "triangular_discriminator",
    "wasserstein1",
]


@dataclass(frozen=True)
class Chi2Result:
    """Outcome of a chi2 test.

    Attributes
    ----------
    chi2 : float
        The statistic; ``inf`` when a bin with zero expectation (and zero
        variance) holds a non-zero observation.
    ndf : int
        Degrees of freedom: the bins used (the rank of the covariance when one
        is given) minus ``ddof``.
    p_value : float
        Probability of a larger statistic under the chi2 law with ``ndf``
        degrees of freedom.
    """

    chi2: float
    ndf: int
    p_value: float


def triangular_discriminator(p: ArrayLike, q: ArrayLike) -> float:
    """Triangular discriminator between two histograms with the same bins.

    Both histograms are normalised to unit sum, then

    .. math:: \\Delta(p, q) = \\frac{1}{2} \\sum_{i:\\, p_i + q_i > 0}
              \\frac{(p_i - q_i)^2}{p_i + q_i},

    which lies in [0, 1]: 0 for identical shapes, 1 for shapes with no bin in
    common. This is the binned form of the integral
    :math:`\\frac{1}{2}\\int (p - q)^2 / (p + q)` of Topsøe, IEEE Trans. Inf.
    Theory 46 (2000) 1602, used to compare unfolded and true distributions in
    the OmniFold paper (Andreassen et al., arXiv:1911.09107): for densities
    p_i / w_i in bins of width w_i the widths cancel, so unit-sum and
    unit-area normalisation give the same number. The OmniFold paper reports
    :math:`10^3 \\Delta`; scaling is left to the caller.

    Parameters
    ----------
    p, q : array_like, shape (n_bins,)
        Non-negative bin contents, each with a positive sum.

    Returns
    -------
    float
        The discriminator, in [0, 1].

    Examples
    --------
    >>> triangular_discriminator([1, 0], [0, 3])
    1.0
    >>> triangular_discriminator([1, 1], [2, 2])
    0.0
    """
    p_contents = _histogram("p", p)
    q_contents = _histogram("q", q)
    _check_same_length("p", p_contents, "q", q_contents)
    p_shape = _unit_sum("p", p_contents)
    q_shape = _unit_sum("q", q_contents)

    total = p_shape + q_shape
    filled = total > 0
    difference = p_shape[filled] - q_shape[filled]
    return float(0.5 * np.sum(difference**2 / total[filled]))


def chi2(
    observed: ArrayLike,
    expected: ArrayLike,
    covariance: ArrayLike | None = None,
    *,
    ddof: int = 0,
    rcond: float | None = None,
) -> Chi2Result:
    """Chi2 test of observed bin contents against an expectation.

    With a covariance C of the observed contents, the statistic is the
    generalised quadratic form

    .. math:: \\chi^2 = r^T C^{+} r, \\qquad r = \\text{observed} - \\text{expected},

    with :math:`C^{+}` the Moore–Penrose pseudo-inverse and ``ndf`` the rank of C
    minus ``ddof`` (Moore, J. Am. Stat. Assoc. 72 (1977) 131). C is
    diagonalised; eigenvalues below ``rcond`` times the largest are treated as
    zero, and the directions they span are left out of the statistic, with a
    :class:`~bayesfold.exceptions.BayesfoldWarning`. A covariance estimated
    from fewer replicas or draws than bins is singular in this way.

    Without a covariance the bins are taken as independent Poisson counts
    with variance equal to the expectation (Pearson's statistic):

    .. math:: \\chi^2 = \\sum_{i:\\, e_i > 0} \\frac{(o_i - e_i)^2}{e_i},

    and ``ndf`` is the number of bins with :math:`e_i > 0` minus ``ddof``.
    Bins expecting nothing are skipped when they observe nothing; if one of
    them observes a non-zero content the expectation is excluded outright and
    the statistic is ``inf`` (p-value 0). Pearson's statistic follows the chi2
    law only for large expectations (say, five or more per bin).

    Parameters
    ----------
    observed : array_like, shape (n_bins,)
        Observed bin contents (finite).
    expected : array_like, shape (n_bins,)
        Expected bin contents (finite; non-negative without a covariance).
    covariance : array_like, shape (n_bins, n_bins), optional
        Symmetric positive semi-definite covariance of ``observed``.
    ddof : int, default 0
        Degrees of freedom to subtract, e.g. 1 when ``expected`` was
        normalised to the observed total, or the number of fitted parameters.
    rcond : float, optional
        Relative cut-off on the eigenvalues of ``covariance``; by default
        ``n_bins`` times the machine epsilon (the convention of
        :func:`numpy.linalg.matrix_rank`).

    Returns
    -------
    Chi2Result
        The statistic, its degrees of freedom and its p-value.
    """
    o = _histogram("observed", observed)
    e = _histogram("expected", expected)
    _check_same_length("observed", o, "expected", e)

    if covariance is None:
        statistic, n_used = _pearson(o, e)
    else:
        c = _covariance(covariance, o.size)
        cutoff = o.size * np.finfo(np.float64).eps if rcond is None else rcond
        statistic, n_used = _generalised_quadratic_form(o - e, c, cutoff)
        if n_used < o.size:
            warnings.warn(
                f"covariance is singular or ill-conditioned: its rank is {n_used} "
                f"for {o.size} bins at rcond={cutoff:g}. The chi2 uses the "
                "pseudo-inverse and ndf is reduced to the rank.",
                BayesfoldWarning,
                stacklevel=2,
            )

    ndf = n_used - ddof
    if ndf < 1:
        raise InputValueError(
            f"the chi2 test has {n_used} usable bins and ddof={ddof}, which "
            "leaves no degree of freedom; use more bins or a smaller ddof."
        )
    return Chi2Result(statistic, ndf, float(stats.chi2.sf(statistic, ndf)))


def wasserstein1(
    x: ArrayLike,
    y: ArrayLike,
    x_weights: ArrayLike | None = None,
    y_weights: ArrayLike | None = None,
) -> float:
    """Wasserstein-1 (earth mover's) distance between two weighted samples.

    .. math:: W_1 = \\int_{-\\infty}^{\\infty} |F_x(t) - F_y(t)|\\, dt,

    with :math:`F` the weighted empirical distribution functions, computed by
    :func:`scipy.stats.wasserstein_distance`. Only the shape enters: each
    sample's weights are normalised to unit sum. The distance carries the
    units of the observable: shifting one sample by c changes it by at most
    ``|c|``, and the distance between a sample and itself shifted by c is
    ``|c|``.

    Parameters
    ----------
    x, y : array_like, shape (n_x,) and (n_y,)
        Values of one observable, finite.
    x_weights, y_weights : array_like, optional
        Non-negative event weights with positive sums; 1 by default.

    Returns
    -------
    float
    """
    x_values, x_w = _weighted_sample("x", x, x_weights)
    y_values, y_w = _weighted_sample("y", y, y_weights)
    return float(stats.wasserstein_distance(x_values, y_values, x_w, y_w))


def ks_distance(
    x: ArrayLike,
    y: ArrayLike,
    x_weights: ArrayLike | None = None,
    y_weights: ArrayLike | None = None,
) -> float:
    """Two-sample Kolmogorov–Smirnov distance between weighted samples.

    .. math:: D = \\sup_t |F_x(t) - F_y(t)|,
              \\qquad F_x(t) = \\frac{\\sum_{i:\\, x_i \\le t} w_i}{\\sum_i w_i},

    evaluated at every value of either sample, where the supremum is reached.
    With unit weights this is the statistic of :func:`scipy.stats.ks_2samp`;
    with integer weights it equals the distance between the samples with each
    event repeated that many times. Only the statistic is returned: its
    distribution under the null hypothesis depends on the weights (through
    the effective sample sizes), so no p-value is offered.

    Parameters
    ----------
    x, y : array_like, shape (n_x,) and (n_y,)
        Values of one observable, finite.
    x_weights, y_weights : array_like, optional
        Non-negative event weights with positive sums; 1 by default.

    Returns
    -------
    float
        The distance, in [0, 1].
    """
    x_values, x_w = _weighted_sample("x", x, x_weights)
    y_values, y_w = _weighted_sample("y", y, y_weights)

    points = np.concatenate([x_values, y_values])
    x_cdf = _weighted_ecdf(x_values, x_w, points)
    y_cdf = _weighted_ecdf(y_values, y_w, points)
    return float(np.max(np.abs(x_cdf - y_cdf)))


def _pearson(o: NDArray[np.float64], e: NDArray[np.float64]) -> tuple[float, int]:
    if np.any(e < 0):
        raise InputValueError(
            f"expected must be non-negative when no covariance is given (its "
            f"contents are Poisson variances); got minimum {e.min():g}. Pass "
            "the covariance of observed instead."
        )
    used = e > 0
    if np.any(o[~used] != 0):
        return float("inf"), int(used.sum())
    return float(np.sum((o[used] - e[used]) ** 2 / e[used])), int(used.sum())


def _generalised_quadratic_form(
    residual: NDArray[np.float64],
    covariance: NDArray[np.float64],
    rcond: float,
) -> tuple[float, int]:
    eigenvalues, eigenvectors = np.linalg.eigh(covariance)
    largest = eigenvalues[-1]
    if largest <= 0:
        raise InputValueError(
            "covariance has no positive eigenvalue; it must be positive "
            "semi-definite and non-zero."
        )

    cutoff = rcond * largest
    if eigenvalues[0] < -cutoff:
        raise InputValueError(
            f"covariance must be positive semi-definite; it has eigenvalue "
            f"{eigenvalues[0]:g} (largest {largest:g}). Check how it was built."
        )
    kept = eigenvalues > cutoff
    projections = eigenvectors[:, kept].T @ residual
    return float(np.sum(projections**2 / eigenvalues[kept])), int(kept.sum())


def _weighted_ecdf(
    values: NDArray[np.float64], weights: NDArray[np.float64], points: NDArray[Any]
) -> NDArray[np.float64]:
    order = np.argsort(values, kind="stable")
    cumulative = np.concatenate([[0.0], np.cumsum(weights[order])])
    below = np.searchsorted(values[order], points, side="right")
    return cumulative[below] / cumulative[-1]


def _numbers(name: str, values: ArrayLike) -> NDArray[np.float64]:
    array = np.asarray(values)
    if array.dtype == bool or not np.issubdtype(array.dtype, np.number):
        raise NonFiniteError(
            f"{name} must hold numbers; got an array of dtype {array.dtype}."
        )
    array = np.asarray(array, dtype=np.float64)
    if not np.all(np.isfinite(array)):
        raise NonFiniteError(
            f"{name} holds {int(np.sum(~np.isfinite(array)))} NaN or infinite "
            "values; every entry must be finite."
        )
    return array


def _histogram(name: str, values: ArrayLike) -> NDArray[np.float64]:
    array = _numbers(name, values)
    if array.ndim != 1:
        raise ShapeMismatchError(
            f"{name} must be 1-D (one entry per bin); got shape {array.shape}. "
            "Flatten multi-dimensional histograms in the same order first."
        )
    if array.size == 0:
        raise EmptySampleError(f"{name} has no bins.")
    return array


def _unit_sum(name: str, contents: NDArray[np.float64]) -> NDArray[np.float64]:
    if np.any(contents < 0):
        raise InputValueError(
            f"{name} must have non-negative bin contents; got minimum "
            f"{contents.min():g}."
        )
    total = contents.sum()
    if total <= 0:
        raise EmptySampleError(
            f"{name} sums to zero; a histogram needs some content to be normalised."
        )
    return contents / total


def _covariance(values: ArrayLike, n_bins: int) -> NDArray[np.float64]:
    covariance = _numbers("covariance", values)
    if covariance.shape != (n_bins, n_bins):
        raise ShapeMismatchError(
            f"covariance must have shape ({n_bins}, {n_bins}) to match the "
            f"{n_bins} bins; got {covariance.shape}."
        )
    scale = np.max(np.abs(covariance))
    if not np.allclose(covariance, covariance.T, rtol=0.0, atol=1e-12 * scale):
        raise InputValueError(
            "covariance must be symmetric; its largest asymmetry is "
            f"{np.max(np.abs(covariance - covariance.T)):g}. Symmetrise it "
            "with (C + C.T) / 2 if the difference is rounding."
        )
    return covariance


def _weighted_sample(
    name: str, values: ArrayLike, weights: ArrayLike | None
) -> tuple[NDArray[np.float64], NDArray[np.float64]]:
    sample = _numbers(name, values)
    if sample.ndim != 1:
        raise ShapeMismatchError(
            f"{name} must be 1-D (one value per event); got shape {sample.shape}."
        )
    if sample.size == 0:
        raise EmptySampleError(f"{name} holds no events.")
    if weights is None:
        return sample, np.ones(sample.size)

    w = _numbers(f"{name}_weights", weights)
    _check_same_length(name, sample, f"{name}_weights", w)
    if np.any(w < 0):
        raise WeightError(
            f"{name}_weights has {int(np.sum(w < 0))} negative weights; the "
            "distance needs non-negative event weights."
        )
    if w.sum() <= 0:
        raise WeightError(f"{name}_weights sum to zero; some weight must be > 0.")
    return sample, w


def _check_same_length(
    name_a: str, a: NDArray[np.float64], name_b: str, b: NDArray[np.float64]
) -> None:
    if a.shape != b.shape:
        raise ShapeMismatchError(
            f"{name_a} and {name_b} must have the same shape; got {a.shape} and "
            f"{b.shape}."
        )
