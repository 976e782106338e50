"""Diagnostics of an unfolding as data: classifier calibration, convergence.

A classifier of the iteration is *calibrated* when, among the events to which it
gives probability f of class 1, a weighted fraction f belongs to class 1. The
ratio it yields, ``f / (1 - f)``, is then the likelihood ratio that OmniFold
needs; a miscalibrated classifier biases every weight it sets. A reliability
curve bins the predicted probability and compares, per bin, the weighted mean
prediction with the weighted fraction of class 1 (DeGroot and Fienberg, The
Statistician 32 (1983) 12; Niculescu-Mizil and Caruana, ICML 2005). The
expected calibration error (ECE) summarises it in one number (Naeini, Cooper and
Hauskrecht, AAAI 2015):

.. math:: \\mathrm{ECE} = \\sum_b \\frac{W_b}{W} \\left| o_b - p_b \\right|,

with :math:`W_b` the weight in bin b, :math:`o_b` its observed fraction of class
1 and :math:`p_b` its mean predicted probability.

The iteration records the reliability curve of every step's classifier on its
training events in :attr:`~bayesfold.result.StepDiagnostics.calibration`;
:func:`iteration_distances` measures how much the unfolded histogram still
changes from one iteration to the next. Nothing here draws: the figures are in
:mod:`bayesfold.plotting`.
"""

from __future__ import annotations

import itertools
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, Literal

import numpy as np
from numpy.typing import ArrayLike, NDArray
from scipy.special import expit

from bayesfold.exceptions import (
    ConfigurationError,
    EmptySampleError,
    InputValueError,
    NonFiniteError,
    ShapeMismatchError,
    WeightError,
)
from bayesfold.metrics import triangular_discriminator

if TYPE_CHECKING:
    from bayesfold.result import Observable, UnfoldingResult

__all__ = [
    "DEFAULT_RELIABILITY_BINS",
    "ReliabilityCurve",
    "expected_calibration_error",
    "iteration_distances",
    "reliability_curve",
]

#: Bins of predicted probability in a reliability curve. Ten bins of equal
#: weight keep each bin's binomial error near sqrt(10 / n_eff) / 2.
DEFAULT_RELIABILITY_BINS = 10

Strategy = Literal["quantile", "uniform"]
Distance = Literal["triangular", "chi2"]


@dataclass(frozen=True)
class ReliabilityCurve:
    """A weighted reliability curve: predicted against observed, per bin.

    Attributes
    ----------
    edges : ndarray, shape (n_bins + 1,)
        Bin edges in predicted probability, from 0 to 1.
    predicted : ndarray, shape (n_bins,)
        Weighted mean predicted probability of class 1 in each bin.
    observed : ndarray, shape (n_bins,)
        Weighted fraction of class 1 in each bin.
    error : ndarray, shape (n_bins,)
        Binomial standard error of ``observed``,
        ``sqrt(observed * (1 - observed) / effective_count)``; zero where the
        bin holds one class only.
    weight : ndarray, shape (n_bins,)
        Sum of the event weights in each bin.
    effective_count : ndarray, shape (n_bins,)
        Kish effective number of events in each bin, ``(sum w)^2 / sum w^2``.
    n_events : ndarray of int, shape (n_bins,)
        Events in each bin.
    expected_calibration_error : float
        The weight-averaged absolute difference of ``observed`` and
        ``predicted`` (module docstring).

    Bins without weight hold NaN in ``predicted``, ``observed`` and ``error``.
    """

    edges: NDArray[np.float64]
    predicted: NDArray[np.float64]
    observed: NDArray[np.float64]
    error: NDArray[np.float64]
    weight: NDArray[np.float64]
    effective_count: NDArray[np.float64]
    n_events: NDArray[np.int64]
    expected_calibration_error: float

    @property
    def pulls(self) -> NDArray[np.float64]:
        """``(observed - predicted) / error``; NaN where the error is zero."""
        residual = self.observed - self.predicted
        out = np.full_like(residual, np.nan)
        np.divide(residual, self.error, out=out, where=self.error > 0)
        return out

    def as_dict(self) -> dict[str, Any]:
        """JSON-ready lists; NaN (empty bins) becomes None."""
        arrays = ("edges", "predicted", "observed", "error", "weight")
        out: dict[str, Any] = {
            name: _json_list(getattr(self, name))
            for name in (*arrays, "effective_count")
        }
        out["n_events"] = self.n_events.tolist()
        out["expected_calibration_error"] = self.expected_calibration_error
        return out


def reliability_curve(
    logits: ArrayLike,
    labels: ArrayLike,
    weights: ArrayLike | None = None,
    *,
    bins: int | ArrayLike = DEFAULT_RELIABILITY_BINS,
    strategy: Strategy = "quantile",
) -> ReliabilityCurve:
    """Weighted reliability curve of a classifier's logits.

    Parameters
    ----------
    logits : array_like, shape (n,)
        Log-odds of class 1, as ``predict_logit`` returns them.
    labels : array_like, shape (n,)
        True classes, 0 or 1.
    weights : array_like, shape (n,), optional
        Non-negative event weights, those the classifier was trained with;
        default 1. Calibration is judged against the weighted classes, so a
        classifier trained on weighted events is calibrated when the weighted
        fraction of class 1 matches its output.
    bins : int or array_like
        Number of bins, or the bin edges in probability (increasing, within
        [0, 1]).
    strategy : {"quantile", "uniform"}
        With an integer ``bins``: edges at weighted quantiles of the predicted
        probability (default; each bin holds about the same weight, which
        suits OmniFold's classifiers, whose outputs crowd near 0.5), or
        equally spaced on [0, 1].

    Returns
    -------
    ReliabilityCurve
        Per bin: mean prediction, observed fraction, its error and counts.

    Examples
    --------
    >>> curve = reliability_curve([0.0, 0.0, 0.0, 0.0], [0, 1, 0, 1], bins=1)
    >>> float(curve.observed[0]), float(curve.expected_calibration_error)
    (0.5, 0.0)
    """
    probability, y, w = _checked_inputs(logits, labels, weights)
    edges = _probability_edges(bins, strategy, probability, w)

    index = np.clip(np.searchsorted(edges, probability, side="right") - 1, 0, None)
    index = np.minimum(index, len(edges) - 2)
    n_bins = len(edges) - 1
    weight = np.bincount(index, weights=w, minlength=n_bins)
    weight_sq = np.bincount(index, weights=w * w, minlength=n_bins)
    predicted_sum = np.bincount(index, weights=w * probability, minlength=n_bins)
    positive = np.bincount(index, weights=w * y, minlength=n_bins)

    filled = weight > 0
    predicted = _ratio(predicted_sum, weight, filled)
    observed = _ratio(positive, weight, filled)
    effective = _ratio(weight**2, weight_sq, filled, empty=0.0)
    variance = _ratio(observed * (1.0 - observed), effective, filled)
    ece = np.sum(weight[filled] * np.abs(observed - predicted)[filled]) / w.sum()
    return ReliabilityCurve(
        edges=edges,
        predicted=predicted,
        observed=observed,
        error=np.sqrt(np.maximum(variance, 0.0)),
        weight=weight,
        effective_count=effective,
        n_events=np.bincount(index, minlength=n_bins).astype(np.int64),
        expected_calibration_error=float(ece),
    )


def expected_calibration_error(
    logits: ArrayLike,
    labels: ArrayLike,
    weights: ArrayLike | None = None,
    *,
    bins: int | ArrayLike = DEFAULT_RELIABILITY_BINS,
    strategy: Strategy = "quantile",
) -> float:
    """The expected calibration error of :func:`reliability_curve`'s curve.

    Even a perfectly calibrated classifier scores above zero on a finite
    sample: each bin adds about ``sqrt(2 / pi)`` times its binomial error.
    """
    curve = reliability_curve(logits, labels, weights, bins=bins, strategy=strategy)
    return curve.expected_calibration_error


def iteration_distances(
    result: UnfoldingResult,
    observable: Observable,
    bins: ArrayLike,
    *,
    distance: Distance = "triangular",
) -> NDArray[np.float64]:
    """How much the unfolded histogram changes from iteration to iteration.

    Element n (from 0) compares the histogram of iteration n + 1 with that of
    iteration n, where iteration 0 is the prior (the simulation before
    unfolding). With ``distance="triangular"`` the shapes are compared with
    the triangular discriminator (:func:`bayesfold.metrics.
    triangular_discriminator`); with ``"chi2"`` the difference per bin is
    divided by the variance of the later histogram (the spread over draws, or
    the sum of squared weights for one draw) and the sum divided by the
    number of bins used: values well below 1 mean further iterations move the
    result by less than its statistical uncertainty.

    Returns
    -------
    ndarray, shape (iterations,)
    """
    if distance not in ("triangular", "chi2"):
        raise ConfigurationError(
            f"distance must be 'triangular' or 'chi2'; got {distance!r}."
        )
    histograms = [result.prior_histogram(observable, bins)]
    histograms += [
        result.histogram(observable, bins, iteration=n)
        for n in range(result.iterations)
    ]

    changes = []
    for earlier, later in itertools.pairwise(histograms):
        before = np.asarray(earlier.values(), dtype=np.float64)
        after = np.asarray(later.values(), dtype=np.float64)
        if distance == "triangular":
            changes.append(triangular_discriminator(after, before))
        else:
            variance = np.asarray(later.variances(), dtype=np.float64)
            changes.append(_chi2_per_bin(after, before, variance))
    return np.array(changes)


def _chi2_per_bin(
    later: NDArray[np.float64],
    earlier: NDArray[np.float64],
    variance: NDArray[np.float64],
) -> float:
    used = variance > 0
    if not used.any():
        return float("nan")
    residual = later[used] - earlier[used]
    return float(np.sum(residual**2 / variance[used]) / used.sum())


def _checked_inputs(
    logits: ArrayLike, labels: ArrayLike, weights: ArrayLike | None
) -> tuple[NDArray[np.float64], NDArray[np.float64], NDArray[np.float64]]:
    """Probabilities, labels as 0.0/1.0 and weights, checked."""
    z = np.asarray(logits, dtype=np.float64)
    y = np.asarray(labels)
    w = np.ones_like(z) if weights is None else np.asarray(weights, np.float64)
    if z.ndim != 1 or y.shape != z.shape or w.shape != z.shape:
        raise ShapeMismatchError(
            "logits, labels and weights must be 1-D with one entry per event; "
            f"got shapes {z.shape}, {y.shape} and {w.shape}."
        )
    if z.size == 0:
        raise EmptySampleError("a reliability curve needs at least one event.")
    if not np.all(np.isfinite(z)) or not np.all(np.isfinite(w)):
        raise NonFiniteError(
            "logits and weights must be finite; drop or fix the events with "
            "NaN or infinite values."
        )
    if not np.all((y == 0) | (y == 1)):
        raise InputValueError(
            f"labels must be 0 or 1; got the values {np.unique(y)[:5]!r}."
        )
    if np.any(w < 0) or w.sum() <= 0:
        raise WeightError(
            "weights must be non-negative with a positive sum; got a minimum "
            f"of {w.min():g} and a sum of {w.sum():g}."
        )
    return expit(z), y.astype(np.float64), w


def _probability_edges(
    bins: int | ArrayLike,
    strategy: str,
    probability: NDArray[np.float64],
    weights: NDArray[np.float64],
) -> NDArray[np.float64]:
    if strategy not in ("quantile", "uniform"):
        raise ConfigurationError(
            f"strategy must be 'quantile' or 'uniform'; got {strategy!r}."
        )
    if isinstance(bins, int | np.integer) and not isinstance(bins, bool):
        if bins < 1:
            raise ConfigurationError(f"bins must be at least 1; got {bins}.")
        if strategy == "uniform":
            return np.linspace(0.0, 1.0, int(bins) + 1)
        return _weighted_quantile_edges(probability, weights, int(bins))
    edges = np.asarray(bins, dtype=np.float64)
    if (
        edges.ndim != 1
        or len(edges) < 2
        or np.any(np.diff(edges) <= 0)
        or edges[0] < 0
        or edges[-1] > 1
    ):
        raise ConfigurationError(
            "bins must be a count or at least two strictly increasing edges "
            f"within [0, 1]; got {bins!r}."
        )
    return edges


def _weighted_quantile_edges(
    probability: NDArray[np.float64], weights: NDArray[np.float64], n_bins: int
) -> NDArray[np.float64]:
    """Edges with about equal weight between them, widened to [0, 1].

    Ties merge bins, so fewer than ``n_bins`` may come back: one bin when
    every prediction is the same.
    """
    order = np.argsort(probability)
    cumulative = np.cumsum(weights[order])
    targets = cumulative[-1] * np.arange(1, n_bins) / n_bins
    inner = probability[order][np.searchsorted(cumulative, targets, side="right")]
    # An edge at the smallest prediction would leave the bin below it empty.
    inner = inner[(inner > probability.min()) & (inner < 1.0)]
    return np.unique(np.concatenate([[0.0], inner, [1.0]]))


def _ratio(
    numerator: NDArray[np.float64],
    denominator: NDArray[np.float64],
    where: NDArray[np.bool_],
    empty: float = np.nan,
) -> NDArray[np.float64]:
    out = np.full(numerator.shape, empty)
    np.divide(numerator, denominator, out=out, where=where)
    return out


def _json_list(values: NDArray[np.float64]) -> list[float | None]:
    return [None if np.isnan(v) else float(v) for v in values]
