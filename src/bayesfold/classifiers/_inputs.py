"""Checks on what every classifier receives in ``fit`` and ``predict_logit``.

Each backend calls :func:`check_training_data` first, so that all of them
accept the same inputs and reject bad ones with the same exceptions: features
``X`` of shape (n_events, n_features), labels ``y`` in {0, 1} with both classes
present, and weights of shape (n_events,) or (n_replicas, n_events) that are
finite, non-negative and give each class of each replica a positive total.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from numpy.typing import ArrayLike, NDArray

from bayesfold.classifiers.base import as_replica_weights
from bayesfold.exceptions import (
    EmptySampleError,
    InputValueError,
    NonFiniteError,
    ShapeMismatchError,
    WeightError,
)

__all__ = ["TrainingData", "check_features", "check_training_data"]


@dataclass(frozen=True)
class TrainingData:
    """Checked training inputs.

    Attributes
    ----------
    X : ndarray, shape (n_events, n_features)
    y : ndarray of bool, shape (n_events,)
        True for class 1.
    weights : ndarray, shape (n_replicas, n_events)
    replicated : bool
        Whether the weights came in 2-D (predictions then keep the replica axis).
    """

    X: NDArray[np.float64]
    y: NDArray[np.bool_]
    weights: NDArray[np.float64]
    replicated: bool

    @property
    def n_replicas(self) -> int:
        return int(self.weights.shape[0])


def check_features(X: ArrayLike, n_features: int | None = None) -> NDArray[np.float64]:
    """``X`` as a finite 2-D float64 array, with ``n_features`` columns if given."""
    array = np.asarray(X)
    if array.dtype == bool or not np.issubdtype(array.dtype, np.number):
        raise NonFiniteError(
            f"X must hold numbers; got an array of dtype {array.dtype}."
        )
    if array.ndim != 2:
        raise ShapeMismatchError(
            f"X must be 2-D (n_events, n_features); got shape {array.shape}. "
            "Reshape a single feature with X.reshape(-1, 1)."
        )
    if array.shape[0] == 0:
        raise EmptySampleError(f"X holds no events (shape {array.shape}).")
    if n_features is not None and array.shape[1] != n_features:
        raise ShapeMismatchError(
            f"X has {array.shape[1]} features but the classifier was fitted on "
            f"{n_features}; pass the same feature columns as in fit."
        )
    _check_finite("X", array)
    return np.asarray(array, dtype=np.float64)


def check_training_data(
    X: ArrayLike, y: ArrayLike, sample_weight: ArrayLike | None
) -> TrainingData:
    """Check the arguments of ``fit`` and return them as arrays.

    Raises
    ------
    ShapeMismatchError
        ``X``, ``y`` and the weights disagree in length, or have the wrong rank.
    NonFiniteError
        A feature or weight is NaN or infinite.
    InputValueError
        A label is not 0 or 1, or one class is missing.
    WeightError
        A weight is negative, or a class of a replica has zero total weight.
    """
    features = check_features(X)
    n_events = features.shape[0]
    labels = _labels(y, n_events)
    weights, replicated = _weights(sample_weight, n_events)
    _check_class_totals(weights, labels)
    return TrainingData(features, labels, weights, replicated)


def _check_finite(name: str, array: NDArray[np.number]) -> None:
    bad = ~np.isfinite(array)
    if np.any(bad):
        first = np.argwhere(bad)[0].tolist()
        raise NonFiniteError(
            f"{name} has {int(bad.sum())} NaN or infinite values (first at index "
            f"{first}). Remove or fix those events before fitting."
        )


def _labels(y: ArrayLike, n_events: int) -> NDArray[np.bool_]:
    labels = np.asarray(y)
    if labels.ndim != 1 or labels.shape[0] != n_events:
        raise ShapeMismatchError(
            f"y must be 1-D with one label per row of X ({n_events}); got shape "
            f"{labels.shape}."
        )
    if not np.issubdtype(labels.dtype, np.number) and labels.dtype != bool:
        raise InputValueError(f"y must hold 0 and 1; got dtype {labels.dtype}.")
    unexpected = np.setdiff1d(np.unique(labels), [0, 1])
    if unexpected.size:
        raise InputValueError(
            f"y must hold only the labels 0 and 1; got also {unexpected[:5]}. "
            "Label the reference sample 0 and the target sample 1."
        )
    is_one = labels == 1
    if is_one.all() or not is_one.any():
        raise InputValueError(
            f"y must contain both classes; got only label {int(labels[0])} in "
            f"{n_events} events."
        )
    return is_one


def _weights(
    sample_weight: ArrayLike | None, n_events: int
) -> tuple[NDArray[np.float64], bool]:
    if sample_weight is not None:
        raw = np.asarray(sample_weight)
        if raw.ndim not in (1, 2) or raw.shape[-1] != n_events:
            raise ShapeMismatchError(
                f"sample_weight must have shape ({n_events},) or (n_replicas, "
                f"{n_events}) to match X; got shape {raw.shape}."
            )
        if raw.dtype == bool or not np.issubdtype(raw.dtype, np.number):
            raise NonFiniteError(
                f"sample_weight must hold numbers; got dtype {raw.dtype}."
            )
        _check_finite("sample_weight", raw)
    weights, replicated = as_replica_weights(sample_weight, n_events)
    negative = weights < 0
    if np.any(negative):
        first = np.argwhere(negative)[0].tolist()
        raise WeightError(
            f"sample_weight has {int(negative.sum())} negative values (first at "
            f"index {first}). Classifiers need non-negative weights."
        )
    return weights, replicated


def _check_class_totals(weights: NDArray[np.float64], y: NDArray[np.bool_]) -> None:
    for label, in_class in ((0, ~y), (1, y)):
        empty = np.flatnonzero(weights[:, in_class].sum(axis=1) <= 0)
        if empty.size:
            raise WeightError(
                f"class {label} has zero total weight in replica(s) "
                f"{empty[:5].tolist()}; every replica needs a positive weight "
                "in both classes."
            )
