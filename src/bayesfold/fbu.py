"""Fully Bayesian Unfolding (Choudalakis, arXiv:1201.4612) in PyMC.

The posterior of the truth counts t given the measured reco counts d
(Choudalakis, eq. 2) is

.. math:: p(t \\mid d) \\propto \\prod_i \\operatorname{Poisson}(d_i \\mid
          \\mu_i(t))\\; \\pi(t), \\qquad
          \\mu_i(t) = \\frac{\\sum_j R_{ij} t_j}{1 - f_i},

with R the response matrix and f_i the fake fraction of reco bin i
(:mod:`bayesfold.binned`): the expected fakes of a bin are the share f_i of
its expected count, the assumption under which IBU subtracts them. The prior
pi is flat on a box (section 3 of the paper), optionally times a
regularising term:

- the box. Each truth bin j lies in [0, u_j], with the upper bound derived
  from the data: a reco bin i receives at least R_ij t_j / (1 - f_i) of its
  expected count from bin j, and that count is below q_i, the
  ``1 - BOX_TAIL_PROBABILITY`` quantile of the flat-prior posterior
  Gamma(d_i + 1) of a Poisson mean, so
  u_j = min_i q_i (1 - f_i) / R_ij. The box cuts nothing the likelihood
  allows. When the response is sampled (below), R_ij and 1 - f_i in this
  bound are their ``BOX_TAIL_PROBABILITY`` quantiles in the simulation's
  posterior (R_ij low, 1 - f_i high), so that the box also holds every
  response the simulation allows. A column of a few simulated events then
  has a tiny low quantile in every cell (one event of two gives 1e-9), and
  a second bound keeps its box finite: the column's efficiency eps_j,
  at its low quantile, takes a share eps_j t_j of the total expected count
  of the observed bins, which lies below the same quantile Q of its
  posterior Gamma(sum_i (d_i + 1)), so u_j is also at most Q / eps_j.
- ``regularization="curvature"``: log pi gains
  ``-strength * sum_j (t_{j-1} - 2 t_j + t_{j+1})^2`` over the inner truth
  bins (paper, section 5, the curvature of the spectrum), a Tikhonov penalty
  on the second differences of the counts. ``strength`` is in 1 / count^2:
  a penalty of 1 (one unit of log-density) for a curvature of
  ``1 / sqrt(strength)`` counts. 0 is the flat prior.

The response's own statistical uncertainty
(``response_uncertainty="dirichlet"``, the default). R and f are estimated
from a finite simulation, and with a simulation as small as the data their
errors are as large as the data's. They are then sampled jointly with t:

.. math:: p(t, R, f \\mid d, s) \\propto \\prod_i
          \\operatorname{Poisson}(d_i \\mid \\mu_i(t, R, f))\\;
          \\pi(t)\\; p(R, f \\mid s),

where p(R, f | s) is the posterior of the response given the simulation s.
This is Bayes' theorem for the pair (data, simulation), independent given
(R, f): the simulation's posterior is the prior that the data then update.
Each cell k of the simulation (reco bin i and truth bin j with events
passing both selections; the events of truth bin j failing ``pass_reco``;
the fakes of reco bin i) holds a weighted count m_k, sum of squared weights
m2_k, taken as a scaled Poisson count: n_k = m_k^2 / m2_k effective events
(Kish) of weight a_k = m2_k / m_k, the plain count and 1 for unit weights.
Under the Haldane prior 1 / lambda of a Poisson mean, the expected count of
the cell is w_k = a_k lambda_k with lambda_k ~ Gamma(n_k, 1), and

.. math:: R_{ij} = \\frac{w_{ij}}{\\sum_{i'} w_{i'j} + w_{\\text{missed},j}},
          \\qquad f_i = \\frac{w_{\\text{fake},i}}{w_{\\text{fake},i}
          + \\sum_j w_{ij}}.

For unit weights (or one weight per column) column j of R with its missed
cell is Dirichlet(n_1j, ..., n_missed,j), the posterior of multinomial
probabilities under the Haldane prior Dirichlet(0, ..., 0), and f_i is
Beta(n_fake,i, sum_j n_ij); normalised Gamma variables are how a Dirichlet
is built, and they let one vector hold columns of any length. Why this
prior: the posterior mean of each probability is the simulated share
n_ij / N_j, so the sampled response is centred on the point response that
``"none"`` uses, with the multinomial variance R_ij (1 - R_ij) / (N_j + 1)
that IBU propagates; a uniform or Jeffreys prior would add 1 or 1/2 event
to every cell, including cells no simulated event reaches (migrations far
off the diagonal), and bias a small simulation's response towards
spreading. Cells without simulated events are structural zeros, outside
the model. That is also the limit of the construction: a migration the
simulation never produced has no uncertainty. Because each reco bin's
non-fake count is the sum of its row's cells, f and R come from the same
Gamma variables, and their correlation (a reco bin with more simulated
migrations has a smaller fake fraction) is kept; sampled apart, as
Beta(n_fake,i, n_passed,i) beside the columns, they would count the same
simulated events twice. For weighted events the scales a_k centre R_ij on
m_ij / truth_j (each w_k has mean m_k) and give each cell the variance m2_k
of its weighted count, the scaled-Poisson approximation; a Dirichlet on the
Kish counts n_k alone would shift R towards the cells of evenly weighted
events.
``response_uncertainty="none"`` takes R and f as known, the model of the
paper.

Truth bins that no simulated event reaches at detector level (zero efficiency,
which includes empty flow bins) are not constrained by the data and are fixed
at zero, as in IBU; reco bins that no unfolded bin reaches are left out of the
likelihood. For weighted data the Poisson likelihood of non-integer counts is
an approximation.

The posterior is sampled with NUTS (``pm.sample``); R-hat and the bulk and
tail effective sample sizes of each truth bin are recorded (``arviz_stats``),
and a :class:`~bayesfold.exceptions.ConvergenceWarning` says when R-hat exceeds
:data:`RHAT_THRESHOLD`, the bulk ESS falls below :data:`ESS_PER_CHAIN` per
chain (the limits of Vehtari et al., Bayesian Analysis 16 (2021) 667), or a
transition diverged. The sampled response is marginalised: its draws are
not kept.
"""

from __future__ import annotations

import logging
import time
import warnings
from collections.abc import Callable
from dataclasses import asdict, dataclass, replace
from typing import Any, Literal

import numpy as np
from numpy.typing import ArrayLike, NDArray
from scipy import stats

from bayesfold._backend import compile_mode
from bayesfold._checks import check_integer
from bayesfold.binned import (
    DEFAULT_REPLICAS,
    Response,
    SeedSource,
    bin_samples,
    check_counts,
    log_unreachable,
    safe_divide,
    unfolding_result,
)
from bayesfold.exceptions import ConfigurationError, ConvergenceWarning
from bayesfold.ibu import ibu
from bayesfold.result import UnfoldingResult
from bayesfold.samples import DataSample, SimulationSample

__all__ = [
    "BOX_TAIL_PROBABILITY",
    "ESS_PER_CHAIN",
    "RESPONSE_UNCERTAINTIES",
    "RHAT_THRESHOLD",
    "FBUResult",
    "fbu",
    "unfold_fbu",
]

logger = logging.getLogger(__name__)

Regularization = Literal["curvature"]
ResponseUncertainty = Literal["dirichlet", "none"]

#: Builds, inside a PyMC model, the expected reco counts of the observed bins
#: from the tensor of the active truth counts.
ExpectedCounts = Callable[[Any], Any]

#: The accepted values of ``response_uncertainty`` (see the module notes).
RESPONSE_UNCERTAINTIES: tuple[ResponseUncertainty, ...] = ("dirichlet", "none")

#: Tail probability of each reco bin's Poisson mean above the box (see notes).
BOX_TAIL_PROBABILITY = 1e-9

#: Largest R-hat of a converged fit.
RHAT_THRESHOLD = 1.01

#: Smallest bulk effective sample size per chain of a converged fit.
ESS_PER_CHAIN = 100

#: Quantiles whose effective sample size is the tail ESS (Vehtari et al.).
TAIL_QUANTILES = (0.05, 0.95)

#: NUTS draws per chain unless given, per ``response_uncertainty``. The
#: sampled response's draws are more correlated: with 500 draws 9 of 30 toy
#: fits (shifted-Gaussian and efficiency-fakes toys, 1000 events) had an
#: R-hat above :data:`RHAT_THRESHOLD`, against 2 of 30 with a known response;
#: with 1000, 2 of 30 (median smallest bulk ESS 688 against 560).
DEFAULT_DRAWS: dict[str, int] = {"dirichlet": 1000, "none": 500}

#: NUTS tuning steps per chain, and chains, unless given.
DEFAULT_TUNE = 500
DEFAULT_CHAINS = 2

#: How PyTensor compiles the model for NUTS. Numba: the model is a few small
#: matrix products, compiled anew for every fit, so compile time dominates;
#: JAX's compilation takes several times longer here.
DEFAULT_BACKEND = "numba"

#: NUTS's target acceptance rate per ``response_uncertainty``. The sampled
#: response's columns of few simulated events curve the posterior: of 30 toy
#: fits (as for :data:`DEFAULT_DRAWS`) 2 diverged at PyMC's 0.8 and none at
#: 0.9, for 23 % more leapfrog steps per draw (24 against 20; 10 with a
#: known response). The known response keeps PyMC's default.
TARGET_ACCEPT: dict[str, float] = {"dirichlet": 0.9, "none": 0.8}

#: Share of a truth bin's simulated weight below which the events failing
#: ``pass_reco`` count as none: the missed weight is the truth count minus the
#: migrations, and weights that all pass leave a rounding residue.
MISSED_TOLERANCE = 1e-9

#: Spawn key of the NUTS seed.
_NUTS_KEY = 0


@dataclass(frozen=True)
class FBUResult:
    """Posterior draws of the truth counts, with their diagnostics.

    Arrays run over the truth bins of the response, flow bins included;
    bins fixed at zero (``~active``) have zero draws and NaN diagnostics.

    Attributes
    ----------
    draws : ndarray, shape (chains * draws, n_truth_bins)
        Posterior draws, chain after chain.
    chains : int
        Number of chains.
    rhat, ess_bulk, ess_tail : ndarray, shape (n_truth_bins,)
        Rank-normalised split R-hat and effective sample sizes per bin.
    divergences : int
        Divergent transitions after tuning.
    upper : ndarray, shape (n_truth_bins,)
        Upper edge of the flat prior's box.
    active : ndarray of bool, shape (n_truth_bins,)
        The bins that were sampled.
    regularization : str or None
        ``"curvature"`` or None.
    strength : float
        Strength of the regularisation.
    seconds : float
        Wall time of model building and sampling.
    unreached : float
        Measured counts in reco bins that no sampled truth bin reaches, left
        out of the likelihood.
    response_uncertainty : str
        ``"dirichlet"`` (the response sampled with the truth counts) or
        ``"none"`` (the response taken as known).
    """

    draws: NDArray[np.float64]
    chains: int
    rhat: NDArray[np.float64]
    ess_bulk: NDArray[np.float64]
    ess_tail: NDArray[np.float64]
    divergences: int
    upper: NDArray[np.float64]
    active: NDArray[np.bool_]
    regularization: str | None
    strength: float
    seconds: float
    unreached: float = 0.0
    response_uncertainty: str = "dirichlet"

    @property
    def mean(self) -> NDArray[np.float64]:
        """Posterior mean per bin."""
        return np.asarray(self.draws.mean(axis=0))

    @property
    def std(self) -> NDArray[np.float64]:
        """Posterior standard deviation per bin."""
        return np.asarray(self.draws.std(axis=0, ddof=1))

    @property
    def converged(self) -> bool:
        """Whether R-hat, ESS and divergences all pass their limits."""
        return not _convergence_problems(self)

    def interval(
        self, probability: float = 0.68
    ) -> tuple[NDArray[np.float64], NDArray[np.float64]]:
        """Central credible interval of each bin holding ``probability``."""
        if not 0 < probability < 1:
            raise ConfigurationError(
                f"probability must lie strictly between 0 and 1; got {probability}."
            )
        tail = (1 - probability) / 2
        lower, upper = np.quantile(self.draws, [tail, 1 - tail], axis=0)
        return lower, upper


def fbu(
    data_counts: ArrayLike,
    response: Response,
    *,
    draws: int | None = None,
    tune: int = DEFAULT_TUNE,
    chains: int = DEFAULT_CHAINS,
    regularization: Regularization | None = None,
    strength: float = 0.0,
    upper: ArrayLike | None = None,
    response_uncertainty: ResponseUncertainty = "dirichlet",
    random_state: int | np.random.Generator | None = None,
    progress: bool = False,
    backend: str = DEFAULT_BACKEND,
) -> FBUResult:
    """Sample the FBU posterior of the truth counts with NUTS.

    Parameters
    ----------
    data_counts : array_like, shape (n_reco_bins,)
        Measured counts in the reco bins of ``response``, flow bins included.
    response : Response
        The binned simulation.
    draws, tune, chains : int
        NUTS draws and tuning steps per chain, and the number of chains;
        ``draws`` by default from :data:`DEFAULT_DRAWS`.
    regularization : {"curvature"}, optional
        Regularising prior (see the module notes); None for the flat prior.
    strength : float
        Strength of the regularisation, in 1 / count^2.
    upper : array_like, shape (n_truth_bins,), optional
        Upper edges of the box; by default derived from the data.
    response_uncertainty : {"dirichlet", "none"}
        ``"dirichlet"`` samples the response and the fake fractions from
        their posterior given the simulation, jointly with the truth counts;
        ``"none"`` takes them as known (see the module notes).
    random_state : int, Generator or None
        Seed of the sampler.
    progress : bool
        Show PyMC's progress bar.
    backend : str
        How PyTensor compiles the model (:mod:`bayesfold._backend`);
        :data:`DEFAULT_BACKEND` by default.

    Returns
    -------
    FBUResult
        Warns with :class:`ConvergenceWarning` when the fit did not converge.
    """
    start = time.perf_counter()
    d = check_counts("data_counts", data_counts, response.n_reco_bins, "reco")
    _check_response_uncertainty(response_uncertainty)
    if draws is None:
        draws = DEFAULT_DRAWS[response_uncertainty]
    _check_sampler_settings(draws, tune, chains, regularization, strength)
    active = response.efficiency > 0
    if not active.any():
        raise ConfigurationError(
            "no truth bin of the response has simulated events passing pass_reco, "
            "so nothing can be unfolded; check the bins and the selections."
        )
    folding = safe_divide(response.matrix, response.purity[:, None])[:, active]
    observed = folding.sum(axis=1) > 0
    unreached = log_unreachable("fbu", d, observed)
    box, expected = _response_model(
        d, response, folding, observed, active, upper, response_uncertainty
    )

    seed = int(SeedSource(random_state).generator(_NUTS_KEY).integers(2**31))
    start_point = np.clip(
        ibu(d, response, response_uncertainty="none").unfolded[active],
        0.05 * box[active],
        0.95 * box[active],
    )
    posterior, divergences = _sample(
        d[observed],
        expected,
        box[active],
        _curvature_triples(active) if regularization else None,
        strength,
        start_point,
        draws=draws,
        tune=tune,
        chains=chains,
        seed=seed,
        progress=progress,
        backend=backend,
        target_accept=TARGET_ACCEPT[response_uncertainty],
    )
    result = replace(
        _result(posterior, active, box, divergences, regularization, strength, start),
        unreached=unreached,
        response_uncertainty=response_uncertainty,
    )
    _warn_if_unconverged(result)
    return result


def _response_model(
    d: NDArray[np.float64],
    response: Response,
    folding: NDArray[np.float64],
    observed: NDArray[np.bool_],
    active: NDArray[np.bool_],
    upper: ArrayLike | None,
    response_uncertainty: ResponseUncertainty,
) -> tuple[NDArray[np.float64], ExpectedCounts]:
    """The box and the expected counts of the known or the sampled response."""
    if response_uncertainty == "none":
        box = _box(d, folding, observed, active, upper)
        return box, _known_response(folding[observed])
    lowest = _lowest_folding(response, active)
    efficiency = _lowest_efficiency(response, active)
    box = _box(d, lowest, observed, active, upper, efficiency)
    cells = _SimulationCells.of(response, active, observed)
    return box, _sampled_response(cells)


def _known_response(folding: NDArray[np.float64]) -> ExpectedCounts:
    """mu = R t / (1 - f) with R and f fixed: ``folding`` is R / (1 - f)."""
    import pytensor.tensor as pt

    return lambda truth: pt.dot(folding, truth)


@dataclass(frozen=True)
class _SimulationCells:
    """The simulation's non-empty cells as scaled Poisson counts (module notes).

    Cells run over the active truth bins' migrations into the observed reco
    bins, then their missed events; ``fake_*`` over the observed reco bins
    with fakes.

    Attributes
    ----------
    events, scale : ndarray, shape (n_cells,)
        Effective events n_k and weight a_k of each cell, n_k a_k = m_k.
    columns : ndarray, shape (n_cells, n_active)
        1 where the cell lies in the active truth bin, 0 elsewhere.
    rows : ndarray, shape (n_observed, n_cells)
        1 where the cell lies in the observed reco bin, 0 elsewhere (and in
        every row for a missed cell).
    fake_events, fake_scale : ndarray, shape (n_fake_bins,)
        The same for the fakes.
    fake_rows : ndarray, shape (n_observed, n_fake_bins)
        1 where the fakes lie in the observed reco bin.
    """

    events: NDArray[np.float64]
    scale: NDArray[np.float64]
    columns: NDArray[np.float64]
    rows: NDArray[np.float64]
    fake_events: NDArray[np.float64]
    fake_scale: NDArray[np.float64]
    fake_rows: NDArray[np.float64]

    @classmethod
    def of(
        cls,
        response: Response,
        active: NDArray[np.bool_],
        observed: NDArray[np.bool_],
    ) -> _SimulationCells:
        """The cells of the active truth bins and observed reco bins."""
        migrations = response.migrations[observed][:, active]
        migrations_sq = response.migrations_sq[observed][:, active]
        row, column = np.nonzero(migrations > 0)
        missed, missed_sq = _missed(response, active)
        has_missed = np.flatnonzero(missed > 0)
        has_fakes = np.flatnonzero(response.fakes[observed] > 0)

        weight = np.concatenate([migrations[row, column], missed[has_missed]])
        weight_sq = np.concatenate([migrations_sq[row, column], missed_sq[has_missed]])
        rows = np.zeros((int(observed.sum()), len(weight)))
        rows[row, np.arange(len(row))] = 1.0
        fake_rows = np.zeros((int(observed.sum()), len(has_fakes)))
        fake_rows[has_fakes, np.arange(len(has_fakes))] = 1.0
        events, scale = _scaled_poisson(weight, weight_sq)
        fake_events, fake_scale = _scaled_poisson(
            response.fakes[observed][has_fakes], response.fakes_sq[observed][has_fakes]
        )
        return cls(
            events=events,
            scale=scale,
            columns=np.eye(int(active.sum()))[np.concatenate([column, has_missed])],
            rows=rows,
            fake_events=fake_events,
            fake_scale=fake_scale,
            fake_rows=fake_rows,
        )


def _missed(
    response: Response, active: NDArray[np.bool_]
) -> tuple[NDArray[np.float64], NDArray[np.float64]]:
    """Weight and squared weight of each active truth bin's missed events."""
    truth, truth_sq = response.truth[active], response.truth_sq[active]
    missed = truth - response.migrations[:, active].sum(axis=0)
    missed_sq = truth_sq - response.migrations_sq[:, active].sum(axis=0)
    empty = missed <= MISSED_TOLERANCE * truth
    return np.where(empty, 0.0, missed), np.where(empty, 0.0, missed_sq)


def _scaled_poisson(
    weight: NDArray[np.float64], weight_sq: NDArray[np.float64]
) -> tuple[NDArray[np.float64], NDArray[np.float64]]:
    """Effective events n = m^2 / m2 and weight a = m / n of non-empty cells.

    A cell with events holds at least one effective event; a smaller n (or a
    non-positive m2) can only come from the rounding of a difference (the
    missed cell), and is raised to 1 with the weight kept.
    """
    events = np.maximum(safe_divide(weight**2, weight_sq), 1.0)
    return events, weight / events


def _sampled_response(cells: _SimulationCells) -> ExpectedCounts:
    """mu = R t / (1 - f) with R and f sampled from the simulation's cells."""
    import pytensor.tensor as pt

    columns = cells.columns

    def expected(truth: Any) -> Any:
        weight = _gamma_events("response_cells", cells.events) * cells.scale
        column_total = pt.dot(columns, pt.dot(weight, columns))
        signal = pt.dot(cells.rows, weight / column_total * pt.dot(columns, truth))
        if not len(cells.fake_events):
            return signal
        fakes = _gamma_events("response_fakes", cells.fake_events) * cells.fake_scale
        passed = pt.dot(cells.rows, weight)
        reco = passed + pt.dot(cells.fake_rows, fakes)
        return signal * reco / passed

    return expected


def _gamma_events(name: str, events: NDArray[np.float64]) -> Any:
    """Gamma(n, 1) variables lambda, sampled as z = sqrt(n) log(lambda / n).

    z is the standardised log of lambda: 0 at the mode of log lambda, unit
    curvature there, and log p(z) = sqrt(n) z - n (exp(z / sqrt(n)) - 1) up
    to a constant, so that a cell of 10^6 events is as easy for NUTS (its
    initial jitter and step size) as a cell of one.
    """
    import pymc as pm
    import pytensor.tensor as pt

    root = np.sqrt(events)
    z = pm.Flat(f"{name}_z", shape=len(events))
    pm.Potential(f"{name}_prior", pt.sum(root * z - events * pt.expm1(z / root)))
    return events * pt.exp(z / root)


def _sample(
    counts: NDArray[np.float64],
    expected_counts: ExpectedCounts,
    upper: NDArray[np.float64],
    triples: NDArray[np.int64] | None,
    strength: float,
    start_point: NDArray[np.float64],
    *,
    draws: int,
    tune: int,
    chains: int,
    seed: int,
    progress: bool,
    backend: str,
    target_accept: float,
) -> tuple[NDArray[np.float64], int]:
    """NUTS draws (chains, draws, n_active) of the active bins, divergences."""
    import pymc as pm
    import pytensor.tensor as pt

    positive = counts > 0
    with pm.Model():
        truth = pm.Uniform("truth", lower=0.0, upper=upper, shape=len(upper))
        expected = expected_counts(truth)
        # Poisson log-likelihood without the constant log(d!); 0 log 0 = 0.
        pm.Potential(
            "likelihood",
            pt.sum(counts[positive] * pt.log(expected[positive])) - pt.sum(expected),
        )
        if triples is not None:
            second = truth[triples[:, 0]] - 2 * truth[triples[:, 1]]
            second += truth[triples[:, 2]]
            pm.Potential("curvature", -strength * pt.sum(second**2))
        trace = pm.sample(
            draws=draws,
            tune=tune,
            chains=chains,
            cores=1,
            random_seed=seed,
            target_accept=target_accept,
            initvals={"truth": start_point},
            progressbar=progress,
            compute_convergence_checks=False,
            compile_kwargs={"mode": compile_mode(backend)},
            blas_cores=None,
        )
    posterior = np.asarray(trace["posterior"]["truth"].values, dtype=np.float64)
    divergences = int(np.asarray(trace["sample_stats"]["diverging"].values).sum())
    return posterior, divergences


def _result(
    posterior: NDArray[np.float64],
    active: NDArray[np.bool_],
    box: NDArray[np.float64],
    divergences: int,
    regularization: str | None,
    strength: float,
    start: float,
) -> FBUResult:
    from arviz_stats import ess, rhat

    chains, draws, _ = posterior.shape
    n_bins = len(active)

    def per_bin(values: NDArray[np.float64], fill: float) -> NDArray[np.float64]:
        out = np.full(n_bins, fill)
        out[active] = values
        return out

    samples = np.zeros((chains * draws, n_bins))
    samples[:, active] = posterior.reshape(chains * draws, -1)
    axes = {"chain_axis": 0, "draw_axis": 1}
    return FBUResult(
        draws=samples,
        chains=chains,
        rhat=per_bin(np.asarray(rhat(posterior, **axes)), np.nan),
        ess_bulk=per_bin(np.asarray(ess(posterior, method="bulk", **axes)), np.nan),
        ess_tail=per_bin(
            np.asarray(ess(posterior, method="tail", prob=TAIL_QUANTILES, **axes)),
            np.nan,
        ),
        divergences=divergences,
        upper=np.where(active, box, 0.0),
        active=active,
        regularization=regularization,
        strength=float(strength),
        seconds=time.perf_counter() - start,
    )


def _box(
    d: NDArray[np.float64],
    folding: NDArray[np.float64],
    observed: NDArray[np.bool_],
    active: NDArray[np.bool_],
    upper: ArrayLike | None,
    efficiency: NDArray[np.float64] | None = None,
) -> NDArray[np.float64]:
    """Upper edges of the flat prior per truth bin (see the module notes).

    With ``efficiency`` (of the active bins), also the bound of the total:
    t_j eps_j is below the total expected count of the observed bins.
    """
    if upper is not None:
        box = check_counts("upper", upper, len(active), "truth")
        if np.any(box[active] <= 0):
            raise ConfigurationError(
                "upper must be positive for every truth bin with efficiency; got "
                f"{box.tolist()}."
            )
        return box
    quantile = stats.gamma.isf(BOX_TAIL_PROBABILITY, d + 1.0)
    bounds = np.where(folding > 0, safe_divide(quantile[:, None], folding), np.inf)[
        observed
    ]
    box = np.zeros(len(active))
    box[active] = bounds.min(axis=0)
    if efficiency is not None:
        total = stats.gamma.isf(BOX_TAIL_PROBABILITY, np.sum(d[observed] + 1.0))
        box[active] = np.minimum(box[active], total / efficiency)
    return box


def _lowest_folding(
    response: Response, active: NDArray[np.bool_]
) -> NDArray[np.float64]:
    """R_ij / (1 - f_i) with R_ij low and 1 - f_i high, at the box's tail.

    Each is a share A / (A + B) of two scaled Poisson counts (module notes):
    R_ij of cell (i, j) in its column, 1 - f_i of the migrations into reco
    bin i in its count. Shape (n_reco_bins, n_active).
    """
    truth, truth_sq = response.truth[active], response.truth_sq[active]
    cell = response.migrations[:, active]
    cell_sq = response.migrations_sq[:, active]
    rest = np.where(cell < truth - MISSED_TOLERANCE * truth, truth - cell, 0.0)
    low = _share_quantile(BOX_TAIL_PROBABILITY, cell, cell_sq, rest, truth_sq - cell_sq)
    passed = response.migrations.sum(axis=1)
    passed_sq = response.migrations_sq.sum(axis=1)
    high = _share_quantile(
        1 - BOX_TAIL_PROBABILITY, passed, passed_sq, response.fakes, response.fakes_sq
    )
    return safe_divide(low, high[:, None])


def _lowest_efficiency(
    response: Response, active: NDArray[np.bool_]
) -> NDArray[np.float64]:
    """Efficiency of each active bin at the box's lower tail (module notes)."""
    missed, missed_sq = _missed(response, active)
    passed = response.migrations[:, active].sum(axis=0)
    passed_sq = response.migrations_sq[:, active].sum(axis=0)
    return _share_quantile(BOX_TAIL_PROBABILITY, passed, passed_sq, missed, missed_sq)


def _share_quantile(
    probability: float,
    weight: NDArray[np.float64],
    weight_sq: NDArray[np.float64],
    other: NDArray[np.float64],
    other_sq: NDArray[np.float64],
) -> NDArray[np.float64]:
    """Quantile of the share A / (A + B) of two scaled Poisson counts.

    With A = a x Gamma(n_A) and B = b x Gamma(n_B), A / B is (a / b) times
    the ratio x / (1 - x) of x ~ Beta(n_A, n_B); a sum of cells with
    different weights is taken as one scaled Poisson count of its m and m2
    (matching the first two moments). 0 where A is empty, 1 where B is.
    """
    weight, other = np.broadcast_arrays(weight, other)
    filled = (weight > 0) & (other > 0)
    n_a, a = _scaled_poisson(
        np.where(filled, weight, 1.0), np.where(filled, weight_sq, 1.0)
    )
    n_b, b = _scaled_poisson(
        np.where(filled, other, 1.0), np.where(filled, other_sq, 1.0)
    )
    x = stats.beta.ppf(probability, n_a, n_b)
    odds = a * x / (b * (1 - x))
    return np.where(filled, odds / (1 + odds), np.where(weight > 0, 1.0, 0.0))


def _curvature_triples(active: NDArray[np.bool_]) -> NDArray[np.int64]:
    """Positions among the active bins of each inner (j-1, j, j+1) all active."""
    position = np.cumsum(active) - 1
    inner = np.arange(1, len(active) - 1)
    triples = [
        (position[j - 1], position[j], position[j + 1])
        for j in inner[1:-1]
        if active[j - 1] and active[j] and active[j + 1]
    ]
    return np.array(triples, dtype=np.int64).reshape(-1, 3)


def _convergence_problems(result: FBUResult) -> list[str]:
    problems = []
    rhat = result.rhat[result.active]
    ess_bulk = result.ess_bulk[result.active]
    if np.max(rhat) > RHAT_THRESHOLD:
        problems.append(f"largest R-hat {np.max(rhat):.4f} > {RHAT_THRESHOLD}")
    if np.min(ess_bulk) < ESS_PER_CHAIN * result.chains:
        problems.append(
            f"smallest bulk ESS {np.min(ess_bulk):.0f} < "
            f"{ESS_PER_CHAIN} per chain x {result.chains} chains"
        )
    if result.divergences:
        problems.append(f"{result.divergences} divergent transitions")
    return problems


def _warn_if_unconverged(result: FBUResult) -> None:
    problems = _convergence_problems(result)
    if problems:
        warnings.warn(
            "FBU's NUTS fit did not converge: "
            + "; ".join(problems)
            + ". Raise draws and tune, add chains, or check the box (upper) and "
            "the binning.",
            ConvergenceWarning,
            stacklevel=3,
        )


def _check_sampler_settings(
    draws: int,
    tune: int,
    chains: int,
    regularization: str | None,
    strength: float,
) -> None:
    for name, value, least in (("draws", draws, 2), ("tune", tune, 0)):
        check_integer(name, value, least)
    check_integer("chains", chains, 1)
    if regularization not in (None, "curvature"):
        raise ConfigurationError(
            f"regularization must be None or 'curvature'; got {regularization!r}."
        )
    if not np.isfinite(strength) or strength < 0:
        raise ConfigurationError(
            f"strength must be finite and non-negative; got {strength!r}."
        )


def _check_response_uncertainty(value: object) -> None:
    if value not in RESPONSE_UNCERTAINTIES:
        raise ConfigurationError(
            "response_uncertainty must be 'dirichlet' (sample the response with "
            "the truth counts) or 'none' (take it as known); got "
            f"{value!r}."
        )


def unfold_fbu(
    simulation: SimulationSample,
    data: DataSample,
    *,
    bins: ArrayLike | None = None,
    reco_bins: ArrayLike | None = None,
    observable: int = 0,
    reco_observable: int = 0,
    iterations: int = 1,
    replicas: int = DEFAULT_REPLICAS,
    draws: int | None = None,
    tune: int = DEFAULT_TUNE,
    chains: int = DEFAULT_CHAINS,
    regularization: Regularization | None = None,
    strength: float = 0.0,
    response_uncertainty: ResponseUncertainty = "dirichlet",
    random_state: int | np.random.Generator | None = None,
    progress: bool = True,
    backend: str = DEFAULT_BACKEND,
) -> UnfoldingResult:
    """FBU of one gen observable, as an :class:`UnfoldingResult` with draws.

    The response is binned from ``simulation`` (:mod:`bayesfold.binned`),
    the posterior sampled with :func:`fbu`, and ``replicas`` of its
    ``chains * draws`` draws, evenly spaced, become event weights. FBU has no
    iterations: the result has one, whatever ``iterations`` says (accepted
    for a common signature with the other methods).

    Parameters
    ----------
    simulation, data : SimulationSample, DataSample
        The samples.
    bins : array_like
        Edges of the truth bins of gen column ``observable`` (required).
    reco_bins : array_like, optional
        Edges of the reco bins of reco column ``reco_observable``; default
        ``bins``.
    observable, reco_observable : int
        Columns of ``gen`` and of ``reco`` / ``data`` to bin.
    iterations : int
        Ignored (see above).
    replicas : int
        Posterior draws on the result (all of them if fewer were sampled).
    draws, tune, chains, regularization, strength, response_uncertainty, backend
        Passed to :func:`fbu`.
    random_state : int, Generator or None
        Seed of the sampler.
    progress : bool
        Show PyMC's progress bar.

    Returns
    -------
    UnfoldingResult
        Weights of shape (1, replicas, n_sim). ``metadata`` holds, as plain
        dicts of arrays so that the result can be saved, the fields of the
        :class:`FBUResult` (``"fbu"``) and of the :class:`Response`
        (``"response"``), and the kept draws of shape (1, replicas,
        n_truth_bins) (``"truth_draws"``).
    """
    start = time.perf_counter()
    check_integer("replicas", replicas, 1)
    response, counts, _ = bin_samples(
        simulation,
        data,
        bins=bins,
        reco_bins=reco_bins,
        observable=observable,
        reco_observable=reco_observable,
        method="fbu",
    )
    seeds = SeedSource(random_state)
    posterior = fbu(
        counts,
        response,
        draws=draws,
        tune=tune,
        chains=chains,
        regularization=regularization,
        strength=strength,
        response_uncertainty=response_uncertainty,
        random_state=seeds.entropy,
        progress=progress,
        backend=backend,
    )
    total = len(posterior.draws)
    keep = np.unique(np.linspace(0, total - 1, min(replicas, total)).round())
    truth = posterior.draws[keep.astype(np.int64)][None]
    folded = truth @ response.matrix.T
    fakes = safe_divide(response.fake_fraction, response.purity) * folded
    return unfolding_result(
        simulation,
        data,
        response,
        truth,
        fakes,
        counts,
        method="fbu",
        seconds=time.perf_counter() - start,
        random_state=seeds.entropy,
        history=[
            {
                "rhat": posterior.rhat,
                "ess_bulk": posterior.ess_bulk,
                "ess_tail": posterior.ess_tail,
                "divergences": posterior.divergences,
            }
        ],
        metadata={
            "fbu": asdict(posterior),
            "response": asdict(response),
            "truth_draws": truth,
        },
    )
