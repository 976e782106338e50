"""Fully Bayesian Unfolding: real NUTS runs, small and seeded.

Each check has an independent reference:

- a diagonal response with efficiency eps: the posterior of each bin under
  the flat prior is Gamma(d + 1, rate eps) (d need not be an integer), mean
  (d + 1) / eps and standard deviation sqrt(d + 1) / eps; the sampled
  moments must agree within four Monte Carlo standard errors (sd / sqrt(ESS)
  for the mean, about sd / sqrt(2 ESS) for the standard deviation);
- a toy response with a known truth: data drawn from the model itself, so the
  posterior mean must lie within four posterior standard deviations of the
  truth in every bin.
"""

from __future__ import annotations

import numpy as np
import pytest

from bayesfold.binned import response_from_simulation
from bayesfold.exceptions import ConfigurationError, ConvergenceWarning
from bayesfold.fbu import fbu
from bayesfold.methods import unfold
from bayesfold.samples import SimulationSample
from bayesfold.toys import EfficiencyFakesToy

N_SIGMA = 4.0
EDGES = np.array([-2.0, 0.0, 2.0, 4.0, 6.0])
SAMPLER = {"draws": 500, "tune": 500, "chains": 2}


@pytest.fixture(scope="module")
def toy_problem():
    """A response from the efficiency/fakes toy and data drawn from it."""
    rng = np.random.default_rng(8)
    simulation = EfficiencyFakesToy().simulate(20_000, rng)
    response = response_from_simulation(simulation, truth_edges=EDGES)
    truth = response.truth * (3000 / response.truth.sum())
    expected = (response.matrix @ truth) / np.where(
        response.purity > 0, response.purity, 1.0
    )
    counts = rng.poisson(expected).astype(float)
    return response, truth, counts


@pytest.fixture(scope="module")
def flat_posterior(toy_problem):
    response, _, counts = toy_problem
    return fbu(counts, response, random_state=1, **SAMPLER)


def test_posterior_mean_finds_the_known_truth(toy_problem, flat_posterior):
    _, truth, _ = toy_problem
    result = flat_posterior
    active = result.active
    pulls = (result.mean - truth)[active] / result.std[active]
    assert np.all(np.abs(pulls) < N_SIGMA), pulls
    assert result.draws.shape == (1000, len(truth))
    # The fiducial cut empties the truth underflow bin: fixed at zero.
    assert not active[0]
    assert np.all(result.draws[:, 0] == 0)


def test_diagnostics_are_recorded_and_pass(flat_posterior):
    result = flat_posterior
    active = result.active
    assert np.all(result.rhat[active] < 1.01)
    assert np.all(result.ess_bulk[active] > 200)
    assert np.all(result.ess_tail[active] > 200)
    assert np.all(np.isnan(result.rhat[~active]))
    assert result.divergences == 0
    assert result.converged
    assert np.all(result.draws[:, active] <= result.upper[active])


def test_credible_intervals(flat_posterior):
    lower_68, upper_68 = flat_posterior.interval(0.68)
    lower_95, upper_95 = flat_posterior.interval(0.95)
    active = flat_posterior.active
    assert np.all(lower_95[active] < lower_68[active])
    assert np.all(lower_68[active] < flat_posterior.mean[active])
    assert np.all(flat_posterior.mean[active] < upper_68[active])
    assert np.all(upper_68[active] < upper_95[active])
    with pytest.raises(ConfigurationError, match="strictly between 0 and 1"):
        flat_posterior.interval(1.0)


def test_diagonal_response_gives_the_gamma_posterior():
    rng = np.random.default_rng(3)
    gen = rng.uniform(0.0, 4.0, 20_000)
    detected = rng.uniform(size=gen.size) < 0.8
    simulation = SimulationSample(gen, gen, pass_reco=detected)
    response = response_from_simulation(
        simulation, truth_edges=[0.0, 1.0, 2.0, 3.0, 4.0]
    )
    # Weighted data give non-integer counts; the posterior is still Gamma.
    counts = np.array([0.0, 30.5, 80.0, 12.25, 50.0, 0.0])
    result = fbu(counts, response, random_state=2, **SAMPLER)

    inner = slice(1, -1)
    efficiency = response.efficiency[inner]
    shape = counts[inner] + 1
    mean, sd = shape / efficiency, np.sqrt(shape) / efficiency
    ess = result.ess_bulk[inner]
    np.testing.assert_array_less(
        np.abs(result.mean[inner] - mean), N_SIGMA * sd / np.sqrt(ess)
    )
    np.testing.assert_array_less(
        np.abs(result.std[inner] - sd), N_SIGMA * sd / np.sqrt(2 * ess)
    )
    assert not result.active[0]
    assert not result.active[-1]


def test_curvature_prior_smooths_the_posterior(toy_problem, flat_posterior):
    response, _, counts = toy_problem
    smooth = fbu(
        counts,
        response,
        regularization="curvature",
        strength=1e-3,
        random_state=1,
        **SAMPLER,
    )
    assert smooth.regularization == "curvature"

    def curvature(mean):
        inner = mean[1:-1]
        return np.sum((inner[:-2] - 2 * inner[1:-1] + inner[2:]) ** 2)

    assert curvature(smooth.mean) < 0.5 * curvature(flat_posterior.mean)


def test_short_chains_warn(toy_problem):
    response, _, counts = toy_problem
    with pytest.warns(ConvergenceWarning, match="bulk ESS"):
        result = fbu(counts, response, draws=20, tune=20, random_state=1)
    assert not result.converged


@pytest.mark.parametrize(
    ("kwargs", "message"),
    [
        ({"regularization": "tikhonov"}, "regularization must be"),
        ({"strength": -1.0}, "non-negative"),
        ({"draws": 1}, "at least 2"),
        ({"chains": 0}, "at least 1"),
        ({"upper": np.zeros(6)}, "upper must be positive"),
    ],
)
def test_bad_settings_are_refused(toy_problem, kwargs, message):
    response, _, counts = toy_problem
    with pytest.raises(ConfigurationError, match=message):
        fbu(counts, response, **kwargs)


def test_a_response_without_efficiency_is_refused():
    gen = np.linspace(-1.0, 1.0, 50)
    fake = gen < 0
    simulation = SimulationSample(gen, gen, pass_gen=~fake, pass_reco=fake)
    response = response_from_simulation(simulation, truth_edges=[-1.0, 0.0, 1.0])
    with pytest.raises(ConfigurationError, match="nothing can be unfolded"):
        fbu(np.ones(4), response)


def test_unfold_gives_posterior_draws_as_weights():
    toy = EfficiencyFakesToy()
    rng = np.random.default_rng(12)
    simulation = toy.simulate(10_000, rng)
    measured = toy.measure(3000, rng)
    result = unfold(
        simulation,
        measured.data,
        method="fbu",
        bins=EDGES,
        replicas=100,
        random_state=5,
        progress=False,
    )
    assert result.method == "fbu"
    assert result.push_weights.shape == (1, 100, simulation.n_events)
    draws = result.metadata["truth_draws"][0][:, 1:-1]
    np.testing.assert_allclose(
        result.histogram_draws(0, EDGES), draws, rtol=1e-10, atol=1e-9
    )
    history = result.diagnostics[0].history[0]
    assert np.nanmax(history["rhat"]) < 1.01
    posterior = result.posterior(0, EDGES)
    truth = toy.expected_truth(EDGES, measured.n_generated)
    pulls = (posterior.mean - truth) / posterior.std
    assert np.all(np.abs(pulls) < N_SIGMA), pulls
