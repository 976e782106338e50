"""Toy data sets whose particle-level truth is known in closed form.

Each toy has two particle-level models: the *prior*, from which the simulation
is generated, and the *truth*, from which the pseudo-data are generated. Both go
through the same detector. A toy therefore gives

- :meth:`Toy.simulate`: a :class:`~bayesfold.samples.SimulationSample` drawn
  from the prior, with reco features and both selection masks;
- :meth:`Toy.measure`: :class:`PseudoData` drawn from the truth: the
  detector-level events that pass the detector selection (fakes included) and,
  for tests only, the particle-level features of the fiducial events;
- :meth:`Toy.expected_truth` and :meth:`Toy.expected_prior`: the expected
  number of fiducial particle-level events per bin, from the analytic densities,
  for a given number of generated events. An unfolded histogram of the
  pseudo-data is compared with ``expected_truth``.

``n_events`` always counts events *generated* at particle level, before any
selection. All randomness comes from the ``numpy.random.Generator`` passed in.

The toys are

- :class:`ShiftedGaussianToy`: the one-dimensional Gaussian example that
  started the project (every event passes both selections);
- :class:`EfficiencyFakesToy`: one dimension with a gen-dependent detector
  efficiency, a fiducial cut and fakes;
- :class:`CorrelatedGaussianToy`: two or more correlated observables.

:data:`TOYS` maps each toy's ``key`` to its class. :class:`ReweightedToy` wraps
any of them and reweights its truth by a known function of one gen feature (the
stress tests of :func:`bayesfold.studies.stress`).
"""

from __future__ import annotations

import itertools
import numbers
from abc import ABC, abstractmethod
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any, ClassVar, Literal, NamedTuple

import numpy as np
from numpy.typing import ArrayLike, NDArray
from scipy import integrate, special, stats

from bayesfold.exceptions import (
    ConfigurationError,
    InputTypeError,
    InputValueError,
    NonFiniteError,
)
from bayesfold.samples import DataSample, SimulationSample

__all__ = [
    "TOYS",
    "CorrelatedGaussianToy",
    "EfficiencyFakesToy",
    "PseudoData",
    "ReweightedToy",
    "ShiftedGaussianToy",
    "Toy",
]

# Tolerances of the two-dimensional bin integrals: far below the relative
# Poisson precision (1 / sqrt(count)) of any sample a test can draw.
_QUAD_EPSABS = 1e-13
_QUAD_EPSREL = 1e-10

# Rejection sampling of a reweighted truth gives up when fewer than one
# candidate event in this many is accepted: the weight's ``maximum`` is then far
# above its typical value, and a tighter bound is the fix.
_MAX_CANDIDATES_PER_EVENT = 1000


@dataclass(frozen=True)
class PseudoData:
    """Pseudo-data generated from a toy's truth model.

    Parameters
    ----------
    data : DataSample
        Detector-level features of the generated events that pass the detector
        selection, fakes included.
    truth : ndarray, shape (n_fiducial, n_gen_features)
        Particle-level features of the generated events that pass the
        particle-level (fiducial) selection, whether detected or not. For tests
        and studies only: this is what unfolding tries to recover.
    n_generated : int
        Number of events generated at particle level, before any selection.
    """

    data: DataSample
    truth: NDArray[np.float64]
    n_generated: int


class _Events(NamedTuple):
    gen: NDArray[np.float64]
    reco: NDArray[np.float64]
    pass_gen: NDArray[np.bool_]
    pass_reco: NDArray[np.bool_]


class Toy(ABC):
    """A pair of particle-level models (prior and truth) and a detector.

    Subclasses set :attr:`key` and :attr:`name`, and implement event
    generation and the fiducial fraction per bin; this base class turns them
    into samples and expected counts and checks the arguments.
    """

    key: ClassVar[str]
    """Short identifier used in :data:`TOYS` and on the command line."""

    name: ClassVar[str]
    """Human-readable name."""

    @property
    @abstractmethod
    def n_gen_features(self) -> int:
        """Number of particle-level features per event."""

    @property
    @abstractmethod
    def n_reco_features(self) -> int:
        """Number of detector-level features per event."""

    def simulate(self, n_events: int, rng: np.random.Generator) -> SimulationSample:
        """Simulated events: ``n_events`` generated from the prior.

        Every generated event is kept, with its selection masks; the reco
        features of an event failing ``pass_reco`` may be NaN.
        """
        events = self._generate(_event_count(n_events), _generator(rng), truth=False)
        return SimulationSample(
            events.gen,
            events.reco,
            pass_gen=events.pass_gen,
            pass_reco=events.pass_reco,
        )

    def measure(self, n_events: int, rng: np.random.Generator) -> PseudoData:
        """Pseudo-data: ``n_events`` generated from the truth, then selected.

        Only events passing the detector selection enter ``data``; only those
        passing the fiducial selection enter ``truth``.
        """
        n = _event_count(n_events)
        events = self._generate(n, _generator(rng), truth=True)
        return PseudoData(
            data=DataSample(events.reco[events.pass_reco]),
            truth=events.gen[events.pass_gen],
            n_generated=n,
        )

    def expected_truth(
        self, bins: ArrayLike, n_events: int, observable: int = 0
    ) -> NDArray[np.float64]:
        """Expected fiducial truth events per bin of one particle-level feature.

        Parameters
        ----------
        bins : array_like, shape (n_bins + 1,)
            Strictly increasing bin edges; infinite outer edges are allowed.
        n_events : int
            Number of events generated at particle level (``n_generated`` of
            the pseudo-data).
        observable : int, default 0
            Column of ``gen`` to bin.

        Returns
        -------
        ndarray, shape (n_bins,)
            ``n_events`` times the probability that a generated event is
            fiducial and falls in each bin.
        """
        return self._expected(bins, n_events, observable, truth=True)

    def expected_prior(
        self, bins: ArrayLike, n_events: int, observable: int = 0
    ) -> NDArray[np.float64]:
        """Like :meth:`expected_truth`, for the simulation's particle-level model."""
        return self._expected(bins, n_events, observable, truth=False)

    def _expected(
        self, bins: ArrayLike, n_events: int, observable: int, *, truth: bool
    ) -> NDArray[np.float64]:
        edges = _bin_edges("bins", bins)
        n = _event_count(n_events)
        self._check_observable(observable)
        return n * self._fiducial_fraction(edges, observable, truth=truth)

    def _check_observable(self, observable: int) -> None:
        valid = range(self.n_gen_features)
        if not isinstance(observable, numbers.Integral) or observable not in valid:
            raise InputValueError(
                f"observable must be a gen column index in 0..{valid.stop - 1} "
                f"for the {self.name} toy; got {observable!r}."
            )

    @abstractmethod
    def _generate(self, n: int, rng: np.random.Generator, *, truth: bool) -> _Events:
        """Generate ``n`` events from the truth or the prior, through the detector."""

    @abstractmethod
    def _fiducial_fraction(
        self, edges: NDArray[np.float64], observable: int, *, truth: bool
    ) -> NDArray[np.float64]:
        """Probability that a generated event is fiducial and in each bin."""

    def _density(
        self, x: NDArray[np.float64], observable: int, *, truth: bool, fiducial: bool
    ) -> NDArray[np.float64]:
        """Density of gen column ``observable`` over all generated events.

        With ``fiducial``, times the probability that an event at ``x`` is
        fiducial: its integral over a bin is then :meth:`_fiducial_fraction`.
        :class:`ReweightedToy` integrates it against its weight function.
        """
        raise NotImplementedError(
            f"the {self.name} toy gives no density of its gen features, so its "
            "truth cannot be reweighted; implement Toy._density for it."
        )

    def _density_breaks(self, observable: int) -> tuple[float, ...]:
        """Values of gen column ``observable`` where :meth:`_density` jumps."""
        return ()


class _OneGaussian:
    """The (mean, sigma) of the prior or the truth of a one-observable toy."""

    gen_mean: float
    gen_sigma: float
    truth_mean: float
    truth_sigma: float

    def _model(self, *, truth: bool) -> tuple[float, float]:
        if truth:
            return self.truth_mean, self.truth_sigma
        return self.gen_mean, self.gen_sigma

    def _density(
        self, x: NDArray[np.float64], observable: int, *, truth: bool, fiducial: bool
    ) -> NDArray[np.float64]:
        mean, sigma = self._model(truth=truth)
        return np.asarray(stats.norm.pdf(x, mean, sigma), dtype=np.float64)


@dataclass(frozen=True)
class ShiftedGaussianToy(_OneGaussian, Toy):
    """One Gaussian observable, shifted and smeared; every event is selected.

    The prior is N(``gen_mean``, ``gen_sigma``), the truth
    N(``truth_mean``, ``truth_sigma``), and ``reco = gen + s`` with
    s ~ N(``smear_mean``, ``smear_sigma``). The defaults are the Gaussian
    example from which the project started (there unfolded with 1000 events
    each and 6 iterations).

    Parameters
    ----------
    gen_mean, gen_sigma : float
        Mean and standard deviation of the prior.
    truth_mean, truth_sigma : float
        Mean and standard deviation of the truth.
    smear_mean, smear_sigma : float
        Mean (detector bias) and standard deviation (resolution) of the
        smearing.
    """

    key: ClassVar[str] = "shifted-gaussian"
    name: ClassVar[str] = "shifted Gaussian"

    gen_mean: float = 0.3
    gen_sigma: float = 2.5
    truth_mean: float = 1.2
    truth_sigma: float = 3.0
    smear_mean: float = -2.5
    smear_sigma: float = 0.2

    def __post_init__(self) -> None:
        _check_positive(self, "gen_sigma", "truth_sigma", "smear_sigma")

    @property
    def n_gen_features(self) -> int:
        return 1

    @property
    def n_reco_features(self) -> int:
        return 1

    def _generate(self, n: int, rng: np.random.Generator, *, truth: bool) -> _Events:
        mean, sigma = self._model(truth=truth)
        gen = rng.normal(mean, sigma, size=(n, 1))
        reco = gen + rng.normal(self.smear_mean, self.smear_sigma, size=(n, 1))
        selected = np.ones(n, dtype=bool)
        return _Events(gen, reco, selected, selected.copy())

    def _fiducial_fraction(
        self, edges: NDArray[np.float64], observable: int, *, truth: bool
    ) -> NDArray[np.float64]:
        mean, sigma = self._model(truth=truth)
        return np.diff(stats.norm.cdf(edges, mean, sigma))


@dataclass(frozen=True)
class EfficiencyFakesToy(_OneGaussian, Toy):
    """One Gaussian observable with efficiency, a fiducial cut and fakes.

    Particle level: the prior is N(``gen_mean``, ``gen_sigma``), the truth
    N(``truth_mean``, ``truth_sigma``); an event is fiducial (``pass_gen``)
    when ``gen > acceptance_cut``.

    Detector: ``reco = gen + s`` with s ~ N(``smear_mean``, ``smear_sigma``).
    The detector records an event with probability

    .. math:: \\varepsilon(g) = \\varepsilon_{min}
              + \\frac{\\varepsilon_{max} - \\varepsilon_{min}}
                      {1 + \\exp(-(g - g_{mid}) / w)},

    a logistic in gen rising from ``efficiency_min`` to ``efficiency_max``
    around ``efficiency_midpoint`` over a scale ``efficiency_width``, and the
    event passes the detector selection (``pass_reco``) when it is recorded and
    ``reco > reco_cut``. The reco features of events failing ``pass_reco`` are
    NaN.

    Non-fiducial events that smear above ``reco_cut`` pass the detector
    selection: they are the fakes. Fiducial events are lost through the
    recording efficiency and by smearing below ``reco_cut``. With the defaults
    (a detector selection a little looser than the fiducial one) about 4.2 % of
    the detector-level pseudo-data and 6.1 % of the detector-level simulation
    are fakes (:meth:`expected_fake_fraction`), and the probability that an
    event passes the detector selection (:meth:`efficiency`) rises from 0.47
    at the fiducial cut to 0.95.

    Parameters
    ----------
    gen_mean, gen_sigma : float
        Mean and standard deviation of the prior.
    truth_mean, truth_sigma : float
        Mean and standard deviation of the truth.
    smear_mean, smear_sigma : float
        Mean (detector bias) and standard deviation (resolution) of the
        smearing.
    acceptance_cut : float
        Fiducial selection: ``gen > acceptance_cut``.
    reco_cut : float
        Detector-level selection on recorded events: ``reco > reco_cut``.
    efficiency_min, efficiency_max : float
        Limits of the recording efficiency at low and high gen, in [0, 1].
    efficiency_midpoint, efficiency_width : float
        Centre and scale (> 0) of the logistic rise of the efficiency.
    """

    key: ClassVar[str] = "efficiency-fakes"
    name: ClassVar[str] = "Gaussian with efficiency, acceptance and fakes"

    gen_mean: float = 0.3
    gen_sigma: float = 2.5
    truth_mean: float = 1.2
    truth_sigma: float = 3.0
    smear_mean: float = 0.0
    smear_sigma: float = 1.0
    acceptance_cut: float = -2.0
    reco_cut: float = -3.0
    efficiency_min: float = 0.5
    efficiency_max: float = 0.95
    efficiency_midpoint: float = 0.0
    efficiency_width: float = 1.0

    def __post_init__(self) -> None:
        _check_positive(
            self, "gen_sigma", "truth_sigma", "smear_sigma", "efficiency_width"
        )
        if not 0.0 <= self.efficiency_min <= self.efficiency_max <= 1.0:
            raise ConfigurationError(
                "efficiency_min and efficiency_max must satisfy 0 <= "
                f"efficiency_min <= efficiency_max <= 1; got {self.efficiency_min}"
                f" and {self.efficiency_max}."
            )

    @property
    def n_gen_features(self) -> int:
        return 1

    @property
    def n_reco_features(self) -> int:
        return 1

    def recording_efficiency(self, gen: ArrayLike) -> NDArray[np.float64]:
        """Probability that the detector records an event, the logistic ε(gen)."""
        g = np.asarray(gen, dtype=np.float64)
        rise = special.expit((g - self.efficiency_midpoint) / self.efficiency_width)
        return self.efficiency_min + (self.efficiency_max - self.efficiency_min) * rise

    def efficiency(self, gen: ArrayLike) -> NDArray[np.float64]:
        """Probability that an event generated at ``gen`` passes ``pass_reco``.

        The recording efficiency times the probability that the smeared value
        lands above ``reco_cut``: ε(g) Φ((g + smear_mean - reco_cut) / smear_sigma).
        """
        g = np.asarray(gen, dtype=np.float64)
        above_cut = (g + self.smear_mean - self.reco_cut) / self.smear_sigma
        return self.recording_efficiency(g) * special.ndtr(above_cut)

    def expected_fake_fraction(
        self, model: Literal["truth", "prior"] = "truth"
    ) -> float:
        """Expected fraction of detector-level events that are fakes.

        .. math:: f = \\frac{\\int_{-\\infty}^{c} p(g)\\, e(g)\\, dg}
                           {\\int_{-\\infty}^{\\infty} p(g)\\, e(g)\\, dg},

        with p the particle-level density of ``model``, e the
        :meth:`efficiency` and c the ``acceptance_cut``, integrated
        numerically (:func:`scipy.integrate.quad`).
        """
        if model not in ("truth", "prior"):
            raise InputValueError(f"model must be 'truth' or 'prior'; got {model!r}.")
        mean, sigma = self._model(truth=model == "truth")

        def detected_density(g: float) -> float:
            return float(stats.norm.pdf(g, mean, sigma) * self.efficiency(g))

        fakes, _ = integrate.quad(detected_density, -np.inf, self.acceptance_cut)
        fiducial, _ = integrate.quad(detected_density, self.acceptance_cut, np.inf)
        return fakes / (fakes + fiducial)

    def _generate(self, n: int, rng: np.random.Generator, *, truth: bool) -> _Events:
        mean, sigma = self._model(truth=truth)
        gen = rng.normal(mean, sigma, size=n)
        reco = gen + rng.normal(self.smear_mean, self.smear_sigma, size=n)
        recorded = rng.random(n) < self.recording_efficiency(gen)

        pass_gen = gen > self.acceptance_cut
        pass_reco = recorded & (reco > self.reco_cut)
        reco = np.where(pass_reco, reco, np.nan)
        return _Events(gen[:, np.newaxis], reco[:, np.newaxis], pass_gen, pass_reco)

    def _fiducial_fraction(
        self, edges: NDArray[np.float64], observable: int, *, truth: bool
    ) -> NDArray[np.float64]:
        # The acceptance is a step at the cut, so the integral of the density
        # times the acceptance over a bin is a CDF difference with the bin's
        # edges raised to the cut.
        mean, sigma = self._model(truth=truth)
        fiducial_edges = np.maximum(edges, self.acceptance_cut)
        return np.diff(stats.norm.cdf(fiducial_edges, mean, sigma))

    def _density(
        self, x: NDArray[np.float64], observable: int, *, truth: bool, fiducial: bool
    ) -> NDArray[np.float64]:
        density = super()._density(x, observable, truth=truth, fiducial=fiducial)
        if fiducial:
            return np.where(x > self.acceptance_cut, density, 0.0)
        return density

    def _density_breaks(self, observable: int) -> tuple[float, ...]:
        return (self.acceptance_cut,)


@dataclass(frozen=True)
class CorrelatedGaussianToy(Toy):
    """Two or more correlated Gaussian observables; every event is selected.

    The prior is the multivariate normal N(``gen_mean``, ``gen_covariance``),
    the truth N(``truth_mean``, ``truth_covariance``); each reco feature is its
    gen feature plus independent smearing N(``smear_mean[k]``,
    ``smear_sigma[k]``). The number of observables is ``len(gen_mean)``.

    Parameters
    ----------
    gen_mean, truth_mean : sequence of float, length d >= 2
        Means of the prior and of the truth.
    gen_covariance, truth_covariance : sequence of sequences, shape (d, d)
        Covariances of the prior and of the truth (symmetric, positive
        definite).
    smear_mean, smear_sigma : sequence of float, length d
        Mean and standard deviation (> 0) of the smearing of each observable.

    Notes
    -----
    The defaults are a prior with unit variances and correlation 0.5, and a
    truth that is shifted by (0.4, -0.3), has standard deviations (1.2, 0.9)
    and correlation 0.7.
    """

    key: ClassVar[str] = "correlated-gaussian"
    name: ClassVar[str] = "correlated multivariate Gaussian"

    gen_mean: tuple[float, ...] = (0.0, 0.0)
    gen_covariance: tuple[tuple[float, ...], ...] = ((1.0, 0.5), (0.5, 1.0))
    truth_mean: tuple[float, ...] = (0.4, -0.3)
    truth_covariance: tuple[tuple[float, ...], ...] = ((1.44, 0.756), (0.756, 0.81))
    smear_mean: tuple[float, ...] = (0.0, 0.0)
    smear_sigma: tuple[float, ...] = (0.5, 0.5)

    def __post_init__(self) -> None:
        n = len(np.atleast_1d(self.gen_mean))
        if n < 2:
            raise ConfigurationError(
                f"gen_mean must have at least 2 entries (one per observable); got "
                f"{n}. Use ShiftedGaussianToy or EfficiencyFakesToy for one."
            )
        for field in ("gen_mean", "truth_mean", "smear_mean", "smear_sigma"):
            _freeze(self, field, _option_array(self, field, (n,)))
        for field in ("gen_covariance", "truth_covariance"):
            covariance = _option_array(self, field, (n, n))
            _check_covariance(field, covariance)
            _freeze(self, field, covariance)
        _check_positive(self, "smear_sigma")

    @property
    def n_gen_features(self) -> int:
        return len(self.gen_mean)

    @property
    def n_reco_features(self) -> int:
        return len(self.gen_mean)

    def expected_truth_2d(
        self,
        bins_x: ArrayLike,
        bins_y: ArrayLike,
        n_events: int,
        observables: tuple[int, int] = (0, 1),
    ) -> NDArray[np.float64]:
        """Expected truth events per bin of a two-dimensional histogram.

        Parameters
        ----------
        bins_x, bins_y : array_like
            Strictly increasing bin edges of the two observables (infinite
            outer edges allowed).
        n_events : int
            Number of events generated at particle level.
        observables : tuple of two int, default (0, 1)
            The two distinct gen columns binned along x and y.

        Returns
        -------
        ndarray, shape (len(bins_x) - 1, len(bins_y) - 1)
            Expected counts, in the layout of :func:`numpy.histogram2d`.

        Notes
        -----
        With x ~ N(mu_x, sigma_x), the conditional law of y given x is
        normal with mean mu_y + rho sigma_y (x - mu_x) / sigma_x and standard
        deviation sigma_y sqrt(1 - rho^2). The bin probabilities are integrals
        over each x bin of the x density times the conditional CDF at every y
        edge, computed with :func:`scipy.integrate.quad_vec`, and then
        differenced along y. This is deterministic, unlike the quasi-Monte
        Carlo of :meth:`scipy.stats.multivariate_normal.cdf`.
        """
        return self._expected_2d(bins_x, bins_y, n_events, observables, truth=True)

    def expected_prior_2d(
        self,
        bins_x: ArrayLike,
        bins_y: ArrayLike,
        n_events: int,
        observables: tuple[int, int] = (0, 1),
    ) -> NDArray[np.float64]:
        """Like :meth:`expected_truth_2d`, for the simulation's gen model."""
        return self._expected_2d(bins_x, bins_y, n_events, observables, truth=False)

    def _expected_2d(
        self,
        bins_x: ArrayLike,
        bins_y: ArrayLike,
        n_events: int,
        observables: tuple[int, int],
        *,
        truth: bool,
    ) -> NDArray[np.float64]:
        edges_x = _bin_edges("bins_x", bins_x)
        edges_y = _bin_edges("bins_y", bins_y)
        n = _event_count(n_events)
        i, j = self._check_observable_pair(observables)

        mean, covariance = self._model(truth=truth)
        pair = [i, j]
        probabilities = _bivariate_normal_bins(
            edges_x, edges_y, mean[pair], covariance[np.ix_(pair, pair)]
        )
        return n * probabilities

    def _check_observable_pair(self, observables: tuple[int, int]) -> tuple[int, int]:
        pair = tuple(observables) if isinstance(observables, tuple | list) else ()
        if len(pair) != 2 or pair[0] == pair[1]:
            raise InputValueError(
                "observables must be a pair of distinct gen column indices; got "
                f"{observables!r}."
            )
        for observable in pair:
            self._check_observable(observable)
        return int(pair[0]), int(pair[1])

    def _generate(self, n: int, rng: np.random.Generator, *, truth: bool) -> _Events:
        mean, covariance = self._model(truth=truth)
        gen = rng.multivariate_normal(mean, covariance, size=n, method="cholesky")
        smearing = rng.normal(
            self.smear_mean, self.smear_sigma, size=(n, self.n_reco_features)
        )
        selected = np.ones(n, dtype=bool)
        return _Events(gen, gen + smearing, selected, selected.copy())

    def _fiducial_fraction(
        self, edges: NDArray[np.float64], observable: int, *, truth: bool
    ) -> NDArray[np.float64]:
        mean, covariance = self._model(truth=truth)
        sigma = np.sqrt(covariance[observable, observable])
        return np.diff(stats.norm.cdf(edges, mean[observable], sigma))

    def _density(
        self, x: NDArray[np.float64], observable: int, *, truth: bool, fiducial: bool
    ) -> NDArray[np.float64]:
        mean, covariance = self._model(truth=truth)
        sigma = np.sqrt(covariance[observable, observable])
        return np.asarray(stats.norm.pdf(x, mean[observable], sigma), np.float64)

    def _model(self, *, truth: bool) -> tuple[NDArray[np.float64], NDArray[np.float64]]:
        if truth:
            return np.array(self.truth_mean), np.array(self.truth_covariance)
        return np.array(self.gen_mean), np.array(self.gen_covariance)


@dataclass(frozen=True)
class ReweightedToy(Toy):
    """Another toy whose truth is reweighted by a function of one gen feature.

    The prior and the detector are those of ``base``. The truth density
    p(x) of gen column ``observable`` becomes

    .. math:: p_w(x) = \\frac{p(x)\\, w(x)}{Z}, \\qquad Z = \\int p(x)\\, w(x)\\, dx,

    with the integral over all generated events (fiducial or not), so that
    ``n_events`` still counts generated events. Pseudo-data are drawn by
    rejection: events of the base truth, detector response included, are
    accepted with probability w(x) / ``maximum`` until ``n_events`` are
    kept. :meth:`expected_truth` integrates the base's fiducial density times
    w over each bin with :func:`scipy.integrate.quad` (split at ``breaks``
    and at the base's own jumps), so the reweighted truth is exact to the
    quadrature's tolerance, not a Monte Carlo estimate.

    Parameters
    ----------
    base : Toy
        The toy to reweight; it must give its density (``Toy._density``),
        as every toy of :data:`TOYS` does.
    weight : callable
        w(x) for an array of gen values: finite, non-negative and at most
        ``maximum``. To reach worker processes it must be picklable (a
        module-level function or a dataclass instance, not a lambda).
    maximum : float
        An upper bound of w, the envelope of the rejection; the tighter, the
        fewer events are thrown away.
    breaks : tuple of float
        Values of x where w has a kink, a jump or a narrow feature; the
        integrals are split there.
    observable : int, default 0
        The gen column that w is a function of.

    Notes
    -----
    :meth:`expected_truth` is computed for the reweighted column only: with
    correlated features the reweighting also changes the other columns, whose
    expectation would need the joint density.
    """

    key: ClassVar[str] = "reweighted"
    name: ClassVar[str] = "reweighted toy"

    base: Toy
    weight: Callable[[NDArray[np.float64]], NDArray[np.float64]]
    maximum: float
    breaks: tuple[float, ...] = ()
    observable: int = 0

    def __post_init__(self) -> None:
        if not isinstance(self.base, Toy):
            raise InputTypeError(f"base must be a Toy; got {type(self.base).__name__}.")
        if not callable(self.weight):
            raise InputTypeError(
                "weight must be a function of an array of gen values; got "
                f"{type(self.weight).__name__}."
            )
        if not (np.isfinite(self.maximum) and self.maximum > 0):
            raise ConfigurationError(
                f"maximum must be a finite upper bound > 0 of the weight; got "
                f"{self.maximum!r}."
            )
        self.base._check_observable(self.observable)
        object.__setattr__(self, "breaks", tuple(float(b) for b in self.breaks))

    @property
    def n_gen_features(self) -> int:
        return self.base.n_gen_features

    @property
    def n_reco_features(self) -> int:
        return self.base.n_reco_features

    def _generate(self, n: int, rng: np.random.Generator, *, truth: bool) -> _Events:
        if not truth:
            return self.base._generate(n, rng, truth=False)
        kept: list[_Events] = []
        accepted = candidates = 0
        while accepted < n:
            size = _batch_size(n - accepted, accepted, candidates)
            events = self.base._generate(size, rng, truth=True)
            threshold = self.maximum * rng.random(size)
            keep = threshold < self._weights(events.gen[:, self.observable])
            kept.append(_select(events, keep))
            accepted += int(keep.sum())
            candidates += size
            if accepted < n and candidates > _MAX_CANDIDATES_PER_EVENT * n:
                raise ConfigurationError(
                    f"the weight accepts {accepted} of {candidates} candidate "
                    f"events; its maximum {self.maximum:g} is far above its "
                    "typical value. Pass a tighter maximum."
                )
        return _select(_concatenate(kept), slice(0, n))

    def _fiducial_fraction(
        self, edges: NDArray[np.float64], observable: int, *, truth: bool
    ) -> NDArray[np.float64]:
        if not truth:
            return self.base._fiducial_fraction(edges, observable, truth=False)
        if observable != self.observable:
            raise NotImplementedError(
                f"the truth is reweighted in gen column {self.observable}; the "
                f"expectation of column {observable} would need the joint "
                f"density. Bin column {self.observable}."
            )
        total = self._integral(-np.inf, np.inf, fiducial=False)
        per_bin = [
            self._integral(lo, hi, fiducial=True)
            for lo, hi in itertools.pairwise(edges)
        ]
        return np.array(per_bin) / total

    def _integral(self, lo: float, hi: float, *, fiducial: bool) -> float:
        """Integral of the base truth density (fiducial or all) times w."""

        def integrand(x: float) -> float:
            at = np.array([x])
            density = self.base._density(
                at, self.observable, truth=True, fiducial=fiducial
            )
            return float(density[0] * self._weights(at)[0])

        breaks = (*self.breaks, *self.base._density_breaks(self.observable))
        points = [lo, *sorted({b for b in breaks if lo < b < hi}), hi]
        return sum(
            integrate.quad(integrand, a, b, epsabs=_QUAD_EPSABS, epsrel=_QUAD_EPSREL)[0]
            for a, b in itertools.pairwise(points)
        )

    def _weights(self, x: NDArray[np.float64]) -> NDArray[np.float64]:
        """w(x), checked against the rules the rejection relies on."""
        w = np.asarray(self.weight(x), dtype=np.float64)
        if w.shape != x.shape:
            raise ConfigurationError(
                f"weight must return one value per gen value, shape {x.shape}; "
                f"got shape {w.shape}."
            )
        if not np.all(np.isfinite(w) & (w >= 0) & (w <= self.maximum)):
            bad = w[~(np.isfinite(w) & (w >= 0) & (w <= self.maximum))]
            raise ConfigurationError(
                f"weight must be finite and in [0, maximum={self.maximum:g}]; got "
                f"{bad[0]!r}. Raise maximum to the weight's largest value."
            )
        return w


TOYS: dict[str, type[Toy]] = {
    toy.key: toy
    for toy in (ShiftedGaussianToy, EfficiencyFakesToy, CorrelatedGaussianToy)
}
"""Every toy class, by its ``key``."""


def _select(events: _Events, keep: NDArray[np.bool_] | slice) -> _Events:
    return _Events(
        events.gen[keep],
        events.reco[keep],
        events.pass_gen[keep],
        events.pass_reco[keep],
    )


def _concatenate(batches: list[_Events]) -> _Events:
    return _Events(
        np.concatenate([batch.gen for batch in batches]),
        np.concatenate([batch.reco for batch in batches]),
        np.concatenate([batch.pass_gen for batch in batches]),
        np.concatenate([batch.pass_reco for batch in batches]),
    )


def _batch_size(missing: int, accepted: int, candidates: int) -> int:
    """Candidates to draw for ``missing`` events at the acceptance seen so far."""
    if accepted == 0:
        return max(2 * missing, 64) if candidates else missing
    return int(np.ceil(1.1 * missing * candidates / accepted)) + 16


def _event_count(n_events: int) -> int:
    if not isinstance(n_events, numbers.Integral) or isinstance(n_events, bool):
        raise InputTypeError(
            f"n_events must be an integer count of generated events; got "
            f"{n_events!r} of type {type(n_events).__name__}."
        )
    if n_events < 1:
        raise InputValueError(f"n_events must be at least 1; got {n_events}.")
    return int(n_events)


def _generator(rng: np.random.Generator) -> np.random.Generator:
    if not isinstance(rng, np.random.Generator):
        raise InputTypeError(
            f"rng must be a numpy.random.Generator; got {type(rng).__name__}. "
            "Pass numpy.random.default_rng(seed)."
        )
    return rng


def _bin_edges(name: str, bins: ArrayLike) -> NDArray[np.float64]:
    edges = np.asarray(bins, dtype=np.float64)
    if edges.ndim != 1 or edges.size < 2:
        raise InputValueError(
            f"{name} must be a 1-D array of at least 2 bin edges; got shape "
            f"{edges.shape}."
        )
    if np.any(np.isnan(edges)):
        raise NonFiniteError(f"{name} holds NaN; bin edges must be numbers.")
    if np.any(np.diff(edges) <= 0):
        raise InputValueError(f"{name} must be strictly increasing; got {edges}.")
    return edges


def _check_positive(toy: Any, *fields: str) -> None:
    for field in fields:
        values = np.asarray(getattr(toy, field))
        if not np.all(values > 0):
            raise ConfigurationError(
                f"{field} must be positive; got {getattr(toy, field)!r}."
            )


def _option_array(toy: Any, field: str, shape: tuple[int, ...]) -> NDArray[Any]:
    values = np.asarray(getattr(toy, field), dtype=np.float64)
    if values.shape != shape:
        raise ConfigurationError(
            f"{field} must have shape {shape} to match gen_mean; got {values.shape}."
        )
    if not np.all(np.isfinite(values)):
        raise ConfigurationError(f"{field} must be finite; got {values.tolist()}.")
    return values


def _freeze(toy: Any, field: str, values: NDArray[Any]) -> None:
    """Store an option as (nested) tuples, so that the toy stays hashable."""
    if values.ndim == 2:
        object.__setattr__(toy, field, tuple(map(tuple, values.tolist())))
    else:
        object.__setattr__(toy, field, tuple(values.tolist()))


def _check_covariance(field: str, covariance: NDArray[np.float64]) -> None:
    if not np.allclose(covariance, covariance.T):
        raise ConfigurationError(f"{field} must be symmetric; got {covariance}.")
    try:
        np.linalg.cholesky(covariance)
    except np.linalg.LinAlgError:
        raise ConfigurationError(
            f"{field} must be positive definite; got {covariance.tolist()}."
        ) from None


def _bivariate_normal_bins(
    edges_x: NDArray[np.float64],
    edges_y: NDArray[np.float64],
    mean: NDArray[np.float64],
    covariance: NDArray[np.float64],
) -> NDArray[np.float64]:
    """Probability of each rectangular bin under a bivariate normal.

    P(x in [a, b], y <= e) = integral from a to b of phi(u) Phi((e' - r u))
    du, in the standardised u = (x - mu_x) / sigma_x, with
    e' = (e - mu_y) / (sigma_y sqrt(1 - rho^2)) and r = rho / sqrt(1 - rho^2)
    (the conditional law of y given x); differences along y give the bins.
    """
    sigma_x, sigma_y = np.sqrt(np.diag(covariance))
    rho = covariance[0, 1] / (sigma_x * sigma_y)
    conditional_scale = np.sqrt(1.0 - rho**2)
    u_edges = (edges_x - mean[0]) / sigma_x
    y_scaled = (edges_y - mean[1]) / (sigma_y * conditional_scale)
    slope = rho / conditional_scale

    def below_each_y_edge(u: float) -> NDArray[np.float64]:
        return special.ndtr(y_scaled - slope * u) * stats.norm.pdf(u)

    cumulative = [
        integrate.quad_vec(
            below_each_y_edge, lo, hi, epsabs=_QUAD_EPSABS, epsrel=_QUAD_EPSREL
        )[0]
        for lo, hi in itertools.pairwise(u_edges)
    ]
    return np.diff(np.array(cumulative), axis=1)
