"""Containers for the simulated and the measured events, checked on entry.

A :class:`SimulationSample` holds the particle-level (``gen``) and detector-level
(``reco``) features of the same simulated events, their generator weights and the
two selection masks. A :class:`DataSample` holds the detector-level features of
the measured events and their weights. Both accept 1-D arrays (one feature) or
2-D arrays (events x features) and store 2-D ``float64`` copies.

Features of an event that fails a selection are never read: ``reco`` of an event
with ``pass_reco=False`` (and ``gen`` of one with ``pass_gen=False``) may hold NaN,
which is how such events are often written to file.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import numpy as np
from numpy.typing import ArrayLike, NDArray

from bayesfold.exceptions import (
    EmptySampleError,
    FeatureCountError,
    MaskError,
    MaskTypeError,
    NonFiniteError,
    ShapeMismatchError,
    WeightError,
)

__all__ = ["DataSample", "SimulationSample", "kish_effective_size"]


def kish_effective_size(weights: ArrayLike, axis: int = -1) -> NDArray[np.float64]:
    """Kish effective number of events, ``(sum w)^2 / sum w^2``, along ``axis``."""
    w = np.asarray(weights, dtype=np.float64)
    total_sq = np.sum(w * w, axis=axis)
    with np.errstate(invalid="ignore", divide="ignore"):
        ess = np.sum(w, axis=axis) ** 2 / total_sq
    return np.where(total_sq > 0, ess, 0.0)


def _features(name: str, values: ArrayLike) -> NDArray[np.float64]:
    array = np.asarray(values)
    if array.dtype == bool or not np.issubdtype(array.dtype, np.number):
        raise NonFiniteError(
            f"{name} must hold numbers; got an array of dtype {array.dtype}. "
            "Convert the features to floating point before building the sample."
        )
    if array.ndim == 1:
        array = array[:, np.newaxis]
    if array.ndim != 2:
        raise ShapeMismatchError(
            f"{name} must be 1-D (one feature) or 2-D (events x features); got "
            f"an array with shape {array.shape}. Reshape it to (n_events, "
            "n_features)."
        )
    if array.shape[0] == 0:
        raise EmptySampleError(
            f"{name} holds no events (shape {array.shape}). Pass at least one event."
        )
    if array.shape[1] == 0:
        raise ShapeMismatchError(
            f"{name} has no feature columns (shape {array.shape}). Pass at least "
            "one feature per event."
        )
    return np.array(array, dtype=np.float64)


def _check_length(name: str, array: NDArray[Any], n: int, reference: str) -> None:
    if array.shape[0] != n:
        raise ShapeMismatchError(
            f"{name} has {array.shape[0]} events but {reference} has {n}; every "
            f"array of a sample must describe the same events, one row each."
        )


def _check_finite(name: str, array: NDArray[Any], where: NDArray[np.bool_]) -> None:
    bad_rows = ~np.all(np.isfinite(array.reshape(array.shape[0], -1)), axis=1)
    bad_rows &= where
    if np.any(bad_rows):
        first = int(np.flatnonzero(bad_rows)[0])
        raise NonFiniteError(
            f"{name} has {int(bad_rows.sum())} selected events with NaN or "
            f"infinite values (first at index {first}). Remove those events, "
            "fix the values, or mark them as failing the selection."
        )


def _weights(name: str, values: ArrayLike | None, n: int) -> NDArray[np.float64]:
    if values is None:
        return np.ones(n)
    weights = np.asarray(values)
    if not np.issubdtype(weights.dtype, np.number) or weights.dtype == bool:
        raise NonFiniteError(
            f"{name} must hold numbers; got an array of dtype {weights.dtype}."
        )
    weights = np.array(weights, dtype=np.float64)
    if weights.ndim != 1:
        raise ShapeMismatchError(
            f"{name} must be 1-D with one weight per event; got shape {weights.shape}."
        )
    _check_length(name, weights, n, "the features")
    _check_finite(name, weights, np.ones(n, dtype=bool))
    negative = weights < 0
    if np.any(negative):
        first = int(np.flatnonzero(negative)[0])
        raise WeightError(
            f"{name} has {int(negative.sum())} negative weights (first at index "
            f"{first}, value {weights[first]:g}). bayesfold needs non-negative "
            "event weights: drop or resample the negative-weight events first."
        )
    if weights.sum() <= 0:
        raise WeightError(
            f"{name} sum to zero; at least one event needs a positive weight."
        )
    return weights


def _mask(name: str, values: ArrayLike | None, n: int) -> NDArray[np.bool_]:
    if values is None:
        return np.ones(n, dtype=bool)
    mask = np.asarray(values)
    if mask.dtype != bool:
        raise MaskTypeError(
            f"{name} must be a boolean array; got dtype {mask.dtype}. Pass an "
            f"explicit selection such as `{name}=values > cut`, not 0/1 or a "
            "sentinel value."
        )
    if mask.ndim != 1:
        raise ShapeMismatchError(f"{name} must be 1-D; got shape {mask.shape}.")
    _check_length(name, mask, n, "the features")
    if not mask.any():
        raise MaskError(
            f"{name} selects none of the {n} events; at least one event must "
            "pass the selection."
        )
    return mask.copy()


@dataclass(frozen=True, init=False)
class SimulationSample:
    """Simulated events with particle-level and detector-level features.

    Parameters
    ----------
    gen : array_like, shape (n_sim,) or (n_sim, n_gen_features)
        Particle-level features.
    reco : array_like, shape (n_sim,) or (n_sim, n_reco_features)
        Detector-level features of the same events, row by row.
    sim_weights : array_like, shape (n_sim,), optional
        Non-negative generator weights; 1 by default.
    pass_gen, pass_reco : array_like of bool, shape (n_sim,), optional
        Whether each event passes the particle-level (fiducial) and the
        detector-level selection; every event passes by default.
    """

    gen: NDArray[np.float64]
    reco: NDArray[np.float64]
    sim_weights: NDArray[np.float64]
    pass_gen: NDArray[np.bool_]
    pass_reco: NDArray[np.bool_]

    def __init__(
        self,
        gen: ArrayLike,
        reco: ArrayLike,
        sim_weights: ArrayLike | None = None,
        pass_gen: ArrayLike | None = None,
        pass_reco: ArrayLike | None = None,
    ) -> None:
        gen_array = _features("gen", gen)
        reco_array = _features("reco", reco)
        n = gen_array.shape[0]
        _check_length("reco", reco_array, n, "gen")

        pass_gen_mask = _mask("pass_gen", pass_gen, n)
        pass_reco_mask = _mask("pass_reco", pass_reco, n)
        _check_finite("gen", gen_array, pass_gen_mask)
        _check_finite("reco", reco_array, pass_reco_mask)
        weights = _weights("sim_weights", sim_weights, n)

        object.__setattr__(self, "gen", gen_array)
        object.__setattr__(self, "reco", reco_array)
        object.__setattr__(self, "sim_weights", weights)
        object.__setattr__(self, "pass_gen", pass_gen_mask)
        object.__setattr__(self, "pass_reco", pass_reco_mask)

    @property
    def n_events(self) -> int:
        """Number of simulated events, passing or not."""
        return int(self.gen.shape[0])

    def take(self, index: ArrayLike) -> SimulationSample:
        """A new sample holding the events at ``index`` (for example a permutation)."""
        index = np.asarray(index)
        return SimulationSample(
            self.gen[index],
            self.reco[index],
            self.sim_weights[index],
            self.pass_gen[index],
            self.pass_reco[index],
        )


@dataclass(frozen=True, init=False)
class DataSample:
    """Measured events at detector level.

    Parameters
    ----------
    data : array_like, shape (n_data,) or (n_data, n_reco_features)
        Detector-level features of the measured events.
    data_weights : array_like, shape (n_data,), optional
        Non-negative event weights; 1 by default.
    """

    data: NDArray[np.float64]
    data_weights: NDArray[np.float64]

    def __init__(self, data: ArrayLike, data_weights: ArrayLike | None = None) -> None:
        data_array = _features("data", data)
        n = data_array.shape[0]
        _check_finite("data", data_array, np.ones(n, dtype=bool))
        weights = _weights("data_weights", data_weights, n)
        object.__setattr__(self, "data", data_array)
        object.__setattr__(self, "data_weights", weights)

    @property
    def n_events(self) -> int:
        """Number of measured events."""
        return int(self.data.shape[0])

    def take(self, index: ArrayLike) -> DataSample:
        """A new sample holding the events at ``index``."""
        index = np.asarray(index)
        return DataSample(self.data[index], self.data_weights[index])


def check_compatible(simulation: SimulationSample, data: DataSample) -> None:
    """Raise :class:`FeatureCountError` unless reco and data have equal columns."""
    n_reco = simulation.reco.shape[1]
    n_data = data.data.shape[1]
    if n_reco != n_data:
        raise FeatureCountError(
            f"reco has {n_reco} features per event but data has {n_data}; step 1 "
            "compares them column by column, so pass the same detector-level "
            "observables, in the same order, for simulation and data."
        )
