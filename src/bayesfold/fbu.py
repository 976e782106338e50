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
  allows.
- ``regularization="curvature"``: log pi gains
  ``-strength * sum_j (t_{j-1} - 2 t_j + t_{j+1})^2`` over the inner truth
  bins (paper, section 5, the curvature of the spectrum), a Tikhonov penalty
  on the second differences of the counts. ``strength`` is in 1 / count^2:
  a penalty of 1 (one unit of log-density) for a curvature of
  ``1 / sqrt(strength)`` counts. 0 is the flat prior.

Truth bins that no simulated event reaches at detector level (zero efficiency,
which includes empty flow bins) are not constrained by the data and are fixed
at zero, as in IBU; reco bins that no unfolded bin reaches are left out of the
likelihood. For weighted data the Poisson likelihood of non-integer counts is
an approximation.

The posterior is sampled with NUTS (``pm.sample``); R-hat and the bulk and
tail effective sample sizes of each bin are recorded (``arviz_stats``), and a
:class:`~bayesfold.exceptions.ConvergenceWarning` says when R-hat exceeds
:data:`RHAT_THRESHOLD`, the bulk ESS falls below :data:`ESS_PER_CHAIN` per
chain (the limits of Vehtari et al., Bayesian Analysis 16 (2021) 667), or a
transition diverged.
"""

from __future__ import annotations

import logging
import time
import warnings
from dataclasses import asdict, dataclass, replace
from typing import Literal

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
    "RHAT_THRESHOLD",
    "FBUResult",
    "fbu",
    "unfold_fbu",
]

logger = logging.getLogger(__name__)

Regularization = Literal["curvature"]

#: Tail probability of each reco bin's Poisson mean above the box (see notes).
BOX_TAIL_PROBABILITY = 1e-9

#: Largest R-hat of a converged fit.
RHAT_THRESHOLD = 1.01

#: Smallest bulk effective sample size per chain of a converged fit.
ESS_PER_CHAIN = 100

#: Quantiles whose effective sample size is the tail ESS (Vehtari et al.).
TAIL_QUANTILES = (0.05, 0.95)

#: NUTS draws and tuning steps per chain, and chains, unless given.
DEFAULT_DRAWS = 500
DEFAULT_TUNE = 500
DEFAULT_CHAINS = 2

#: How PyTensor compiles the model for NUTS. Numba: the model is a few small
#: matrix products, compiled anew for every fit, so compile time dominates;
#: JAX's compilation takes several times longer here.
DEFAULT_BACKEND = "numba"

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
    draws: int = DEFAULT_DRAWS,
    tune: int = DEFAULT_TUNE,
    chains: int = DEFAULT_CHAINS,
    regularization: Regularization | None = None,
    strength: float = 0.0,
    upper: ArrayLike | None = None,
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
        NUTS draws and tuning steps per chain, and the number of chains.
    regularization : {"curvature"}, optional
        Regularising prior (see the module notes); None for the flat prior.
    strength : float
        Strength of the regularisation, in 1 / count^2.
    upper : array_like, shape (n_truth_bins,), optional
        Upper edges of the box; by default derived from the data.
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
    box = _box(d, folding, observed, active, upper)

    seed = int(SeedSource(random_state).generator(_NUTS_KEY).integers(2**31))
    start_point = np.clip(
        ibu(d, response, response_uncertainty="none").unfolded[active],
        0.05 * box[active],
        0.95 * box[active],
    )
    posterior, divergences = _sample(
        d[observed],
        folding[observed],
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
    )
    result = replace(
        _result(posterior, active, box, divergences, regularization, strength, start),
        unreached=unreached,
    )
    _warn_if_unconverged(result)
    return result


def _sample(
    counts: NDArray[np.float64],
    folding: NDArray[np.float64],
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
) -> tuple[NDArray[np.float64], int]:
    """NUTS draws (chains, draws, n_active) of the active bins, divergences."""
    import pymc as pm
    import pytensor.tensor as pt

    positive = counts > 0
    with pm.Model():
        truth = pm.Uniform("truth", lower=0.0, upper=upper, shape=len(upper))
        expected = pt.dot(folding, truth)
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
) -> NDArray[np.float64]:
    """Upper edges of the flat prior per truth bin (see the module notes)."""
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
    return box


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
    draws: int = DEFAULT_DRAWS,
    tune: int = DEFAULT_TUNE,
    chains: int = DEFAULT_CHAINS,
    regularization: Regularization | None = None,
    strength: float = 0.0,
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
    draws, tune, chains, regularization, strength, backend
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
