"""Iterative Bayesian unfolding (D'Agostini) with its error propagation.

The iteration (G. D'Agostini, Nucl. Instrum. Meth. A 362 (1995) 487). With
the response matrix R_ij = P(reco bin i | truth bin j), the efficiencies
eps_j = sum_i R_ij, the measured counts d_i with the fakes subtracted
(``(1 - f_i) d_i``, :mod:`bayesfold.binned`) and the truth estimate c of the
previous iteration (the prior, scaled to sum d, before the first),

.. math:: M_{ij} = \\frac{R_{ij}\\, c_j}{\\varepsilon_j \\sum_k R_{ik} c_k},
          \\qquad c'_j = \\sum_i d_i M_{ij}.

M_ij eps_j is Bayes' theorem, P(truth j | reco i), and 1 / eps_j the
efficiency correction. A truth bin with no efficiency stays at zero.

The errors (T. Adye, arXiv:1105.1160) are propagated to first order through
the iterations, with the derivatives of c' with respect to the data,
J = dc'/dd (reco x truth), and to the response, K = dc'/dR
(truth x (reco, truth)), each a function of the previous one:

.. math:: J' = M + J \\operatorname{diag}(c'/c) - J A^T, \\qquad
          K' = K_0 + \\operatorname{diag}(c'/c) K - A K,

with :math:`A_{jk} = \\sum_i M_{ij} d_i M_{ik} \\varepsilon_k / c_k` and
:math:`K_0` the derivative at fixed c (through R directly, through the folded
counts and through the efficiency, which moves with R). In the first
iteration J = M and K = K_0. The covariances are

.. math:: V_{data} = J^T \\operatorname{diag}(\\sigma_d^2) J, \\qquad
          V_{response} = K\\, \\operatorname{Cov}(R)\\, K^T,

where Cov(R) is multinomial within each truth bin, (R_ik delta_il - R_ik
R_lk) / N_k with N_k the Kish effective number of simulated events of bin k,
or Poisson (each cell independent).

Agreement with pyunfold 0.5.0. Unfolded counts and the response covariance
agree to rounding. The data covariance agrees in the first iteration; from
the second on pyunfold multiplies the correction term of J in the other order
(``M (M eps/c)^T diag(d) J`` instead of ``J A^T``), which is not the
derivative of its own iteration. bayesfold follows the derivative, checked
against finite differences in ``tests/test_ibu.py``; RooUnfold's
``RooUnfoldBayes`` orders the product the same way.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable
from dataclasses import asdict, dataclass
from typing import Literal

import numpy as np
from numpy.typing import ArrayLike, NDArray

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
from bayesfold.exceptions import ConfigurationError
from bayesfold.result import UnfoldingResult
from bayesfold.samples import DataSample, SimulationSample

__all__ = ["IBUResult", "ibu", "unfold_ibu"]

logger = logging.getLogger(__name__)

ResponseUncertainty = Literal["multinomial", "poisson", "none"]

#: Spawn key of the seed of the draws.
_DRAWS_KEY = 0


@dataclass(frozen=True)
class IBUResult:
    """Unfolded truth counts of every iteration and their covariances.

    Arrays run over the truth bins of the response, flow bins included.

    Attributes
    ----------
    counts : ndarray, shape (iterations, n_truth_bins)
        Unfolded counts after each iteration.
    data_covariance : ndarray, shape (iterations, n_truth_bins, n_truth_bins)
        Covariance from the statistics of the data.
    response_covariance : ndarray, shape (iterations, n_truth_bins, n_truth_bins)
        Covariance from the statistics of the simulated response (zero with
        ``response_uncertainty="none"``).
    unfolding_matrix : ndarray, shape (n_reco_bins, n_truth_bins)
        M of the last iteration: ``counts[-1] = data @ unfolding_matrix``.
    data : ndarray, shape (n_reco_bins,)
        The measured counts that were unfolded, fakes subtracted.
    prior : ndarray, shape (n_truth_bins,)
        The starting truth counts, scaled to the total of ``data``.
    unreached : float
        Measured counts (fakes subtracted) in reco bins that no truth bin
        reaches: they cannot be unfolded and are left out.
    """

    counts: NDArray[np.float64]
    data_covariance: NDArray[np.float64]
    response_covariance: NDArray[np.float64]
    unfolding_matrix: NDArray[np.float64]
    data: NDArray[np.float64]
    prior: NDArray[np.float64]
    unreached: float = 0.0

    @property
    def iterations(self) -> int:
        return int(self.counts.shape[0])

    @property
    def unfolded(self) -> NDArray[np.float64]:
        """Unfolded counts of the last iteration."""
        return self.counts[-1]

    @property
    def covariance(self) -> NDArray[np.float64]:
        """Total covariance (data and response) of every iteration."""
        return self.data_covariance + self.response_covariance

    @property
    def errors(self) -> NDArray[np.float64]:
        """Standard deviation of each bin in the last iteration."""
        return np.sqrt(np.diag(self.covariance[-1]))


def ibu(
    data_counts: ArrayLike,
    response: Response,
    *,
    iterations: int = 4,
    prior: ArrayLike | None = None,
    data_variance: ArrayLike | None = None,
    response_uncertainty: ResponseUncertainty = "multinomial",
    subtract_fakes: bool = True,
) -> IBUResult:
    """Unfold reco-bin counts with ``iterations`` D'Agostini iterations.

    Parameters
    ----------
    data_counts : array_like, shape (n_reco_bins,)
        Measured counts in the reco bins of ``response``, flow bins included
        (:meth:`Response.reco_histogram`).
    response : Response
        The binned simulation.
    iterations : int
        Number of iterations; each is kept on the result.
    prior : array_like, shape (n_truth_bins,), optional
        Starting truth distribution (its normalisation does not matter); by
        default the simulated truth counts, ``response.truth``.
    data_variance : array_like, shape (n_reco_bins,), optional
        Variance of each measured count; by default the counts themselves
        (Poisson). For weighted data pass the sums of squared weights.
    response_uncertainty : {"multinomial", "poisson", "none"}
        Covariance of the response matrix from the simulation's statistics
        (see the module notes), or none.
    subtract_fakes : bool
        Scale each measured count by the reco bin's purity, ``1 - f_i``.

    Returns
    -------
    IBUResult
        Counts and covariances of every iteration.
    """
    check_integer("iterations", iterations, 1)
    d = check_counts("data_counts", data_counts, response.n_reco_bins, "reco")
    variance = (
        d.copy()
        if data_variance is None
        else check_counts("data_variance", data_variance, response.n_reco_bins, "reco")
    )
    start = _prior(prior, response)
    covariance_of_matrix = _matrix_covariance(response, response_uncertainty)

    if subtract_fakes:
        d, variance = response.purity * d, response.purity**2 * variance
    R, efficiency = response.matrix, response.efficiency
    unreached = log_unreachable("ibu", d, R.sum(axis=1) > 0)
    previous = d.sum() * safe_divide(start, start.sum())
    initial = previous.copy()
    jacobian_data: NDArray[np.float64] | None = None
    jacobian_matrix: NDArray[np.float64] | None = None
    counts, data_cov, response_cov = [], [], []
    for _ in range(iterations):
        step = _Step.take(R, efficiency, d, previous)
        jacobian_data = step.data_derivative(jacobian_data)
        jacobian_matrix = step.matrix_derivative(jacobian_matrix)
        counts.append(step.counts)
        data_cov.append(jacobian_data.T @ (variance[:, None] * jacobian_data))
        response_cov.append(covariance_of_matrix(jacobian_matrix))
        previous = step.counts

    return IBUResult(
        counts=np.array(counts),
        data_covariance=np.array(data_cov),
        response_covariance=np.array(response_cov),
        unfolding_matrix=step.M,
        data=d,
        prior=initial,
        unreached=unreached,
    )


@dataclass(frozen=True)
class _Step:
    """One iteration: M, the new counts, and what the derivatives need."""

    R: NDArray[np.float64]
    efficiency: NDArray[np.float64]
    d: NDArray[np.float64]
    previous: NDArray[np.float64]
    folded: NDArray[np.float64]
    M: NDArray[np.float64]
    counts: NDArray[np.float64]

    @classmethod
    def take(
        cls,
        R: NDArray[np.float64],
        efficiency: NDArray[np.float64],
        d: NDArray[np.float64],
        previous: NDArray[np.float64],
    ) -> _Step:
        folded = R @ previous
        M = safe_divide(R * safe_divide(previous, efficiency), folded[:, None])
        return cls(R, efficiency, d, previous, folded, M, d @ M)

    def coupling(self) -> NDArray[np.float64]:
        """A_jk = sum_i M_ij d_i M_ik eps_k / c_k: how c' moves with c."""
        return (self.M.T * self.d) @ (
            self.M * safe_divide(self.efficiency, self.previous)
        )

    def growth(self) -> NDArray[np.float64]:
        """c' / c per truth bin (0 where c is 0)."""
        return safe_divide(self.counts, self.previous)

    def data_derivative(
        self, previous: NDArray[np.float64] | None
    ) -> NDArray[np.float64]:
        """J = dc'/dd, shape (n_reco, n_truth), from the previous iteration's J."""
        if previous is None:
            return self.M.copy()
        return self.M + previous * self.growth() - previous @ self.coupling().T

    def matrix_derivative(
        self, previous: NDArray[np.float64] | None
    ) -> NDArray[np.float64]:
        """K = dc'/dR, shape (n_truth, n_reco, n_truth), from the previous K."""
        ratio = safe_divide(self.d, self.folded)
        # Through the folded counts (every cell of R), then through R_it
        # itself and through eps_t (the cells of column t).
        direct = -np.einsum("i,it,k->tik", ratio, self.M, self.previous)
        own_column = safe_divide(
            np.outer(ratio, self.previous) - self.counts, self.efficiency
        )
        t = np.arange(len(self.counts))
        direct[t, :, t] += own_column.T
        if previous is None:
            return direct
        flat = previous.reshape(len(t), -1)
        update = self.growth()[:, None] * flat - self.coupling() @ flat
        return direct + update.reshape(previous.shape)


def _matrix_covariance(
    response: Response, kind: ResponseUncertainty
) -> Callable[[NDArray[np.float64]], NDArray[np.float64]]:
    """A function K -> K Cov(R) K^T for the chosen covariance of R."""
    R = response.matrix
    if kind == "multinomial":
        inverse_n = safe_divide(1.0, response.effective_truth)

        def multinomial(K: NDArray[np.float64]) -> NDArray[np.float64]:
            weighted = K * R
            diagonal = np.einsum("tik,sik,k->ts", weighted, K, inverse_n)
            column = weighted.sum(axis=1)
            return diagonal - np.einsum("tk,sk,k->ts", column, column, inverse_n)

        return multinomial
    if kind == "poisson":
        variance = response.matrix_variance
        return lambda K: np.einsum("tik,sik,ik->ts", K, K, variance)
    if kind == "none":
        size = response.n_truth_bins
        return lambda K: np.zeros((size, size))
    raise ConfigurationError(
        "response_uncertainty must be 'multinomial', 'poisson' or 'none'; got "
        f"{kind!r}."
    )


def _prior(prior: ArrayLike | None, response: Response) -> NDArray[np.float64]:
    if prior is None:
        start = response.truth
    else:
        start = check_counts("prior", prior, response.n_truth_bins, "truth")
    if start.sum() <= 0:
        raise ConfigurationError(
            "the prior sums to zero, so there is nothing to iterate from; pass a "
            "prior with positive counts where the truth is expected."
        )
    return start


def unfold_ibu(
    simulation: SimulationSample,
    data: DataSample,
    *,
    bins: ArrayLike | None = None,
    reco_bins: ArrayLike | None = None,
    observable: int = 0,
    reco_observable: int = 0,
    iterations: int = 4,
    replicas: int = DEFAULT_REPLICAS,
    prior: ArrayLike | None = None,
    response_uncertainty: ResponseUncertainty = "multinomial",
    random_state: int | np.random.Generator | None = None,
    progress: bool = True,
) -> UnfoldingResult:
    """IBU of one gen observable, as an :class:`UnfoldingResult` with draws.

    The response is binned from ``simulation`` (:mod:`bayesfold.binned`),
    the data are unfolded with :func:`ibu`, and ``replicas`` draws of every
    iteration are taken from the normal law of its counts and total
    covariance (data and response). The draws are moment-matched: their
    sample mean and covariance equal IBU's counts and covariance exactly
    (when ``replicas`` exceeds the number of truth bins; with one replica the
    single draw is IBU's estimate). Negative draws are then set to zero, which
    moves the mean of a bin that can reach zero. The draws become event
    weights as described in :mod:`bayesfold.binned`.

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
        IBU iterations; each is an entry of the result's iteration axis.
    replicas : int
        Draws on the result.
    prior, response_uncertainty
        Passed to :func:`ibu`.
    random_state : int, Generator or None
        Seed of the draws.
    progress : bool
        Accepted for a common signature with OmniFold; IBU takes no time.

    Returns
    -------
    UnfoldingResult
        Weights of shape (iterations, replicas, n_sim). ``metadata`` holds,
        as plain dicts of arrays so that the result can be saved, the fields
        of the :class:`IBUResult` (``"ibu"``) and of the :class:`Response`
        (``"response"``), the drawn truth counts of shape (iterations,
        replicas, n_truth_bins) (``"truth_draws"``) and the number of drawn
        bin counts set to zero (``"clipped_draws"``).
    """
    start = time.perf_counter()
    replicas = _check_replicas(replicas)
    response, counts, variances = bin_samples(
        simulation,
        data,
        bins=bins,
        reco_bins=reco_bins,
        observable=observable,
        reco_observable=reco_observable,
        method="ibu",
    )
    result = ibu(
        counts,
        response,
        iterations=iterations,
        prior=prior,
        data_variance=variances,
        response_uncertainty=response_uncertainty,
    )
    seeds = SeedSource(random_state)
    draws = moment_matched_normal(
        result.counts, result.covariance, replicas, seeds.generator(_DRAWS_KEY)
    )
    clipped = int(np.sum(draws < 0))
    if clipped:
        logger.info(
            "ibu: %d of %d drawn bin counts were negative, set to 0",
            clipped,
            draws.size,
        )
    draws = np.maximum(draws, 0.0)
    fakes = np.broadcast_to(
        response.fake_fraction * counts, (*draws.shape[:2], response.n_reco_bins)
    )
    return unfolding_result(
        simulation,
        data,
        response,
        draws,
        np.array(fakes),
        counts,
        method="ibu",
        seconds=time.perf_counter() - start,
        random_state=seeds.entropy,
        metadata={
            "ibu": asdict(result),
            "response": asdict(response),
            "truth_draws": draws,
            "clipped_draws": clipped,
        },
    )


def moment_matched_normal(
    mean: NDArray[np.float64],
    covariance: NDArray[np.float64],
    draws: int,
    rng: np.random.Generator,
) -> NDArray[np.float64]:
    """Normal draws whose sample mean and covariance are exactly the given ones.

    Parameters
    ----------
    mean : ndarray, shape (iterations, n)
    covariance : ndarray, shape (iterations, n, n)
        Positive semi-definite.
    draws : int
        Draws per iteration; the same standard normal numbers serve every
        iteration. One draw returns ``mean``.
    rng : numpy.random.Generator

    Returns
    -------
    ndarray, shape (iterations, draws, n)
        With ``draws > n`` the sample mean and the sample covariance
        (``ddof=1``) equal ``mean`` and ``covariance`` to rounding; with
        fewer, the sample mean does and the covariance only in expectation.
    """
    n = mean.shape[-1]
    if draws == 1:
        return mean[:, None, :].copy()
    z = rng.standard_normal((draws, n))
    z -= z.mean(axis=0)
    if draws > n:
        sample_cov = z.T @ z / (draws - 1)
        z = np.linalg.solve(np.linalg.cholesky(sample_cov), z.T).T
    eigenvalues, eigenvectors = np.linalg.eigh(covariance)
    roots = eigenvectors * np.sqrt(np.clip(eigenvalues, 0.0, None))[:, None, :]
    return mean[:, None, :] + np.einsum("dk,ijk->idj", z, roots)


def _check_replicas(replicas: int) -> int:
    if isinstance(replicas, bool) or not isinstance(replicas, int | np.integer):
        raise ConfigurationError(f"replicas must be an integer; got {replicas!r}.")
    if replicas < 1:
        raise ConfigurationError(f"replicas must be at least 1; got {replicas}.")
    return int(replicas)
