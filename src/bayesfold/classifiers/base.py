"""The protocol that every step classifier of the iteration follows.

A classifier separates class 0 from class 1 given event weights, and returns
*logits* (log-odds of class 1), never probabilities: ratios are formed from
clipped logits by :mod:`bayesfold.ratios`.

Replicas. ``sample_weight`` may be 2-D, shape (n_replicas, n_events): the
classifier then fits one independent model per row on the same ``X`` and ``y``
(for bootstraps, ensembles and the replicas of the Bayesian core), and
``predict_logit`` returns shape (n_replicas, n_events). With 1-D weights (or
none) it returns shape (n_events,).

Randomness comes only from the ``random_state`` setting (an ``int``, a
``numpy.random.Generator`` or ``None``); a fit with the same ``random_state``
on the same inputs gives the same model. The iteration calls ``set_params``
with a fresh seed before each fit. A classifier with ``warm_start=True`` may
start from its previous fit.

Every classifier is a scikit-learn estimator (``get_params``/``set_params``,
so ``sklearn.base.clone`` works), its ``fit`` returns ``self``, and its learned
state ends in ``_``. ``history_`` holds the training curves of the last fit:
a dict of arrays (for example ``{"loss": ..., "val_loss": ...}`` for the point
MLP, ``{"elbo": ...}`` for the Bayesian one), each of shape (steps,) for 1-D
weights and (steps, n_replicas) for 2-D weights.
"""

from __future__ import annotations

from typing import Any, Protocol, Self, runtime_checkable

import numpy as np
from numpy.typing import ArrayLike, NDArray

__all__ = ["Classifier", "as_replica_weights", "resolve_rng"]


@runtime_checkable
class Classifier(Protocol):
    """What the OmniFold iteration needs from a classifier."""

    def fit(
        self, X: ArrayLike, y: ArrayLike, *, sample_weight: ArrayLike | None = None
    ) -> Self:
        """Fit to features ``X`` (n, d), labels ``y`` in {0, 1}, and weights."""
        ...

    def predict_logit(self, X: ArrayLike) -> NDArray[np.float64]:
        """Log-odds of class 1 for each row of ``X``."""
        ...

    def get_params(self, deep: bool = True) -> dict[str, Any]: ...

    def set_params(self, **params: Any) -> Self: ...


def resolve_rng(random_state: int | np.random.Generator | None) -> np.random.Generator:
    """A generator from a seed, a generator (used as is) or ``None`` (fresh)."""
    if isinstance(random_state, np.random.Generator):
        return random_state
    return np.random.default_rng(random_state)


def as_replica_weights(
    sample_weight: ArrayLike | None, n_events: int
) -> tuple[NDArray[np.float64], bool]:
    """Weights as shape (n_replicas, n_events), and whether they came in 2-D."""
    if sample_weight is None:
        return np.ones((1, n_events)), False
    weights = np.asarray(sample_weight, dtype=np.float64)
    if weights.ndim == 1:
        return weights[np.newaxis, :], False
    if weights.ndim != 2:
        raise ValueError(
            f"sample_weight must be 1-D or 2-D (replicas x events); got shape "
            f"{weights.shape}."
        )
    return weights, True
