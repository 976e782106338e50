"""The joint chi2 test of coverage studies (studies._joint_chi2).

Draws from a Gaussian with a known covariance stand in for a method's
posterior; the truth of each experiment is offset from the draws' centre by
that same covariance (an honest method) or by ten times its scale (a method
whose covariance misses how the bins move). The chi2 of an honest method
follows the chi2 law with as many degrees of freedom as bins, up to the
estimation of the covariance from the draws (a 1.5 % inflation at 400 draws
and 5 bins), so its tail fraction and median are checked against that law
within four binomial or sampling standard deviations.
"""

from __future__ import annotations

import numpy as np
from scipy import stats

from bayesfold.studies import _joint_chi2

N_BINS = 5
N_EXPERIMENTS = 200
N_DRAWS = 400


def _study(offset_scale: float, n_draws: int = N_DRAWS, seed: int = 0):
    rng = np.random.default_rng(seed)
    factor = rng.normal(size=(N_BINS, N_BINS))
    covariance = factor @ factor.T + 5 * np.eye(N_BINS)
    centre = np.linspace(50.0, 150.0, N_BINS)
    root = np.linalg.cholesky(covariance)
    draws, truth = [], []
    for _ in range(N_EXPERIMENTS):
        mean = centre + offset_scale * root @ rng.normal(size=N_BINS)
        draws.append(mean + rng.normal(size=(n_draws, N_BINS)) @ root.T)
        truth.append(centre)
    return _joint_chi2(np.array(draws), np.array(truth))


def test_an_honest_covariance_gives_the_chi2_law():
    result = _study(offset_scale=1.0)
    assert result["chi2_ndf"] == N_BINS
    assert len(result["chi2"]) == N_EXPERIMENTS
    tail_sd = np.sqrt(0.05 * 0.95 / N_EXPERIMENTS)
    assert abs(result["chi2_tail_fraction"] - 0.05) < 4 * tail_sd
    # Sampling sd of a median: 1 / (2 f(median) sqrt(N)) for the law's density f.
    law = stats.chi2(N_BINS)
    median_sd = 1 / (2 * law.pdf(law.median()) * np.sqrt(N_EXPERIMENTS))
    assert result["chi2_median_expected"] == law.median()
    assert abs(result["chi2_median"] - law.median()) < 4 * median_sd


def test_a_covariance_ten_times_too_narrow_fails_the_test():
    result = _study(offset_scale=10.0)
    # chi2 is 100 times a chi2(5) value: p < 0.05 unless that value is < 0.11.
    assert result["chi2_tail_fraction"] > 0.95
    assert result["chi2_median"] > 50 * result["chi2_median_expected"]


def test_no_more_draws_than_bins_gives_no_joint_test():
    result = _study(offset_scale=1.0, n_draws=N_BINS)
    assert result["chi2"] == []
    assert np.isnan(result["chi2_median"])
    assert np.isnan(result["chi2_tail_fraction"])
