"""Fully Bayesian Unfolding: real NUTS runs, small and seeded.

Each check has an independent reference:

- a diagonal response with efficiency eps: the posterior of each bin under
  the flat prior is Gamma(d + 1, rate eps) (d need not be an integer), mean
  (d + 1) / eps and standard deviation sqrt(d + 1) / eps; the sampled
  moments must agree within four Monte Carlo standard errors (sd / sqrt(ESS)
  for the mean, about sd / sqrt(2 ESS) for the standard deviation);
- the same with eps sampled ("dirichlet"), estimated from k of n simulated
  events: eps ~ Beta(k, n - k) given the simulation, and the flat prior on t
  makes the posterior of (tau = eps t, eps) Gamma(d + 1) x Beta(k - 1, n - k),
  independent (the Jacobian 1 / eps of t -> tau). The moments of t = tau / eps
  follow exactly; to first order Var(t) = Var_data + t^2 Var(eps) / eps^2,
  the delta method;
- a simulation of 2 x 10^10 events: the response uncertainty vanishes and
  "dirichlet" must agree with "none" within the Monte Carlo errors of both;
- a toy response with a known truth: data drawn from the model itself, so the
  posterior mean must lie within four posterior standard deviations of the
  truth in every bin.
"""

from __future__ import annotations

import dataclasses

import numpy as np
import pytest
from scipy import special

from bayesfold.binned import Response, response_from_simulation
from bayesfold.exceptions import ConfigurationError, ConvergenceWarning
from bayesfold.fbu import DEFAULT_DRAWS, fbu
from bayesfold.methods import unfold
from bayesfold.samples import SimulationSample
from bayesfold.toys import EfficiencyFakesToy

N_SIGMA = 4.0
EDGES = np.array([-2.0, 0.0, 2.0, 4.0, 6.0])
SAMPLER = {"draws": 500, "tune": 500, "chains": 2}
#: Longer chains where two posteriors' widths are compared to a few percent.
LONG_SAMPLER = {"draws": 2000, "tune": 500, "chains": 2}


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


@pytest.fixture(scope="module", params=["none", "dirichlet"])
def flat_posterior(request, toy_problem):
    response, _, counts = toy_problem
    return fbu(
        counts,
        response,
        response_uncertainty=request.param,
        random_state=1,
        **LONG_SAMPLER,
    )


def test_posterior_mean_finds_the_known_truth(toy_problem, flat_posterior):
    _, truth, _ = toy_problem
    result = flat_posterior
    active = result.active
    pulls = (result.mean - truth)[active] / result.std[active]
    assert np.all(np.abs(pulls) < N_SIGMA), pulls
    assert result.draws.shape == (4000, len(truth))
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
    result = fbu(
        counts, response, response_uncertainty="none", random_state=2, **SAMPLER
    )
    assert result.response_uncertainty == "none"

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


def _diagonal_response(passed, generated) -> Response:
    """Inner truth bin j reaches only reco bin j, passed[j] of generated[j]."""
    passed, generated = np.asarray(passed, float), np.asarray(generated, float)
    size = len(passed) + 2
    inner = np.arange(1, size - 1)
    migrations = np.zeros((size, size))
    migrations[inner, inner] = passed
    truth = np.zeros(size)
    truth[inner] = generated
    edges = np.arange(len(passed) + 1.0)
    return Response(
        truth_edges=edges,
        reco_edges=edges,
        migrations=migrations,
        migrations_sq=migrations,
        truth=truth,
        truth_sq=truth,
        fakes=np.zeros(size),
        fakes_sq=np.zeros(size),
    )


def _ratio_moments(shape, a, b, order):
    """E[(tau / eps)^m], m = 1..order, tau ~ Gamma(shape), eps ~ Beta(a, b)."""
    m = np.arange(1, order + 1)[:, None]
    tau = special.gammaln(shape + m) - special.gammaln(shape)
    inverse_eps = special.betaln(a - m, b) - special.betaln(a, b)
    return np.exp(tau + inverse_eps)


def test_sampled_efficiency_widens_the_posterior_by_its_own_error():
    passed, generated = np.array([40, 150, 90]), np.array([100, 300, 100])
    counts = np.array([0.0, 200.0, 100.0, 300.0, 0.0])
    response = _diagonal_response(passed, generated)
    result = fbu(counts, response, random_state=4, **LONG_SAMPLER)
    assert result.response_uncertainty == "dirichlet"

    inner = slice(1, -1)
    shape = counts[inner] + 1
    first, second, third, fourth = _ratio_moments(
        shape, passed - 1, generated - passed, 4
    )
    mean = first
    variance = second - first**2
    central_fourth = fourth - 4 * third * first + 6 * second * first**2 - 3 * first**4
    kurtosis = central_fourth / variance**2
    sd = np.sqrt(variance)
    # Var(s) = (kurtosis - 1) sigma^2 / (4 N) for a sample of N independent draws.
    ess = np.minimum(result.ess_bulk[inner], result.ess_tail[inner])
    sd_error = sd * np.sqrt((kurtosis - 1) / (4 * ess))
    np.testing.assert_array_less(
        np.abs(result.mean[inner] - mean), N_SIGMA * sd / np.sqrt(ess)
    )
    np.testing.assert_array_less(np.abs(result.std[inner] - sd), N_SIGMA * sd_error)

    # The check can tell: the known-response width of the first bin (eps 0.4
    # of 100 events, 200 counts) is half the sampled one, far outside.
    efficiency = passed / generated
    known_sd = np.sqrt(shape) / efficiency
    delta_sd = np.sqrt(
        shape / efficiency**2
        + (shape / efficiency) ** 2 * (1 - efficiency) / (efficiency * generated)
    )
    assert abs(result.std[1] - known_sd[0]) > 4 * N_SIGMA * sd_error[0]
    np.testing.assert_allclose(delta_sd, sd, rtol=0.1)


def _scaled(response: Response, factor: float) -> Response:
    """The response of ``factor`` times the events: same R, more statistics."""
    counts = ("migrations", "migrations_sq", "truth", "truth_sq", "fakes", "fakes_sq")
    return dataclasses.replace(
        response, **{name: getattr(response, name) * factor for name in counts}
    )


def test_a_huge_simulation_has_no_response_uncertainty(toy_problem):
    response, _, counts = toy_problem
    huge = _scaled(response, 1e6)
    known = fbu(
        counts, huge, response_uncertainty="none", random_state=3, **LONG_SAMPLER
    )
    sampled = fbu(counts, huge, random_state=3, **LONG_SAMPLER)
    assert known.response_uncertainty == "none"
    assert sampled.response_uncertainty == "dirichlet"
    assert sampled.converged

    active = known.active
    np.testing.assert_array_equal(sampled.active, active)
    sd_known, sd_sampled = known.std[active], sampled.std[active]
    ess_known, ess_sampled = known.ess_bulk[active], sampled.ess_bulk[active]
    mean_error = np.sqrt(sd_known**2 / ess_known + sd_sampled**2 / ess_sampled)
    sd_error = sd_known * np.sqrt(1 / (2 * ess_known) + 1 / (2 * ess_sampled))
    np.testing.assert_array_less(
        np.abs(sampled.mean[active] - known.mean[active]), N_SIGMA * mean_error
    )
    np.testing.assert_array_less(np.abs(sd_sampled - sd_known), N_SIGMA * sd_error)


def test_curvature_prior_smooths_the_posterior(toy_problem, flat_posterior):
    response, _, counts = toy_problem
    smooth = fbu(
        counts,
        response,
        regularization="curvature",
        strength=1e-3,
        response_uncertainty=flat_posterior.response_uncertainty,
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
        ({"response_uncertainty": "multinomial"}, "response_uncertainty must be"),
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
    assert result.metadata["fbu"]["response_uncertainty"] == "dirichlet"
    assert len(result.metadata["fbu"]["draws"]) == 2 * DEFAULT_DRAWS["dirichlet"]
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
