"""The binned picture shared by the classical unfolding methods (IBU and FBU).

A :class:`Response` bins one particle-level observable (the *truth* bins) and
one detector-level observable (the *reco* bins) of a
:class:`~bayesfold.samples.SimulationSample`. It holds weighted counts only;
the response matrix, efficiencies, fake fractions and their statistical
uncertainties are derived from them.

Flow bins. Each axis has the bins given by its edges plus an underflow bin in
front and an overflow bin behind, so that every selected event belongs to one
bin and no event is lost at the edges. A truth count vector therefore has
``len(truth_edges) + 1`` entries, of which ``inner`` (``slice(1, -1)``) are the
bins that were asked for. As in :func:`numpy.histogram`, each bin holds its
lower edge and the last inner bin also its upper edge. An event outside the
edges is neither an inefficiency nor a fake: it is unfolded in a flow bin,
and the flow bins' counts are there for whoever needs them. A flow bin that
no simulated event reaches stays empty and unfolds to zero.

Selections. An event passing ``pass_gen`` and ``pass_reco`` fills the
migration matrix; one passing only ``pass_gen`` is lost to the detector (it
counts in the truth counts, not in the efficiency); one passing only
``pass_reco`` is a *fake*. Fakes are handled through the fake fraction of each
reco bin in the simulation, f_i = fakes_i / reco_i: the measured count of reco
bin i is taken to hold a fraction f_i of fakes. IBU subtracts them from the
data (``(1 - f_i) d_i``); FBU expects ``(R t)_i / (1 - f_i)`` events, the
same assumption written as a likelihood. IBU takes the fake fractions as
known; FBU by default samples them with the response
(``response_uncertainty="dirichlet"``, :mod:`bayesfold.fbu`).

Event weights. :func:`unfolding_result` turns unfolded truth counts (with a
draws axis) into the per-event weights of an
:class:`~bayesfold.result.UnfoldingResult`, so that histograms, posterior
summaries, metrics and coverage treat the binned methods like OmniFold:

- an event passing ``pass_gen`` in truth bin j gets the push weight
  ``t_j / truth_j``, the unfolded count over the simulated count of its bin,
  so that ``push * sim_weights`` summed over bin j is the unfolded count t_j
  itself (in the data's units);
- a fake in reco bin i gets the expected number of fakes in the data over the
  simulated fakes of its bin;
- the pull weight of iteration n is the push weight of iteration n - 1 times
  the ratio of the measured to the folded (fakes included) counts of the
  event's reco bin (OmniFold's step 1, binned; the simulation itself before
  the first iteration); events failing ``pass_reco`` get their push weight,
  which is what IBU's efficiency correction gives them;
- the data weights of each draw are the measured weights scaled so that their
  total equals the detector-level total of that draw's last iteration: the
  normalisation to data of :meth:`UnfoldingResult.weights` then changes
  nothing, and its histograms in the truth bins reproduce each draw's
  unfolded counts. With ``normalize="simulation"`` every iteration is
  reproduced; with the default ``normalize="data"`` earlier iterations are
  scaled by the ratio of their detector-level total to the last one's.
"""

from __future__ import annotations

import logging
import time
from dataclasses import dataclass, field
from typing import Any

import numpy as np
from numpy.typing import ArrayLike, NDArray

from bayesfold.exceptions import ConfigurationError, ShapeMismatchError
from bayesfold.result import StepDiagnostics, UnfoldingResult, bin_edges
from bayesfold.samples import (
    DataSample,
    SimulationSample,
    check_compatible,
    kish_effective_size,
)

__all__ = [
    "DEFAULT_REPLICAS",
    "Response",
    "SeedSource",
    "bin_index",
    "bin_samples",
    "check_counts",
    "log_unreachable",
    "response_from_simulation",
    "safe_divide",
    "unfolding_result",
]

logger = logging.getLogger(__name__)

#: Draws on the result of a binned method unless ``replicas`` is given. The
#: weights cost iterations x replicas x n_sim floats, twice (pull and push).
DEFAULT_REPLICAS = 200


def bin_index(values: ArrayLike, edges: ArrayLike) -> NDArray[np.int64]:
    """Bin of each value on an axis with flow bins, 0 to ``len(edges)``.

    0 is the underflow bin, ``len(edges)`` the overflow bin. Each bin holds its
    lower edge; the last inner bin also holds the last edge, as in
    :func:`numpy.histogram`. NaN values go to the overflow bin; callers pass
    only the values of selected events, which are finite.
    """
    x = np.asarray(values, dtype=np.float64)
    e = np.asarray(edges, dtype=np.float64)
    index = np.searchsorted(e, x, side="right")
    index[x == e[-1]] = len(e) - 1
    return index.astype(np.int64)


def safe_divide(numerator: ArrayLike, denominator: ArrayLike) -> NDArray[np.float64]:
    """``numerator / denominator``, and 0 where the denominator is 0."""
    num, den = np.broadcast_arrays(
        np.asarray(numerator, dtype=np.float64),
        np.asarray(denominator, dtype=np.float64),
    )
    out = np.zeros(num.shape)
    np.divide(num, den, out=out, where=den != 0)
    return out


@dataclass(frozen=True)
class Response:
    """Weighted counts of a simulation in truth and reco bins, flow bins included.

    Build it with :func:`response_from_simulation`. Arrays run over the
    ``n_reco_bins`` reco bins and ``n_truth_bins`` truth bins, flow bins
    included (``len(edges) + 1`` on each axis).

    Attributes
    ----------
    truth_edges, reco_edges : ndarray
        The inner bin edges of each axis.
    migrations, migrations_sq : ndarray, shape (n_reco_bins, n_truth_bins)
        Sum of weights, and of squared weights, of the events passing both
        selections, by reco bin and truth bin.
    truth, truth_sq : ndarray, shape (n_truth_bins,)
        The same for the events passing ``pass_gen``: the simulated truth
        distribution (the prior of IBU).
    fakes, fakes_sq : ndarray, shape (n_reco_bins,)
        The same for the events passing ``pass_reco`` but not ``pass_gen``.
    truth_observable, reco_observable : int
        The ``gen`` and ``reco`` columns that were binned.
    """

    truth_edges: NDArray[np.float64]
    reco_edges: NDArray[np.float64]
    migrations: NDArray[np.float64]
    migrations_sq: NDArray[np.float64]
    truth: NDArray[np.float64]
    truth_sq: NDArray[np.float64]
    fakes: NDArray[np.float64]
    fakes_sq: NDArray[np.float64]
    truth_observable: int = 0
    reco_observable: int = 0

    @property
    def n_truth_bins(self) -> int:
        """Truth bins, flow bins included."""
        return len(self.truth)

    @property
    def n_reco_bins(self) -> int:
        """Reco bins, flow bins included."""
        return len(self.fakes)

    @property
    def inner(self) -> slice:
        """The bins between the edges (flow bins left out), on either axis."""
        return slice(1, -1)

    @property
    def matrix(self) -> NDArray[np.float64]:
        """Response matrix P(reco bin i | truth bin j), shape (n_reco, n_truth).

        Its column sums are the efficiencies; a truth bin without simulated
        events has a zero column.
        """
        return safe_divide(self.migrations, self.truth)

    @property
    def efficiency(self) -> NDArray[np.float64]:
        """Probability that an event of each truth bin passes ``pass_reco``."""
        return safe_divide(self.migrations.sum(axis=0), self.truth)

    @property
    def reco(self) -> NDArray[np.float64]:
        """Simulated detector-level counts per reco bin, fakes included."""
        return self.migrations.sum(axis=1) + self.fakes

    @property
    def fake_fraction(self) -> NDArray[np.float64]:
        """Fraction of fakes among the simulated events of each reco bin."""
        return safe_divide(self.fakes, self.reco)

    @property
    def purity(self) -> NDArray[np.float64]:
        """``1 - fake_fraction``: the share of each reco bin that is unfolded."""
        return 1.0 - self.fake_fraction

    @property
    def effective_truth(self) -> NDArray[np.float64]:
        """Kish effective number of simulated events per truth bin.

        The event count behind each column of :attr:`matrix`; it sets the
        multinomial uncertainty of the column.
        """
        return safe_divide(self.truth**2, self.truth_sq)

    @property
    def matrix_variance(self) -> NDArray[np.float64]:
        """Variance of each element of :attr:`matrix`, Poisson form.

        Sum of squared weights in the cell over the squared truth count: the
        cells treated as independent, the truth count as fixed.
        """
        return safe_divide(self.migrations_sq, self.truth**2)

    def truth_index(self, values: ArrayLike) -> NDArray[np.int64]:
        """Truth bin (flow bins included) of each particle-level value."""
        return bin_index(values, self.truth_edges)

    def reco_index(self, values: ArrayLike) -> NDArray[np.int64]:
        """Reco bin (flow bins included) of each detector-level value."""
        return bin_index(values, self.reco_edges)

    def reco_histogram(
        self, values: ArrayLike, weights: ArrayLike
    ) -> tuple[NDArray[np.float64], NDArray[np.float64]]:
        """Counts and variances (sums of squared weights) in the reco bins."""
        index = self.reco_index(values)
        w = np.asarray(weights, dtype=np.float64)
        if w.shape != index.shape:
            raise ShapeMismatchError(
                f"values and weights must have the same shape; got {index.shape} "
                f"and {w.shape}. Pass one weight per value."
            )
        counts = np.bincount(index, weights=w, minlength=self.n_reco_bins)
        variances = np.bincount(index, weights=w * w, minlength=self.n_reco_bins)
        return counts, variances


def response_from_simulation(
    simulation: SimulationSample,
    *,
    truth_edges: ArrayLike,
    reco_edges: ArrayLike | None = None,
    truth_observable: int = 0,
    reco_observable: int = 0,
) -> Response:
    """Bin a simulation into a :class:`Response`.

    Parameters
    ----------
    simulation : SimulationSample
        Simulated events with their weights and selections.
    truth_edges : array_like
        Strictly increasing inner edges of the truth bins.
    reco_edges : array_like, optional
        Inner edges of the reco bins; by default ``truth_edges`` (the same
        edges applied to the detector-level observable). Finer reco bins keep
        more of the detector's information.
    truth_observable, reco_observable : int
        Columns of ``gen`` and ``reco`` to bin.

    Returns
    -------
    Response
        Flow bins included on both axes (see the module notes).
    """
    truth_axis = bin_edges(truth_edges)
    reco_axis = truth_axis if reco_edges is None else bin_edges(reco_edges)
    _check_column("truth_observable", truth_observable, simulation.gen, "gen")
    _check_column("reco_observable", reco_observable, simulation.reco, "reco")

    w = simulation.sim_weights
    gen_pass, reco_pass = simulation.pass_gen, simulation.pass_reco
    truth_bin = np.where(
        gen_pass, bin_index(simulation.gen[:, truth_observable], truth_axis), 0
    )
    reco_bin = np.where(
        reco_pass, bin_index(simulation.reco[:, reco_observable], reco_axis), 0
    )
    shape = (len(reco_axis) + 1, len(truth_axis) + 1)

    def cells(mask: NDArray[np.bool_], power: int) -> NDArray[np.float64]:
        flat = reco_bin[mask] * shape[1] + truth_bin[mask]
        counts = np.bincount(flat, weights=w[mask] ** power, minlength=np.prod(shape))
        return counts.reshape(shape)

    def axis_counts(
        index: NDArray[np.int64], mask: NDArray[np.bool_], power: int, size: int
    ) -> NDArray[np.float64]:
        return np.bincount(index[mask], weights=w[mask] ** power, minlength=size)

    both, fake = gen_pass & reco_pass, reco_pass & ~gen_pass
    return Response(
        truth_edges=truth_axis,
        reco_edges=reco_axis,
        migrations=cells(both, 1),
        migrations_sq=cells(both, 2),
        truth=axis_counts(truth_bin, gen_pass, 1, shape[1]),
        truth_sq=axis_counts(truth_bin, gen_pass, 2, shape[1]),
        fakes=axis_counts(reco_bin, fake, 1, shape[0]),
        fakes_sq=axis_counts(reco_bin, fake, 2, shape[0]),
        truth_observable=int(truth_observable),
        reco_observable=int(reco_observable),
    )


def bin_samples(
    simulation: SimulationSample,
    data: DataSample,
    *,
    bins: ArrayLike | None,
    reco_bins: ArrayLike | None = None,
    observable: int = 0,
    reco_observable: int = 0,
    method: str = "binned",
) -> tuple[Response, NDArray[np.float64], NDArray[np.float64]]:
    """The response of ``simulation`` and the data's reco counts and variances.

    ``bins`` are the truth edges (required: a binned method unfolds these
    bins), ``reco_bins`` the reco edges (default: ``bins``). ``method`` names
    the caller in error messages.
    """
    if bins is None:
        raise ConfigurationError(
            f"method {method!r} unfolds histograms and needs the truth bin edges: "
            "pass bins=[...] (the edges of the gen observable to unfold)."
        )
    check_compatible(simulation, data)
    response = response_from_simulation(
        simulation,
        truth_edges=bins,
        reco_edges=reco_bins,
        truth_observable=observable,
        reco_observable=reco_observable,
    )
    counts, variances = response.reco_histogram(
        data.data[:, reco_observable], data.data_weights
    )
    return response, counts, variances


def check_counts(
    name: str, values: ArrayLike, size: int, axis: str
) -> NDArray[np.float64]:
    """A 1-D array of ``size`` finite, non-negative counts, or a clear error."""
    counts = np.asarray(values, dtype=np.float64)
    if counts.shape != (size,):
        raise ShapeMismatchError(
            f"{name} must have one entry per {axis} bin, flow bins included, shape "
            f"({size},); got shape {counts.shape}. Fill it with "
            "Response.reco_histogram, or pad the inner bins with the two flow bins."
        )
    if not np.all(np.isfinite(counts)) or np.any(counts < 0):
        raise ConfigurationError(
            f"{name} must be finite and non-negative; got {counts.tolist()}."
        )
    return counts


def log_unreachable(
    method: str, data_counts: NDArray[np.float64], reached: NDArray[np.bool_]
) -> float:
    """Log and return the measured events in reco bins no truth bin reaches.

    Such events cannot be unfolded: the simulation has no events there (or
    only fakes). Wider reco bins or a simulation that covers the data help.
    """
    lost = float(data_counts[~reached].sum())
    if lost > 0:
        logger.info(
            "%s: %.4g of %.4g measured events lie in reco bins that no simulated "
            "truth bin reaches and are not unfolded; widen the reco bins or "
            "extend the simulation",
            method,
            lost,
            float(data_counts.sum()),
        )
    return lost


@dataclass
class SeedSource:
    """One root seed for a binned method: its entropy and child generators."""

    random_state: int | np.random.Generator | None
    entropy: int = field(init=False)

    def __post_init__(self) -> None:
        state = self.random_state
        if isinstance(state, np.random.Generator):
            state = int(state.integers(2**63))
        self.entropy = int(np.random.SeedSequence(state).entropy)  # type: ignore[arg-type]

    def generator(self, key: int) -> np.random.Generator:
        """An independent generator for the step numbered ``key``."""
        return np.random.default_rng(
            np.random.SeedSequence(self.entropy, spawn_key=(key,))
        )


def unfolding_result(
    simulation: SimulationSample,
    data: DataSample,
    response: Response,
    truth_counts: NDArray[np.float64],
    fake_counts: NDArray[np.float64],
    data_counts: NDArray[np.float64],
    *,
    method: str,
    seconds: float,
    random_state: int,
    history: list[dict[str, Any]] | None = None,
    metadata: dict[str, Any] | None = None,
) -> UnfoldingResult:
    """Per-event weights of unfolded truth counts (see the module notes).

    Parameters
    ----------
    simulation, data : SimulationSample, DataSample
        The samples that were binned into ``response`` and ``data_counts``.
    response : Response
        Their response.
    truth_counts : ndarray, shape (iterations, draws, n_truth_bins)
        Unfolded truth counts per iteration and draw, in the data's units.
    fake_counts : ndarray, shape (iterations, draws, n_reco_bins)
        Expected fakes in the data per iteration, draw and reco bin.
    data_counts : ndarray, shape (n_reco_bins,)
        Measured counts in the reco bins.
    method : str
        Name of the method, stored on the result.
    seconds : float
        Wall time of the unfolding.
    random_state : int
        Root entropy of the method's seeds.
    history : list of dict, optional
        Per iteration, what the method recorded (for the diagnostics).
    metadata : dict, optional
        Stored on the result.
    """
    start = time.perf_counter()
    push = _push_weights(simulation, response, truth_counts, fake_counts)
    pull = _pull_weights(
        simulation, response, truth_counts, fake_counts, data_counts, push
    )
    n_draws = truth_counts.shape[1]
    sim_weights = np.broadcast_to(simulation.sim_weights, (n_draws, len(push[0, 0])))
    reco_total = (push[-1] * sim_weights)[:, simulation.pass_reco].sum(axis=1)
    data_total = data.data_weights.sum()
    data_weights = np.outer(reco_total / data_total, data.data_weights)

    seconds_each = (seconds + time.perf_counter() - start) / len(push)
    diagnostics = [
        StepDiagnostics(
            iteration=iteration,
            step=method,
            n_events=simulation.n_events,
            n_clipped=np.zeros(n_draws, dtype=np.int64),
            effective_size=kish_effective_size(
                (push[iteration] * sim_weights)[:, simulation.pass_gen]
            ),
            seconds=seconds_each,
            history=[] if history is None else [history[iteration]],
        )
        for iteration in range(len(push))
    ]
    return UnfoldingResult(
        simulation=simulation,
        sim_weights=np.array(sim_weights),
        data_weights=data_weights,
        pull_weights=pull,
        push_weights=push,
        diagnostics=diagnostics,
        method=method,
        seconds=seconds + time.perf_counter() - start,
        random_state=random_state,
        metadata={} if metadata is None else metadata,
    )


def _push_weights(
    simulation: SimulationSample,
    response: Response,
    truth_counts: NDArray[np.float64],
    fake_counts: NDArray[np.float64],
) -> NDArray[np.float64]:
    """Push weights (iterations, draws, n_sim): unfolded over simulated counts."""
    push = np.ones((*truth_counts.shape[:2], simulation.n_events))
    truth_ratio = safe_divide(truth_counts, response.truth)
    fake_ratio = safe_divide(fake_counts, response.fakes)
    gen_pass = simulation.pass_gen
    fake = simulation.pass_reco & ~gen_pass
    observable = response.truth_observable
    truth_bin = response.truth_index(simulation.gen[gen_pass, observable])
    fake_bin = response.reco_index(simulation.reco[fake, response.reco_observable])
    push[:, :, gen_pass] = truth_ratio[:, :, truth_bin]
    push[:, :, fake] = fake_ratio[:, :, fake_bin]
    return push


def _pull_weights(
    simulation: SimulationSample,
    response: Response,
    truth_counts: NDArray[np.float64],
    fake_counts: NDArray[np.float64],
    data_counts: NDArray[np.float64],
    push: NDArray[np.float64],
) -> NDArray[np.float64]:
    """Pull weights: previous push times measured over folded, per reco bin."""
    n_draws = truth_counts.shape[1]
    start_truth = np.broadcast_to(response.truth, (1, n_draws, response.n_truth_bins))
    start_fakes = np.broadcast_to(response.fakes, (1, n_draws, response.n_reco_bins))
    previous_truth = np.concatenate([start_truth, truth_counts[:-1]])
    previous_fakes = np.concatenate([start_fakes, fake_counts[:-1]])
    folded = previous_truth @ response.matrix.T + previous_fakes
    ratio = np.where(folded > 0, safe_divide(data_counts, folded), 1.0)

    previous_push = np.concatenate([np.ones_like(push[:1]), push[:-1]])
    pull = push.copy()
    reco_pass = simulation.pass_reco
    reco_bin = response.reco_index(simulation.reco[reco_pass, response.reco_observable])
    pull[:, :, reco_pass] = previous_push[:, :, reco_pass] * ratio[:, :, reco_bin]
    return pull


def _check_column(
    name: str, column: int, features: NDArray[np.float64], sample: str
) -> None:
    n_columns = features.shape[1]
    if isinstance(column, bool) or not isinstance(column, int | np.integer):
        raise ConfigurationError(
            f"{name} must be an integer column index of {sample}; got {column!r}."
        )
    if not 0 <= column < n_columns:
        raise ConfigurationError(
            f"{name}={column} is out of range: {sample} has {n_columns} feature "
            f"column(s), so pass 0 to {n_columns - 1}."
        )
