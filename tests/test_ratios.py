"""Likelihood ratios from logits: the class-weight correction and the clip."""

from __future__ import annotations

import numpy as np
import pytest

from bayesfold.ratios import log_ratio, normalize_class_weights
from bayesfold.samples import kish_effective_size


def test_bayes_optimal_logit_recovers_density_ratio():
    # A classifier trained with class totals W0, W1 outputs
    # logit = log(W1 p1 / (W0 p0)); the correction must return log(p1 / p0).
    log_p_ratio = np.array([[-1.0, 0.0, 0.5]])
    totals = (np.array([300.0]), np.array([100.0]))
    logits = log_p_ratio + np.log(100.0 / 300.0)
    ratio = log_ratio(logits, totals)
    np.testing.assert_allclose(ratio.values, log_p_ratio, atol=1e-12)
    assert ratio.n_clipped.tolist() == [0]


def test_clip_bounds_logits_and_counts_them():
    logits = np.array([[50.0, -50.0, 3.0], [0.0, 0.0, 10.0]])
    totals = (np.ones(2), np.ones(2))
    ratio = log_ratio(logits, totals, max_logit=10.0)
    np.testing.assert_allclose(ratio.values, [[10.0, -10.0, 3.0], [0.0, 0.0, 10.0]])
    assert ratio.n_clipped.tolist() == [2, 1]
    assert np.isfinite(np.exp(ratio.values)).all()


def test_class_weights_sum_to_kish_size():
    rng = np.random.default_rng(3)
    y = np.repeat([0, 1], [50, 70])
    w = rng.exponential(size=(4, 120))
    normalized = normalize_class_weights(y, w)
    for label in (0, 1):
        np.testing.assert_allclose(
            normalized[:, y == label].sum(axis=1), kish_effective_size(w[:, y == label])
        )
    # Within a class the shape of the weights is untouched.
    ratio = normalized[:, y == 1] / w[:, y == 1]
    np.testing.assert_allclose(ratio, ratio[:, :1] * np.ones((1, 70)))


def test_unit_weights_unchanged():
    y = np.repeat([0, 1], [30, 10])
    np.testing.assert_allclose(normalize_class_weights(y, np.ones(40)), np.ones(40))


@pytest.mark.parametrize("scale", [1e-3, 7.0, 1e4])
def test_normalization_removes_overall_scale(scale):
    rng = np.random.default_rng(4)
    y = np.repeat([0, 1], [20, 20])
    w = rng.exponential(size=40)
    np.testing.assert_allclose(
        normalize_class_weights(y, scale * w), normalize_class_weights(y, w)
    )
