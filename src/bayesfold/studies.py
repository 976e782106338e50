"""Studies on pseudo-experiments: does an interval mean what it says?

:func:`coverage` unfolds many pseudo-data sets drawn from a toy's truth model
and counts how often each bin's 68 % and 95 % interval holds the analytic
expected truth count. :func:`compare` unfolds one pseudo-data set with every
method and measures each against the analytic truth; :func:`stress` does the
same with data drawn from a truth reweighted by a known shape
(:class:`LinearShape`, :class:`BumpShape`) and measures how much of that shape
each method recovers. The binned methods (IBU, FBU) unfold in the study's own
bins, so that every method is judged on the same bins.
"""

from __future__ import annotations

import logging
import multiprocessing
import time
import warnings
from collections.abc import Callable, Mapping, Sequence
from concurrent.futures import ProcessPoolExecutor, as_completed
from dataclasses import asdict, dataclass, field
from typing import Any, Literal

import numpy as np
from numpy.typing import ArrayLike, NDArray
from tqdm import tqdm

from bayesfold.exceptions import BayesfoldWarning, ConfigurationError
from bayesfold.methods import BINNED_METHODS, METHODS, unfold
from bayesfold.metrics import chi2, triangular_discriminator
from bayesfold.result import PosteriorSummary, bin_edges
from bayesfold.samples import DataSample, SimulationSample
from bayesfold.toys import PseudoData, ReweightedToy, Toy

__all__ = [
    "DEFAULT_COMPARE_METHODS",
    "SHAPES",
    "BumpShape",
    "CompareResult",
    "CoverageResult",
    "LinearShape",
    "MethodComparison",
    "StressResult",
    "compare",
    "coverage",
    "stress",
]

logger = logging.getLogger(__name__)

#: Methods of :func:`compare` and :func:`stress` unless ``methods`` is given.
DEFAULT_COMPARE_METHODS = ("bayesian", "point", "bootstrap", "ibu", "fbu")

#: Methods that give one draw, so ``replicas`` is not passed to them (for the
#: others it sets the number of draws).
_ONE_DRAW_METHODS = frozenset({"point", "gbdt"})

#: The default bump of :class:`BumpShape` sits at the middle of the binned
#: range and has a standard deviation of this fraction of the range.
BUMP_WIDTH_FRACTION = 1 / 8

#: A stress shape whose largest change of a bin's share of the truth is below
#: this has injected nothing to recover (strength 0, up to the quadrature).
_NO_SHAPE = 1e-9


@dataclass(frozen=True)
class CoverageResult:
    """Coverage of one method over pseudo-experiments.

    ``coverage_68`` and ``coverage_95`` are fractions of (experiment, bin)
    pairs whose interval holds the expected truth; their errors are binomial,
    ``sqrt(p (1 - p) / N)`` over the N pairs, which treats the bins as
    independent and so understates the error when bins are correlated.
    Pulls are ``(posterior mean - truth) / posterior standard deviation``.
    A one-draw method (point OmniFold) has no interval: its coverage, pull and
    width figures are NaN, and only its accuracy is measured.

    ``triangular_mean`` is :func:`~bayesfold.metrics.triangular_discriminator`
    of the mean unfolded histogram against the expected truth, averaged over
    the experiments, with the standard error of that average
    (``triangular_error``). ``draws`` (experiments, draws, bins) and ``truth``
    (experiments, bins) hold each experiment's histograms, for studies of
    the intervals after the fact; :meth:`as_dict` leaves them out.
    ``n_generated`` is each pseudo-data set's number of generated events.

    The joint test: ``chi2`` holds, per experiment, the
    :func:`~bayesfold.metrics.chi2` of the mean unfolded histogram against
    the truth with the draws' covariance (the bins the truth fills), whose
    degrees of freedom are the covariance's rank (``chi2_ndf``, the median
    over the experiments). Honest covariances give chi2-distributed values:
    ``chi2_median`` near ``chi2_median_expected`` (the median of the chi2 law)
    and ``chi2_tail_fraction``, the fraction of experiments with a p-value
    below 0.05, near 0.05 (binomial error ``chi2_tail_fraction_error``).
    Per-bin intervals can cover while the covariance misses how the bins
    move together; this is the figure that shows it. NaN (and an empty list)
    for methods with no more draws than bins, whose covariance is singular.
    """

    method: str
    experiments: int
    bins: list[float]
    coverage_68: float
    coverage_68_error: float
    coverage_95: float
    coverage_95_error: float
    pull_mean: float
    pull_width: float
    mean_width_68: float
    mean_width_95: float
    triangular_mean: float
    triangular_error: float
    seconds: float
    coverage_68_per_bin: list[float]
    coverage_95_per_bin: list[float]
    pull_mean_per_bin: list[float]
    n_generated: list[int]
    chi2: list[float]
    chi2_ndf: float
    chi2_median: float
    chi2_median_expected: float
    chi2_tail_fraction: float
    chi2_tail_fraction_error: float
    draws: NDArray[np.float64] = field(repr=False)
    truth: NDArray[np.float64] = field(repr=False)

    def as_dict(self) -> dict[str, Any]:
        """JSON-ready values (NaN as ``None``), without the draws."""
        out = {
            key: value
            for key, value in vars(self).items()
            if key not in ("draws", "truth")
        }
        return _json_ready(out)


def coverage(
    toy: Toy,
    *,
    method: str,
    experiments: int,
    bins: ArrayLike,
    events: int = 1000,
    data_events: int | None = None,
    iterations: int = 4,
    fresh_simulation: bool = False,
    poisson_total: bool = True,
    random_state: int | None = None,
    progress: bool = True,
    workers: int = 1,
    **options: Any,
) -> CoverageResult:
    """Unfold ``experiments`` pseudo-data sets of ``toy`` and measure coverage.

    Parameters
    ----------
    toy : Toy
        Truth and detector model; ``expected_truth`` gives the reference.
    method : str
        A method of :data:`bayesfold.methods.METHODS` with more than one draw.
    experiments : int
        Number of pseudo-experiments.
    bins : array_like
        Bin edges of the first gen observable; the binned methods
        (:data:`~bayesfold.methods.BINNED_METHODS`) unfold in these bins
        unless ``options`` says otherwise.
    events, data_events : int
        Simulated events, and generated events per pseudo-data set (default:
        ``events``; the mean, with ``poisson_total``).
    iterations : int
        OmniFold (and IBU) iterations; FBU has none.
    fresh_simulation : bool
        Draw a new simulation for every experiment; by default one simulation
        serves all, as in an analysis.
    poisson_total : bool
        Draw each pseudo-data set's number of generated events from a Poisson
        distribution of mean ``data_events``, and take as truth the expected
        count for that mean, as in a counting experiment (default). Every
        method here models its data as Poisson counts (the Bayesian data
        total, the Poisson bootstrap, IBU's data covariance, FBU's
        likelihood), so on a fixed count they over-cover: a bin holding a
        fraction p of the events varies by ``n p (1 - p)`` at fixed n but by
        ``n p`` for Poisson counts. With ``poisson_total=False`` the count is
        fixed and the truth is the expected count for it.
    random_state : int, optional
        Seed of the whole study. The pseudo-data and every seed are drawn
        before the first unfolding, so the result does not depend on
        ``workers``.
    workers : int
        Processes that unfold experiments side by side (each with one BLAS
        thread; DESIGN.md, "Scale").
    **options
        Passed to :func:`bayesfold.methods.unfold` (for example ``replicas``).
    """
    if experiments < 1:
        raise ConfigurationError(f"experiments must be at least 1; got {experiments}.")
    edges = bin_edges(np.asarray(bins, dtype=float))
    if method in BINNED_METHODS:
        options = {"bins": edges, **options}
    if method in _ONE_DRAW_METHODS:  # replicas would turn them into ensembles
        options = {k: v for k, v in options.items() if k != "replicas"}
    n_data = events if data_events is None else data_events
    rng = np.random.default_rng(random_state)
    simulation = toy.simulate(events, rng)
    tasks = []
    for _ in range(experiments):
        if fresh_simulation:
            simulation = toy.simulate(events, rng)
        n_generated = int(rng.poisson(n_data)) if poisson_total else n_data
        measured = toy.measure(n_generated, rng)
        tasks.append(
            _Experiment(
                toy=toy,
                simulation=simulation,
                measured=measured,
                expected_generated=n_data,
                edges=edges,
                method=method,
                iterations=iterations,
                seed=int(rng.integers(2**31)),
                options=options,
            )
        )

    outcomes = _run_all(
        _unfold_experiment, tasks, workers, progress, f"coverage {method}"
    )
    return _coverage_result(method, experiments, edges, outcomes)


def _coverage_result(
    method: str, experiments: int, edges: NDArray[np.float64], outcomes: list[_Outcome]
) -> CoverageResult:
    draws = np.array([o.draws for o in outcomes])
    truth = np.array([o.truth for o in outcomes])
    triangular = np.array([o.triangular for o in outcomes])
    n_bins = truth.shape[1]
    if draws.shape[1] > 1:
        summaries = [PosteriorSummary.from_draws(edges, d) for d in draws]

        def stacked(name: str) -> NDArray[np.float64]:
            return np.array([getattr(summary, name) for summary in summaries])

        lower_68, upper_68 = stacked("lower_68"), stacked("upper_68")
        lower_95, upper_95 = stacked("lower_95"), stacked("upper_95")
        covered_68 = _inside(truth, lower_68, upper_68)
        covered_95 = _inside(truth, lower_95, upper_95)
        pulls = _pulls(stacked("mean"), stacked("std"), truth)
        width_68, width_95 = upper_68 - lower_68, upper_95 - lower_95
    else:  # one draw: no interval, accuracy only
        covered_68 = covered_95 = np.full((experiments, n_bins), np.nan)
        pulls = width_68 = width_95 = np.full((experiments, n_bins), np.nan)
    finite_pulls = pulls[np.isfinite(pulls)]
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", RuntimeWarning)  # all-NaN bins
        pull_mean_per_bin = np.nanmean(pulls, axis=0)
    return CoverageResult(
        method=method,
        experiments=experiments,
        bins=edges.tolist(),
        coverage_68=float(covered_68.mean()),
        coverage_68_error=_binomial_error(covered_68),
        coverage_95=float(covered_95.mean()),
        coverage_95_error=_binomial_error(covered_95),
        pull_mean=float(finite_pulls.mean()) if finite_pulls.size else float("nan"),
        pull_width=(
            float(finite_pulls.std(ddof=1)) if finite_pulls.size > 1 else float("nan")
        ),
        mean_width_68=float(width_68.mean()),
        mean_width_95=float(width_95.mean()),
        triangular_mean=float(triangular.mean()),
        triangular_error=(
            float(triangular.std(ddof=1) / np.sqrt(triangular.size))
            if triangular.size > 1
            else float("nan")
        ),
        seconds=sum(outcome.seconds for outcome in outcomes),
        coverage_68_per_bin=covered_68.mean(axis=0).tolist(),
        coverage_95_per_bin=covered_95.mean(axis=0).tolist(),
        pull_mean_per_bin=pull_mean_per_bin.tolist(),
        n_generated=[o.n_generated for o in outcomes],
        **_joint_chi2(draws, truth),
        draws=draws,
        truth=truth,
    )


#: p-value below which an experiment counts in ``chi2_tail_fraction``.
_CHI2_TAIL = 0.05


def _joint_chi2(
    draws: NDArray[np.float64], truth: NDArray[np.float64]
) -> dict[str, Any]:
    """The joint-test fields of :class:`CoverageResult` (see its notes)."""
    from scipy import stats

    n_bins = truth.shape[1]
    if draws.shape[1] <= n_bins:
        nan = float("nan")
        return {
            "chi2": [],
            "chi2_ndf": nan,
            "chi2_median": nan,
            "chi2_median_expected": nan,
            "chi2_tail_fraction": nan,
            "chi2_tail_fraction_error": nan,
        }
    tests = []
    for sample, expected in zip(draws, truth, strict=True):
        used = expected > 0
        covariance = np.atleast_2d(np.cov(sample[:, used], rowvar=False))
        with warnings.catch_warnings():
            # Singular directions are left out; the rank (ndf) says so.
            warnings.simplefilter("ignore", BayesfoldWarning)
            tests.append(chi2(sample[:, used].mean(axis=0), expected[used], covariance))
    values = np.array([test.chi2 for test in tests])
    tail = np.array([test.p_value < _CHI2_TAIL for test in tests])
    ndf = float(np.median([test.ndf for test in tests]))
    return {
        "chi2": values.tolist(),
        "chi2_ndf": ndf,
        "chi2_median": float(np.median(values)),
        "chi2_median_expected": float(stats.chi2.median(ndf)),
        "chi2_tail_fraction": float(tail.mean()),
        "chi2_tail_fraction_error": _binomial_error(tail),
    }


@dataclass(frozen=True)
class _Experiment:
    """One pseudo-experiment, ready to unfold (in this or a worker process)."""

    toy: Toy
    simulation: SimulationSample
    measured: PseudoData
    expected_generated: int  # the truth is the expected count for this many
    edges: NDArray[np.float64]
    method: str
    iterations: int
    seed: int
    options: dict[str, Any]


@dataclass(frozen=True)
class _Outcome:
    draws: NDArray[np.float64]
    truth: NDArray[np.float64]
    triangular: float
    seconds: float
    n_generated: int


def _unfold_experiment(task: _Experiment) -> _Outcome:
    result = unfold(
        task.simulation,
        task.measured.data,
        method=task.method,
        iterations=task.iterations,
        random_state=task.seed,
        progress=False,
        **task.options,
    )
    draws = result.histogram_draws(0, task.edges)
    truth = task.toy.expected_truth(task.edges, task.expected_generated)
    return _Outcome(
        draws=draws,
        truth=truth,
        triangular=triangular_discriminator(draws.mean(axis=0), truth),
        seconds=result.seconds,
        n_generated=task.measured.n_generated,
    )


def _run_all[Task, Outcome](
    function: Callable[[Task], Outcome],
    tasks: list[Task],
    workers: int,
    progress: bool,
    label: str,
) -> list[Outcome]:
    """``function`` of every task, in order, here or in ``workers`` processes."""
    if workers < 1:
        raise ConfigurationError(f"workers must be at least 1; got {workers}.")
    bar = tqdm(total=len(tasks), desc=label, disable=not progress)
    if workers == 1:
        outcomes = []
        for task in tasks:
            outcomes.append(function(task))
            bar.update()
        bar.close()
        return outcomes
    # Spawned, not forked: JAX and the BLAS pools hold threads that a fork
    # would copy in an unknown state.
    context = multiprocessing.get_context("spawn")
    with ProcessPoolExecutor(max_workers=workers, mp_context=context) as pool:
        futures = [pool.submit(function, task) for task in tasks]
        for future in as_completed(futures):
            future.result()
            bar.update()
        bar.close()
        return [future.result() for future in futures]


def _inside(
    value: NDArray[np.float64], lower: NDArray[np.float64], upper: NDArray[np.float64]
) -> NDArray[np.bool_]:
    return (lower <= value) & (value <= upper)


def _pulls(
    mean: NDArray[np.float64], std: NDArray[np.float64], truth: NDArray[np.float64]
) -> NDArray[np.float64]:
    out = np.full_like(mean, np.nan)
    np.divide(mean - truth, std, out=out, where=std > 0)
    return out


def _binomial_error(hits: NDArray[np.bool_]) -> float:
    p = float(hits.mean())
    return float(np.sqrt(p * (1 - p) / hits.size))


# --- compare: every method on one pseudo-data set -----------------------------


@dataclass(frozen=True)
class MethodComparison:
    """One method's unfolding of the compared pseudo-data, against the truth.

    Bins whose expected truth is zero (below a fiducial cut, say) hold no
    information and are left out of ``chi2_vs_truth``, ``ndf`` and
    ``mean_interval_width``; the histograms keep every bin.

    Attributes
    ----------
    method : str
    draws : int
        Draws of the result (1 for point estimates).
    triangular_vs_truth : float
        :func:`~bayesfold.metrics.triangular_discriminator` of the mean
        unfolded histogram and the expected truth (shapes only; not scaled by
        1000).
    chi2_vs_truth, ndf : float, int
        :func:`~bayesfold.metrics.chi2` of the mean unfolded histogram against
        the expected truth, with ``covariance`` and its rank as ``ndf``.
    chi2_covariance : {"draws", "poisson"}
        What ``covariance`` is: the covariance of the draws, or, for a
        one-draw method, the Poisson variance of the truth counts on the
        diagonal (Pearson's chi2). The second ignores what unfolding adds to
        the variance, so its chi2 per ndf is above 1 even for a perfect
        method.
    mean_interval_width : float
        Mean width of the central 68 % interval of the draws; NaN for one
        draw.
    seconds : float
        Wall time of :func:`bayesfold.methods.unfold`, compilation included.
    mean, lower_68, upper_68 : ndarray, shape (n_bins,)
        Mean over draws and central 68 % interval (NaN for one draw).
    covariance : ndarray, shape (n_bins, n_bins)
        As ``chi2_covariance`` says.
    """

    method: str
    draws: int
    triangular_vs_truth: float
    chi2_vs_truth: float
    ndf: int
    chi2_covariance: str
    mean_interval_width: float
    seconds: float
    mean: NDArray[np.float64]
    lower_68: NDArray[np.float64]
    upper_68: NDArray[np.float64]
    covariance: NDArray[np.float64]

    def as_dict(self) -> dict[str, Any]:
        """JSON-ready values: lists for arrays, ``None`` for NaN."""
        return _json_ready(asdict(self))


@dataclass(frozen=True)
class CompareResult:
    """Every method's unfolding of one simulation and one pseudo-data set.

    ``truth`` is the analytic expected truth per bin for ``n_generated``
    generated events (:meth:`Toy.expected_truth`); ``prior`` the fiducial gen
    histogram of the simulation scaled by data over simulation at detector
    level, as OmniFold's first iteration starts from. ``n_data`` counts the
    pseudo-data events that pass the detector selection.
    """

    toy: str
    bins: NDArray[np.float64]
    events: int
    n_generated: int
    n_data: int
    iterations: int
    random_state: int | None
    truth: NDArray[np.float64]
    prior: NDArray[np.float64]
    methods: dict[str, MethodComparison]

    def as_dict(self) -> dict[str, Any]:
        """JSON-ready values: lists for arrays, ``None`` for NaN."""
        out = {key: value for key, value in vars(self).items() if key != "methods"}
        out = _json_ready(out)
        out["methods"] = {name: m.as_dict() for name, m in self.methods.items()}
        return out


def compare(
    toy: Toy,
    *,
    bins: ArrayLike,
    methods: Sequence[str] = DEFAULT_COMPARE_METHODS,
    events: int = 1000,
    data_events: int | None = None,
    iterations: int = 4,
    replicas: int | None = None,
    method_options: Mapping[str, Mapping[str, Any]] | None = None,
    random_state: int | None = None,
    progress: bool = True,
    workers: int = 1,
    **options: Any,
) -> CompareResult:
    """Unfold one pseudo-data set of ``toy`` with each method, against the truth.

    One simulation and one pseudo-data set are drawn; every method unfolds
    those same events, and is measured against the analytic expected truth
    (:class:`MethodComparison`).

    Parameters
    ----------
    toy : Toy
        Truth and detector model.
    bins : array_like
        Bin edges of the first gen observable; the binned methods unfold in
        them.
    methods : sequence of str
        Names of :data:`bayesfold.methods.METHODS`.
    events, data_events : int
        Simulated events, and generated pseudo-data events (default:
        ``events``).
    iterations : int
        OmniFold and IBU iterations; FBU has none.
    replicas : int, optional
        Draws of every method that has draws (not point or gbdt); each
        method's default otherwise.
    method_options : mapping, optional
        Method name to keyword arguments for that method only (for example
        ``{"fbu": {"draws": 2000}}``); they override ``options``.
    random_state : int, optional
        Seed of the samples and of every method. Each method gets the same
        seed, so its result does not depend on which others are compared.
    workers : int
        Processes unfolding methods side by side. Their ``seconds`` then
        share the machine; use 1 to time them.
    **options
        Passed to every method's :func:`~bayesfold.methods.unfold`.
    """
    names = _method_names(methods)
    own_options = _own_options(method_options, names)
    edges = bin_edges(np.asarray(bins, dtype=float))
    n_data = events if data_events is None else data_events
    rng = np.random.default_rng(random_state)
    simulation = toy.simulate(events, rng)
    measured = toy.measure(n_data, rng)
    seed = int(rng.integers(2**31))
    truth = toy.expected_truth(edges, measured.n_generated)

    tasks = [
        _MethodTask(
            method=name,
            simulation=simulation,
            data=measured.data,
            truth=truth,
            edges=edges,
            iterations=iterations,
            seed=seed,
            options=_method_options(
                name, edges, replicas, {**options, **own_options.get(name, {})}
            ),
        )
        for name in names
    ]
    outcomes = _run_all(_compare_method, tasks, workers, progress, "compare")
    for outcome in outcomes:
        logger.info(
            "%s: triangular x1000 %.2f, chi2 %.1f / %d, %.1f s",
            outcome.method,
            1000 * outcome.triangular_vs_truth,
            outcome.chi2_vs_truth,
            outcome.ndf,
            outcome.seconds,
        )
    return CompareResult(
        toy=toy.key,
        bins=edges,
        events=events,
        n_generated=measured.n_generated,
        n_data=measured.data.n_events,
        iterations=iterations,
        random_state=random_state,
        truth=truth,
        prior=_prior_counts(simulation, measured.data, edges),
        methods={outcome.method: outcome for outcome in outcomes},
    )


@dataclass(frozen=True)
class _MethodTask:
    """One method to run on the compared samples (here or in a worker)."""

    method: str
    simulation: SimulationSample
    data: DataSample
    truth: NDArray[np.float64]
    edges: NDArray[np.float64]
    iterations: int
    seed: int
    options: dict[str, Any]


def _compare_method(task: _MethodTask) -> MethodComparison:
    start = time.perf_counter()
    result = unfold(
        task.simulation,
        task.data,
        method=task.method,
        iterations=task.iterations,
        random_state=task.seed,
        progress=False,
        **task.options,
    )
    seconds = time.perf_counter() - start
    posterior = result.posterior(0, task.edges)
    return _measure(task.method, posterior, task.truth, seconds)


def _measure(
    method: str,
    posterior: PosteriorSummary,
    truth: NDArray[np.float64],
    seconds: float,
) -> MethodComparison:
    """The figures of :class:`MethodComparison` for one posterior summary."""
    n_draws = len(posterior.draws)
    if n_draws > 1:
        covariance, source = posterior.covariance, "draws"
        lower, upper = posterior.lower_68, posterior.upper_68
    else:
        covariance, source = np.diag(truth), "poisson"
        lower = upper = np.full_like(truth, np.nan)

    used = truth > 0
    test = chi2(posterior.mean[used], truth[used], covariance[np.ix_(used, used)])
    widths = (upper - lower)[used]
    return MethodComparison(
        method=method,
        draws=n_draws,
        triangular_vs_truth=triangular_discriminator(posterior.mean, truth),
        chi2_vs_truth=test.chi2,
        ndf=test.ndf,
        chi2_covariance=source,
        mean_interval_width=float(np.mean(widths)) if n_draws > 1 else float("nan"),
        seconds=seconds,
        mean=posterior.mean,
        lower_68=lower,
        upper_68=upper,
        covariance=covariance,
    )


def _method_names(methods: Sequence[str]) -> list[str]:
    names = [methods] if isinstance(methods, str) else list(methods)
    unknown = [name for name in names if name not in METHODS]
    if not names or unknown:
        raise ConfigurationError(
            f"methods must name one or more of {', '.join(METHODS)}; got {names!r}."
        )
    if len(set(names)) != len(names):
        raise ConfigurationError(f"methods must name each method once; got {names}.")
    return names


def _own_options(
    method_options: Mapping[str, Mapping[str, Any]] | None, names: list[str]
) -> dict[str, dict[str, Any]]:
    own = {name: dict(values) for name, values in (method_options or {}).items()}
    stray = sorted(set(own) - set(names))
    if stray:
        raise ConfigurationError(
            f"method_options names {', '.join(stray)}, which is not compared; "
            f"the methods are {', '.join(names)}."
        )
    return own


def _method_options(
    method: str,
    edges: NDArray[np.float64],
    replicas: int | None,
    options: Mapping[str, Any],
) -> dict[str, Any]:
    settings: dict[str, Any] = {}
    if method in BINNED_METHODS:
        settings["bins"] = edges
    if replicas is not None and method not in _ONE_DRAW_METHODS:
        settings["replicas"] = replicas
    return {**settings, **options}


def _prior_counts(
    simulation: SimulationSample, data: DataSample, edges: NDArray[np.float64]
) -> NDArray[np.float64]:
    """Fiducial gen counts of the simulation, scaled to the data's events."""
    weights = simulation.sim_weights
    scale = data.data_weights.sum() / weights[simulation.pass_reco].sum()
    fiducial = simulation.pass_gen
    counts, _ = np.histogram(
        simulation.gen[fiducial, 0], edges, weights=weights[fiducial]
    )
    return np.asarray(counts * scale, dtype=np.float64)


def _json_ready(values: Mapping[str, Any]) -> dict[str, Any]:
    """Arrays to lists and NaN to ``None``, so that ``json.dumps`` writes JSON."""

    def convert(value: Any) -> Any:
        if isinstance(value, np.ndarray):
            return convert(value.tolist())
        if isinstance(value, list | tuple):
            return [convert(item) for item in value]
        if isinstance(value, dict):
            return {key: convert(item) for key, item in value.items()}
        if isinstance(value, float | np.floating):
            return None if np.isnan(value) else float(value)
        if isinstance(value, np.integer):
            return int(value)
        return value

    return {key: convert(value) for key, value in values.items()}


# --- stress: data from a reweighted truth --------------------------------------


@dataclass(frozen=True)
class LinearShape:
    """A weight rising linearly across the binned range, flat outside it.

    .. math:: w(x) = 1 + a \\left(2\\, \\frac{\\min(\\max(x, l), h) - l}{h - l}
              - 1\\right),

    from 1 - a at ``low`` (l) to 1 + a at ``high`` (h); ``strength`` a lies
    in [-1, 1] so that w stays non-negative.
    """

    strength: float
    low: float
    high: float

    def __post_init__(self) -> None:
        if not -1.0 <= self.strength <= 1.0:
            raise ConfigurationError(
                f"the linear shape needs a strength in [-1, 1] to stay "
                f"non-negative; got {self.strength!r}."
            )
        if not (np.isfinite(self.low) and np.isfinite(self.high)):
            raise ConfigurationError(
                f"the linear shape needs finite ends; got low={self.low}, "
                f"high={self.high}. Give bins with finite outer edges."
            )

    def __call__(self, x: NDArray[np.float64]) -> NDArray[np.float64]:
        position = (np.clip(x, self.low, self.high) - self.low) / (self.high - self.low)
        return 1.0 + self.strength * (2.0 * position - 1.0)

    @property
    def maximum(self) -> float:
        return 1.0 + abs(self.strength)

    @property
    def breaks(self) -> tuple[float, ...]:
        return (self.low, self.high)


@dataclass(frozen=True)
class BumpShape:
    """A Gaussian bump (or dip, for negative strength) on a flat weight.

    .. math:: w(x) = 1 + a\\, \\exp\\left(-\\frac{(x - c)^2}{2 s^2}\\right),

    with ``strength`` a >= -1, ``center`` c and ``width`` s > 0.
    """

    strength: float
    center: float
    width: float

    def __post_init__(self) -> None:
        if not (np.isfinite(self.strength) and self.strength >= -1.0):
            raise ConfigurationError(
                f"the bump shape needs a strength >= -1 to stay non-negative; "
                f"got {self.strength!r}."
            )
        if not (np.isfinite(self.center) and np.isfinite(self.width)):
            raise ConfigurationError(
                f"the bump needs a finite center and width; got {self.center}, "
                f"{self.width}. Give bins with finite outer edges."
            )
        if self.width <= 0:
            raise ConfigurationError(f"width must be > 0; got {self.width}.")

    def __call__(self, x: NDArray[np.float64]) -> NDArray[np.float64]:
        z = (np.asarray(x, dtype=np.float64) - self.center) / self.width
        return 1.0 + self.strength * np.exp(-0.5 * z**2)

    @property
    def maximum(self) -> float:
        return 1.0 + max(self.strength, 0.0)

    @property
    def breaks(self) -> tuple[float, ...]:
        return tuple(self.center + k * self.width for k in (-3.0, 0.0, 3.0))


#: The shapes :func:`stress` can inject.
SHAPES = ("linear", "bump")


@dataclass(frozen=True)
class StressResult:
    """How much of an injected shape each method recovers.

    With unit-sum shapes of the unfolded mean u, the unweighted truth t0 and
    the reweighted truth t1 (each divided by its sum over the bins),
    :math:`\\hat u`, :math:`\\tau_0` and :math:`\\tau_1`, the injected shape
    is :math:`\\delta = \\tau_1 - \\tau_0` and the recovered fraction is the
    projection

    .. math:: f = \\frac{(\\hat u - \\tau_0) \\cdot \\delta}{\\delta \\cdot \\delta}:

    1 when the unfolded shape carries the whole injected change, 0 when it
    shows none of it. Deviations orthogonal to :math:`\\delta` do not enter
    f; they show in ``chi2_vs_truth``, against the reweighted truth. Its
    error propagates the method's ``covariance`` (the draws', or the truth's
    Poisson variance for one draw) through the normalisation:
    :math:`\\sigma_f^2 = \\delta^T J C J^T \\delta / (\\delta \\cdot
    \\delta)^2` with :math:`J = (I - \\hat u\\, 1^T) / \\sum u`. With
    nothing injected (strength 0) f and its error are NaN (``null`` in
    JSON): there is nothing to recover.

    ``comparison`` is :func:`compare` on the reweighted toy: its ``truth``
    is the reweighted truth t1, and ``unweighted_truth`` is t0 for the same
    generated events.
    """

    toy: str
    shape: str
    strength: float
    weight: dict[str, float]
    unweighted_truth: NDArray[np.float64]
    comparison: CompareResult
    recovered_fraction: dict[str, float]
    recovered_fraction_error: dict[str, float]

    def as_dict(self) -> dict[str, Any]:
        """JSON-ready: the comparison's fields with the recovery per method."""
        out = self.comparison.as_dict()
        out.update(
            _json_ready(
                {
                    "toy": self.toy,
                    "shape": self.shape,
                    "strength": self.strength,
                    "weight": self.weight,
                    "unweighted_truth": self.unweighted_truth,
                }
            )
        )
        for name, method in out["methods"].items():
            extra = {
                "recovered_fraction": self.recovered_fraction[name],
                "recovered_fraction_error": self.recovered_fraction_error[name],
            }
            method.update(_json_ready(extra))
        return out


def stress(
    toy: Toy,
    *,
    shape: Literal["linear", "bump"],
    strength: float,
    bins: ArrayLike,
    methods: Sequence[str] = DEFAULT_COMPARE_METHODS,
    center: float | None = None,
    width: float | None = None,
    events: int = 1000,
    data_events: int | None = None,
    iterations: int = 4,
    replicas: int | None = None,
    method_options: Mapping[str, Mapping[str, Any]] | None = None,
    random_state: int | None = None,
    progress: bool = True,
    workers: int = 1,
    **options: Any,
) -> StressResult:
    """Unfold data from a reweighted truth; measure the shape each method recovers.

    The pseudo-data come from ``toy``'s truth reweighted by a known function
    w of the first gen observable (:class:`~bayesfold.toys.ReweightedToy`,
    by rejection sampling); the simulation is the toy's own, unreweighted.
    The reweighted truth per bin is integrated numerically
    (:func:`scipy.integrate.quad`), not sampled. Each method is then measured
    as in :func:`compare` against the reweighted truth, and by the fraction
    of the injected shape it recovers (:class:`StressResult`).

    Parameters
    ----------
    toy : Toy
        The toy whose truth is reweighted.
    shape : {"linear", "bump"}
        :class:`LinearShape` across the outer edges of ``bins``, or
        :class:`BumpShape`.
    strength : float
        a of the shape: the linear weight runs from 1 - a to 1 + a; the bump
        adds a at its centre.
    bins : array_like
        Bin edges (finite outer edges: they set the shape's range).
    center, width : float, optional
        The bump's centre and standard deviation; by default the middle of
        the binned range and :data:`BUMP_WIDTH_FRACTION` of it.
    **others
        As in :func:`compare`.
    """
    edges = bin_edges(np.asarray(bins, dtype=float))
    weight = _shape(shape, strength, edges, center, width)
    reweighted = ReweightedToy(
        toy, weight, maximum=weight.maximum, breaks=weight.breaks
    )
    comparison = compare(
        reweighted,
        bins=edges,
        methods=methods,
        events=events,
        data_events=data_events,
        iterations=iterations,
        replicas=replicas,
        method_options=method_options,
        random_state=random_state,
        progress=progress,
        workers=workers,
        **options,
    )

    unweighted = toy.expected_truth(edges, comparison.n_generated)
    recovered = {
        name: _recovered_fraction(method, unweighted, comparison.truth)
        for name, method in comparison.methods.items()
    }
    return StressResult(
        toy=toy.key,
        shape=shape,
        strength=float(strength),
        weight=asdict(weight),
        unweighted_truth=unweighted,
        comparison=comparison,
        recovered_fraction={name: f for name, (f, _) in recovered.items()},
        recovered_fraction_error={name: e for name, (_, e) in recovered.items()},
    )


def _shape(
    shape: str,
    strength: float,
    edges: NDArray[np.float64],
    center: float | None,
    width: float | None,
) -> LinearShape | BumpShape:
    low, high = float(edges[0]), float(edges[-1])
    if shape == "linear":
        return LinearShape(float(strength), low, high)
    if shape == "bump":
        return BumpShape(
            float(strength),
            0.5 * (low + high) if center is None else float(center),
            BUMP_WIDTH_FRACTION * (high - low) if width is None else float(width),
        )
    raise ConfigurationError(f"shape must be one of {SHAPES}; got {shape!r}.")


def _recovered_fraction(
    method: MethodComparison,
    unweighted: NDArray[np.float64],
    reweighted: NDArray[np.float64],
) -> tuple[float, float]:
    """Projection of the unfolded shape change on the injected one, and its error."""
    injected = reweighted / reweighted.sum() - unweighted / unweighted.sum()
    if np.max(np.abs(injected)) < _NO_SHAPE:
        return float("nan"), float("nan")

    total = method.mean.sum()
    unfolded = method.mean / total
    norm = float(injected @ injected)
    fraction = float((unfolded - unweighted / unweighted.sum()) @ injected) / norm

    jacobian = np.eye(len(unfolded)) - np.outer(unfolded, np.ones_like(unfolded))
    gradient = jacobian.T @ injected / total
    error = float(np.sqrt(gradient @ method.covariance @ gradient)) / norm
    return fraction, error
