"""Studies on pseudo-experiments: does an interval mean what it says?

:func:`coverage` unfolds many pseudo-data sets drawn from a toy's truth model
and counts how often each bin's 68 % and 95 % interval holds the analytic
expected truth count. The binned methods (IBU, FBU) unfold in the study's own
bins, so that every method is judged on the same bins.
"""

from __future__ import annotations

import logging
import multiprocessing
from concurrent.futures import ProcessPoolExecutor, as_completed
from dataclasses import asdict, dataclass
from typing import Any

import numpy as np
from numpy.typing import ArrayLike, NDArray
from tqdm.auto import tqdm

from bayesfold.exceptions import ConfigurationError
from bayesfold.methods import BINNED_METHODS, unfold
from bayesfold.result import bin_edges
from bayesfold.samples import SimulationSample
from bayesfold.toys import PseudoData, Toy

__all__ = ["CoverageResult", "coverage"]

logger = logging.getLogger(__name__)


@dataclass(frozen=True)
class CoverageResult:
    """Coverage of one method over pseudo-experiments.

    ``coverage_68`` and ``coverage_95`` are fractions of (experiment, bin)
    pairs whose interval holds the expected truth; their errors are binomial,
    ``sqrt(p (1 - p) / N)`` over the N pairs, which treats the bins as
    independent and so understates the error when bins are correlated.
    Pulls are ``(posterior mean - truth) / posterior standard deviation``.
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
    seconds: float
    coverage_68_per_bin: list[float]
    coverage_95_per_bin: list[float]
    pull_mean_per_bin: list[float]

    def as_dict(self) -> dict[str, Any]:
        return asdict(self)


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
        ``events``).
    iterations : int
        OmniFold (and IBU) iterations; FBU has none.
    fresh_simulation : bool
        Draw a new simulation for every experiment; by default one simulation
        serves all, as in an analysis.
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
    n_data = events if data_events is None else data_events
    rng = np.random.default_rng(random_state)
    simulation = toy.simulate(events, rng)
    tasks = []
    for _ in range(experiments):
        if fresh_simulation:
            simulation = toy.simulate(events, rng)
        measured = toy.measure(n_data, rng)
        tasks.append(
            _Experiment(
                toy=toy,
                simulation=simulation,
                measured=measured,
                edges=edges,
                method=method,
                iterations=iterations,
                seed=int(rng.integers(2**31)),
                options=options,
            )
        )

    outcomes = _run_all(tasks, workers, progress, f"coverage {method}")
    seconds = sum(outcome.seconds for outcome in outcomes)
    covered_68 = [o.covered_68 for o in outcomes]
    covered_95 = [o.covered_95 for o in outcomes]
    pulls = [o.pulls for o in outcomes]
    widths_68 = [o.width_68 for o in outcomes]
    widths_95 = [o.width_95 for o in outcomes]

    c68, c95 = np.concatenate(covered_68), np.concatenate(covered_95)
    all_pulls = np.concatenate(pulls)
    all_pulls = all_pulls[np.isfinite(all_pulls)]
    return CoverageResult(
        method=method,
        experiments=experiments,
        bins=edges.tolist(),
        coverage_68=float(c68.mean()),
        coverage_68_error=_binomial_error(c68),
        coverage_95=float(c95.mean()),
        coverage_95_error=_binomial_error(c95),
        pull_mean=float(all_pulls.mean()) if all_pulls.size else float("nan"),
        pull_width=float(all_pulls.std(ddof=1)) if all_pulls.size > 1 else float("nan"),
        mean_width_68=float(np.mean(widths_68)),
        mean_width_95=float(np.mean(widths_95)),
        seconds=seconds,
        coverage_68_per_bin=np.mean(covered_68, axis=0).tolist(),
        coverage_95_per_bin=np.mean(covered_95, axis=0).tolist(),
        pull_mean_per_bin=np.nanmean(np.array(pulls), axis=0).tolist(),
    )


@dataclass(frozen=True)
class _Experiment:
    """One pseudo-experiment, ready to unfold (in this or a worker process)."""

    toy: Toy
    simulation: SimulationSample
    measured: PseudoData
    edges: NDArray[np.float64]
    method: str
    iterations: int
    seed: int
    options: dict[str, Any]


@dataclass(frozen=True)
class _Outcome:
    covered_68: NDArray[np.bool_]
    covered_95: NDArray[np.bool_]
    pulls: NDArray[np.float64]
    width_68: NDArray[np.float64]
    width_95: NDArray[np.float64]
    seconds: float


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
    if result.n_draws < 2:
        raise ConfigurationError(
            f"method {task.method!r} gives one draw, so it has no interval; use a "
            "method with draws (bayesian, bootstrap, ensemble, ibu, fbu)."
        )
    posterior = result.posterior(0, task.edges)
    truth = task.toy.expected_truth(task.edges, task.measured.n_generated)
    return _Outcome(
        covered_68=_inside(truth, posterior.lower_68, posterior.upper_68),
        covered_95=_inside(truth, posterior.lower_95, posterior.upper_95),
        pulls=_pulls(posterior.mean, posterior.std, truth),
        width_68=posterior.upper_68 - posterior.lower_68,
        width_95=posterior.upper_95 - posterior.lower_95,
        seconds=result.seconds,
    )


def _run_all(
    tasks: list[_Experiment], workers: int, progress: bool, label: str
) -> list[_Outcome]:
    """Unfold every task, in order, here or in ``workers`` spawned processes."""
    if workers < 1:
        raise ConfigurationError(f"workers must be at least 1; got {workers}.")
    bar = tqdm(total=len(tasks), desc=label, disable=not progress)
    if workers == 1:
        outcomes = []
        for task in tasks:
            outcomes.append(_unfold_experiment(task))
            bar.update()
        bar.close()
        return outcomes
    # Spawned, not forked: JAX and the BLAS pools hold threads that a fork
    # would copy in an unknown state.
    context = multiprocessing.get_context("spawn")
    with ProcessPoolExecutor(max_workers=workers, mp_context=context) as pool:
        futures = [pool.submit(_unfold_experiment, task) for task in tasks]
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
