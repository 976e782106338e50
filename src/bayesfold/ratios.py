"""Likelihood ratios from classifier logits, and the class-weight bookkeeping.

A classifier trained with total weight ``W_0`` on class 0 and ``W_1`` on class 1
converges to ``f / (1 - f) = W_1 p_1(x) / (W_0 p_0(x))``, where ``p_c`` are the
normalised densities (Andreassen et al., arXiv:1911.09107, Eq. 2). The density
ratio is therefore

    log r(x) = clip(logit(x), -max_logit, max_logit) - log(W_1 / W_0).

The logit is clipped *before* exponentiation, and the number of events that hit
the clip is returned, so a reweighting never hides an infinite weight.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from numpy.typing import NDArray

from bayesfold.samples import kish_effective_size

__all__ = ["DEFAULT_MAX_LOGIT", "LogRatio", "log_ratio", "normalize_class_weights"]

#: Logits beyond +-10 (probabilities within 4.5e-5 of 0 or 1) carry no usable
#: information about a density ratio; they bound a single step's ratio to
#: [4.5e-5, 2.2e4].
DEFAULT_MAX_LOGIT = 10.0


@dataclass(frozen=True)
class LogRatio:
    """Log density ratios of one classifier step and how many were clipped."""

    values: NDArray[np.float64]
    """Shape (n_replicas, n_events)."""
    n_clipped: NDArray[np.int64]
    """Shape (n_replicas,): events whose logit hit the clip."""


def normalize_class_weights(
    y: NDArray[np.integer], weights: NDArray[np.float64]
) -> NDArray[np.float64]:
    """Scale each class so that its weights sum to its Kish effective size.

    Works on weights of shape (n,) or (n_replicas, n). With unit weights nothing
    changes; otherwise the weighted likelihood of a class counts as many events
    as the weights are statistically worth, which sets the width of a Bayesian
    classifier's posterior (DESIGN.md, "Weighted likelihood").
    """
    normalized = np.array(weights, dtype=np.float64, copy=True)
    for label in (0, 1):
        in_class = y == label
        w = normalized[..., in_class]
        total = w.sum(axis=-1, keepdims=True)
        ess = kish_effective_size(w)[..., np.newaxis]
        normalized[..., in_class] = w * np.divide(
            ess, total, out=np.zeros_like(total), where=total > 0
        )
    return normalized


def log_ratio(
    logits: NDArray[np.float64],
    class_totals: tuple[NDArray[np.float64], NDArray[np.float64]],
    max_logit: float = DEFAULT_MAX_LOGIT,
) -> LogRatio:
    """Log density ratio p_1/p_0 from logits, corrected for the class totals.

    Parameters
    ----------
    logits : ndarray, shape (n_replicas, n_events)
        Classifier log-odds of class 1.
    class_totals : pair of ndarray, each shape (n_replicas,)
        Total training weight of class 0 and of class 1, per replica.
    max_logit : float
        Logits are clipped to ``[-max_logit, max_logit]``.
    """
    total_0, total_1 = class_totals
    clipped = np.clip(logits, -max_logit, max_logit)
    n_clipped = np.count_nonzero(np.abs(logits) >= max_logit, axis=-1)
    correction = np.log(total_1) - np.log(total_0)
    return LogRatio(clipped - correction[:, np.newaxis], n_clipped)
