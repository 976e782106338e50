"""The result of an unfolding: per-event weights with a draws axis.

Every method of bayesfold (point OmniFold, ensembles, bootstraps and the Bayesian
posterior) returns an :class:`UnfoldingResult`. Its weights have shape
(iterations, draws, n_sim): a point estimate has one draw, a posterior or a
bootstrap many, and every histogram, interval and metric treats them alike.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Literal

import hist
import numpy as np
from numpy.typing import ArrayLike, NDArray

from bayesfold.diagnostics import ReliabilityCurve
from bayesfold.exceptions import ConfigurationError, ShapeMismatchError
from bayesfold.samples import SimulationSample, kish_effective_size

__all__ = ["PosteriorSummary", "StepDiagnostics", "UnfoldingResult"]

Observable = int | ArrayLike | Callable[[NDArray[np.float64]], NDArray[np.float64]]
Normalization = Literal["data", "simulation"]


@dataclass
class StepDiagnostics:
    """What one classifier step of one iteration recorded."""

    iteration: int
    step: str
    n_events: int
    """Events whose ratio this step predicted."""
    n_clipped: NDArray[np.int64]
    """Per draw, how many of those events hit the logit clip."""
    effective_size: NDArray[np.float64] | None
    """Per draw, Kish effective size of the weights after this step."""
    seconds: float
    history: list[Any] = field(default_factory=list)
    """Training curves of each fold's classifier."""
    calibration: ReliabilityCurve | None = None
    """Reliability curve of the fitted classifier on its training events (the
    first replica's weights and logits, every fold pooled), with its expected
    calibration error; see :mod:`bayesfold.diagnostics`."""


@dataclass
class UnfoldingResult:
    """Pull and push weights of every iteration, with a leading draws axis.

    Attributes
    ----------
    simulation : SimulationSample
        The simulated events the weights apply to.
    sim_weights : ndarray, shape (draws, n_sim)
        Input weights of the simulated events per draw (bootstrap factors
        included).
    data_weights : ndarray, shape (draws, n_data)
        Weights of the measured events per draw.
    pull_weights, push_weights : ndarray, shape (iterations, draws, n_sim)
        omega_n and nu_n, relative to ``sim_weights``.
    diagnostics : list of StepDiagnostics
        One record per classifier step and iteration, in order.
    method : str
        Name of the method that produced the weights.
    seconds : float
        Wall time of the unfolding.
    random_state : int
        Root entropy of the seeds; passing it again reproduces the result.
    """

    simulation: SimulationSample
    sim_weights: NDArray[np.float64]
    data_weights: NDArray[np.float64]
    pull_weights: NDArray[np.float64]
    push_weights: NDArray[np.float64]
    diagnostics: list[StepDiagnostics]
    method: str
    seconds: float
    random_state: int
    metadata: dict[str, Any] = field(default_factory=dict)

    @property
    def iterations(self) -> int:
        return int(self.push_weights.shape[0])

    @property
    def n_draws(self) -> int:
        return int(self.push_weights.shape[1])

    @property
    def n_data(self) -> float:
        """Total weight of the measured events (the nominal draw's)."""
        return float(self.data_weights[0].sum())

    def weights(
        self, iteration: int = -1, *, normalize: Normalization = "data"
    ) -> NDArray[np.float64]:
        """Unfolded weights of the simulated events, shape (draws, n_sim).

        Events failing ``pass_gen`` get zero: they are not in the fiducial
        particle-level distribution. With ``normalize="data"`` (default) each
        draw is scaled so that its detector-level total equals that draw's data
        total; the particle-level total is then the number of fiducial events
        the data correspond to, efficiency and fakes included.
        """
        return self._normalized(self.push_weights[iteration], normalize)

    def prior_weights(
        self, *, normalize: Normalization = "data"
    ) -> NDArray[np.float64]:
        """The simulation's own weights on the same footing as :meth:`weights`."""
        return self._normalized(np.ones_like(self.sim_weights), normalize)

    def histogram_draws(
        self,
        observable: Observable,
        bins: ArrayLike,
        *,
        iteration: int = -1,
        normalize: Normalization = "data",
    ) -> NDArray[np.float64]:
        """Unfolded counts per draw and bin, shape (draws, n_bins)."""
        values = self.observable(observable)
        return _binned(values, self.weights(iteration, normalize=normalize), bins)

    def histogram(
        self,
        observable: Observable,
        bins: ArrayLike,
        *,
        iteration: int = -1,
        normalize: Normalization = "data",
    ) -> hist.Hist:
        """The unfolded histogram as a :class:`hist.Hist` with Weight storage.

        The value is the mean over draws. The variance is the spread over draws
        when there are several, and the sum of squared weights (the simulation's
        own statistical variance) for a single draw.
        """
        weights = self.weights(iteration, normalize=normalize)
        return _to_hist(self.observable(observable), weights, bins)

    def prior_histogram(
        self,
        observable: Observable,
        bins: ArrayLike,
        *,
        normalize: Normalization = "data",
    ) -> hist.Hist:
        """The simulation before unfolding, normalised like :meth:`histogram`."""
        weights = self.prior_weights(normalize=normalize)[:1]
        return _to_hist(self.observable(observable), weights, bins)

    def posterior(
        self,
        observable: Observable,
        bins: ArrayLike,
        *,
        iteration: int = -1,
        normalize: Normalization = "data",
    ) -> PosteriorSummary:
        """Mean, median, 68 % and 95 % intervals and covariance over the draws."""
        edges = bin_edges(bins)
        draws = self.histogram_draws(
            observable, edges, iteration=iteration, normalize=normalize
        )
        return PosteriorSummary.from_draws(edges, draws)

    def derived(
        self,
        statistic: Callable[[NDArray[np.float64], NDArray[np.float64]], float],
        observable: Observable = 0,
        *,
        iteration: int = -1,
    ) -> NDArray[np.float64]:
        """Posterior draws of any statistic of the unfolded distribution.

        ``statistic(values, weights)`` gets the observable of the simulated
        events and one draw's weights; for example the mean,
        ``lambda x, w: np.average(x, weights=w)``. Returns shape (n_draws,).
        """
        values = self.observable(observable)
        weights = self.weights(iteration)
        finite = np.isfinite(values)
        return np.array([statistic(values[finite], w[finite]) for w in weights])

    def observable(self, observable: Observable) -> NDArray[np.float64]:
        """Values of an observable for every simulated event, shape (n_sim,).

        ``observable`` is a column index of ``gen``, an array with one value per
        simulated event, or a function of the ``gen`` array.
        """
        gen = self.simulation.gen
        if isinstance(observable, int | np.integer):
            if not -gen.shape[1] <= observable < gen.shape[1]:
                raise ConfigurationError(
                    f"observable index {observable} is out of range: gen has "
                    f"{gen.shape[1]} feature columns."
                )
            return gen[:, observable]
        values = observable(gen) if callable(observable) else observable
        array = np.asarray(values, dtype=np.float64)
        if array.shape != (gen.shape[0],):
            raise ShapeMismatchError(
                f"an observable needs one value per simulated event, shape "
                f"({gen.shape[0]},); got shape {array.shape}."
            )
        return array

    def effective_size(self, iteration: int = -1) -> NDArray[np.float64]:
        """Kish effective size of the unfolded weights per draw."""
        weights = self.weights(iteration)[:, self.simulation.pass_gen]
        return kish_effective_size(weights)

    def clipped_counts(self) -> dict[tuple[int, str], int]:
        """Events that hit the logit clip, summed over draws, per step."""
        return {
            (record.iteration, record.step): int(record.n_clipped.sum())
            for record in self.diagnostics
        }

    def save(
        self,
        path: Path | str,
        *,
        overwrite: bool = False,
        config: Mapping[str, Any] | None = None,
    ) -> Path:
        """Write the result as a netCDF data tree; see :mod:`bayesfold.io.posterior`."""
        from bayesfold.io.posterior import save_posterior

        return save_posterior(self, path, overwrite=overwrite, config=config)

    @classmethod
    def load(cls, path: Path | str) -> UnfoldingResult:
        """Read a result written by :meth:`save`."""
        from bayesfold.io.posterior import load_posterior

        return load_posterior(path)

    def _normalized(
        self, push: NDArray[np.float64], normalize: Normalization
    ) -> NDArray[np.float64]:
        weights = push * self.sim_weights
        if normalize == "data":
            reco_total = weights[:, self.simulation.pass_reco].sum(axis=1)
            weights = weights * (self.data_weights.sum(axis=1) / reco_total)[:, None]
        elif normalize != "simulation":
            raise ConfigurationError(
                f"normalize must be 'data' or 'simulation'; got {normalize!r}."
            )
        return np.where(self.simulation.pass_gen, weights, 0.0)


def bin_edges(bins: ArrayLike) -> NDArray[np.float64]:
    """Checked bin edges: 1-D, at least two, strictly increasing."""
    edges = np.asarray(bins, dtype=np.float64)
    if edges.ndim != 1 or len(edges) < 2 or np.any(np.diff(edges) <= 0):
        raise ConfigurationError(
            "bins must be a 1-D array of at least two strictly increasing edges; "
            f"got {edges!r}."
        )
    return edges


def _binned(
    values: NDArray[np.float64], weights: NDArray[np.float64], bins: ArrayLike
) -> NDArray[np.float64]:
    """Weighted counts per draw, shape (draws, n_bins); NaN values are skipped."""
    edges = bin_edges(bins)
    finite = np.isfinite(values)
    index = np.digitize(values[finite], edges) - 1
    inside = (index >= 0) & (index < len(edges) - 1)
    # The last edge is inclusive, as in numpy.histogram.
    inside |= values[finite] == edges[-1]
    index = np.minimum(index, len(edges) - 2)
    counts = np.zeros((weights.shape[0], len(edges) - 1))
    for draw, w in enumerate(weights[:, finite]):
        counts[draw] = np.bincount(
            index[inside], weights=w[inside], minlength=len(edges) - 1
        )
    return counts


def _to_hist(
    values: NDArray[np.float64], weights: NDArray[np.float64], bins: ArrayLike
) -> hist.Hist:
    edges = bin_edges(bins)
    counts = _binned(values, weights, edges)
    if len(counts) > 1:
        variance = counts.var(axis=0, ddof=1)
    else:
        variance = _binned(values, weights**2, edges)[0]
    histogram = hist.Hist(hist.axis.Variable(edges), storage=hist.storage.Weight())
    histogram.view().value = counts.mean(axis=0)
    histogram.view().variance = variance
    return histogram


@dataclass(frozen=True)
class PosteriorSummary:
    """Per-bin summary of the draws of an unfolded histogram.

    Attributes hold one value per bin; ``covariance`` and ``correlation`` are
    (n_bins, n_bins); ``draws`` is (n_draws, n_bins). Intervals are central
    (equal-tailed) credible intervals of the draws.
    """

    edges: NDArray[np.float64]
    draws: NDArray[np.float64]
    mean: NDArray[np.float64]
    median: NDArray[np.float64]
    std: NDArray[np.float64]
    lower_68: NDArray[np.float64]
    upper_68: NDArray[np.float64]
    lower_95: NDArray[np.float64]
    upper_95: NDArray[np.float64]
    covariance: NDArray[np.float64]
    correlation: NDArray[np.float64]

    @classmethod
    def from_draws(
        cls, edges: NDArray[np.float64], draws: NDArray[np.float64]
    ) -> PosteriorSummary:
        """Summarise draws of shape (n_draws, n_bins)."""
        q = np.quantile(draws, [0.025, 0.16, 0.5, 0.84, 0.975], axis=0)
        ddof = 1 if len(draws) > 1 else 0
        covariance = np.atleast_2d(np.cov(draws, rowvar=False, ddof=ddof))
        std = np.sqrt(np.diag(covariance))
        with np.errstate(invalid="ignore", divide="ignore"):
            correlation = covariance / np.outer(std, std)
        return cls(
            edges=edges,
            draws=draws,
            mean=draws.mean(axis=0),
            median=q[2],
            std=std,
            lower_68=q[1],
            upper_68=q[3],
            lower_95=q[0],
            upper_95=q[4],
            covariance=covariance,
            correlation=correlation,
        )

    def as_dict(self) -> dict[str, list[Any]]:
        """JSON-ready lists (draws left out)."""
        names = [
            *("mean", "median", "std", "lower_68", "upper_68", "lower_95"),
            *("upper_95", "covariance", "correlation"),
        ]
        out = {"bin_edges": self.edges.tolist()}
        out.update(
            {name: np.nan_to_num(getattr(self, name)).tolist() for name in names}
        )
        return out
