"""The OmniFold iteration: closure, Gaussian toys with analytic truth, invariances.

Tolerances come from the statistics of the samples. The unfolded mean and width
are moments of a weighted sample; their standard errors add, in quadrature,

- the simulation's: the sandwich (delta-method) variance of a weighted moment,
  ``sum w_i^2 (x_i - mu)^2 / (sum w)^2`` for the mean and
  ``sum w_i^2 ((x_i - mu)^2 - s^2)^2 / (sum w)^2 / (4 s^2)`` for the width, which
  grows when large weights sit in the tails;
- the data's: ``s^2 / n`` and ``(m_4 - s^4) / (4 s^2 n)`` for n measured events.

Checks allow four standard errors, so that each fails by chance with probability
below 1e-4 for an unbiased method. As in real analyses the simulation is larger
than the data (10x): reweighting cannot create events where the simulation has
few, and with equal sizes the classifiers' smoothing of the sparse tails biases
the width low by several standard errors (measured; see docs/validation.md).
"""

from __future__ import annotations

import numpy as np
import pytest
from scipy.stats import truncnorm

from bayesfold.classifiers import GBDTClassifier, MLPClassifier
from bayesfold.exceptions import ConfigurationError, FeatureCountError
from bayesfold.metrics import triangular_discriminator
from bayesfold.omnifold import omnifold
from bayesfold.samples import DataSample, SimulationSample, kish_effective_size
from bayesfold.toys import EfficiencyFakesToy, ShiftedGaussianToy

N_SIGMA = 4.0


def _moments_with_errors(values, weights, n_data):
    """Weighted mean and width, and their standard errors (module docstring)."""
    p = weights / weights.sum()
    mean = np.sum(p * values)
    d2 = (values - mean) ** 2
    var = np.sum(p * d2)
    width = np.sqrt(var)
    mean_var = np.sum(p**2 * d2) + var / n_data
    width_var = (
        np.sum(p**2 * (d2 - var) ** 2) + (np.sum(p * d2**2) - var**2) / n_data
    ) / (4 * var)
    return mean, width, np.sqrt(mean_var), np.sqrt(width_var)


@pytest.fixture(scope="module")
def shifted_gaussian():
    toy = ShiftedGaussianToy()
    rng = np.random.default_rng(2024)
    simulation = toy.simulate(10_000, rng)
    measured = toy.measure(1000, rng)
    result = omnifold(
        simulation, measured.data, iterations=4, random_state=1, progress=False
    )
    return toy, simulation, measured, result


def test_closure_weights_near_one():
    """Simulation unfolded against data from the same model gives weights ~ 1.

    The true ratio is 1 everywhere. The mean weight estimates the ratio of two
    totals of n events each, whose relative error is sqrt(2 / n). The spread
    bound asks the classifier to be no noisier than a ratio of two B-bin
    histograms of n events each, whose relative error per bin is sqrt(2 B / n):
    with B = 10, n = 2000, 0.1.
    """
    toy = ShiftedGaussianToy()
    rng = np.random.default_rng(11)
    simulation = toy.simulate(2000, rng)
    same_model = toy.simulate(2000, rng)
    result = omnifold(
        simulation,
        DataSample(same_model.reco),
        iterations=2,
        random_state=5,
        progress=False,
    )
    weights = result.weights(normalize="simulation")[0]
    assert abs(weights.mean() - 1) < N_SIGMA * np.sqrt(2 / len(weights))
    assert weights.std() < np.sqrt(2 * 10 / 2000)


def test_shifted_gaussian_moments_match_truth(shifted_gaussian):
    toy, simulation, measured, result = shifted_gaussian
    mean, width, mean_error, width_error = _moments_with_errors(
        simulation.gen[:, 0], result.weights()[0], measured.data.n_events
    )
    assert abs(mean - toy.truth_mean) < N_SIGMA * mean_error
    assert abs(width - toy.truth_sigma) < N_SIGMA * width_error
    # And the prior was far: the test could fail.
    assert abs(simulation.gen.mean() - toy.truth_mean) > N_SIGMA * mean_error
    assert abs(simulation.gen.std() - toy.truth_sigma) > N_SIGMA * width_error


def test_shifted_gaussian_improves_triangular_discriminator(shifted_gaussian):
    toy, _, measured, result = shifted_gaussian
    bins = np.linspace(-8, 10, 19)
    truth = toy.expected_truth(bins, measured.n_generated)
    unfolded = result.histogram(0, bins).values()
    prior = result.prior_histogram(0, bins).values()
    assert triangular_discriminator(unfolded, truth) < 0.5 * triangular_discriminator(
        prior, truth
    )


def test_data_normalisation_counts_data_events(shifted_gaussian):
    _, _, measured, result = shifted_gaussian
    total = result.weights()[0].sum()
    assert total == pytest.approx(measured.data.n_events, rel=1e-9)


def test_diagnostics_recorded(shifted_gaussian):
    _, simulation, _, result = shifted_gaussian
    steps = [(d.iteration, d.step) for d in result.diagnostics]
    assert steps == [(i, s) for i in range(4) for s in ("step1", "step2")]
    for record in result.diagnostics:
        assert record.effective_size is not None
        assert 0 < record.effective_size[0] <= simulation.n_events
        assert record.history
        assert "loss" in record.history[0]
    assert result.pull_weights.shape == (4, 1, simulation.n_events)


@pytest.fixture(scope="module")
def efficiency_fakes():
    toy = EfficiencyFakesToy()
    rng = np.random.default_rng(7)
    simulation = toy.simulate(10_000, rng)
    measured = toy.measure(2000, rng)
    result = omnifold(
        simulation, measured.data, iterations=6, random_state=2, progress=False
    )
    return toy, simulation, measured, result


def _fiducial_truth(toy):
    """The truth distribution inside the acceptance: a truncated Gaussian."""
    lower = (toy.acceptance_cut - toy.truth_mean) / toy.truth_sigma
    return truncnorm(lower, np.inf, loc=toy.truth_mean, scale=toy.truth_sigma)


def _fiducial_moments(efficiency_fakes):
    _, simulation, measured, result = efficiency_fakes
    fiducial = simulation.pass_gen
    return _moments_with_errors(
        simulation.gen[fiducial, 0], result.weights()[0][fiducial], len(measured.truth)
    )


def test_efficiency_fakes_toy_runs_every_step(efficiency_fakes):
    _, _, _, result = efficiency_fakes
    steps = {d.step for d in result.diagnostics}
    assert steps == {"step1", "step1b", "step2", "step2b"}


def test_efficiency_fakes_toy_mean_and_count(efficiency_fakes):
    toy, _, measured, result = efficiency_fakes
    mean, _, mean_error, _ = _fiducial_moments(efficiency_fakes)
    assert abs(mean - _fiducial_truth(toy).mean()) < N_SIGMA * mean_error

    # The fiducial count follows from the data through efficiency and fakes:
    # Poisson error of the data plus the simulation's Kish error.
    weights = result.weights()[0]
    n_truth = len(measured.truth)
    count_error = np.sqrt(n_truth) * np.sqrt(1 + n_truth / kish_effective_size(weights))
    assert abs(weights.sum() - n_truth) < N_SIGMA * count_error

    bins = np.linspace(toy.acceptance_cut, 10, 13)
    expected = toy.expected_truth(bins, measured.n_generated)
    unfolded = result.histogram(0, bins).values()
    prior = result.prior_histogram(0, bins).values()
    assert triangular_discriminator(
        unfolded, expected
    ) < 0.5 * triangular_discriminator(prior, expected)


def test_efficiency_fakes_toy_width(efficiency_fakes):
    # Measured on four other seeds with these sizes, the width pulls were
    # -3.7, -3.1, -2.5 and -4.5: a method bias (tail smoothing) close to the
    # bound, reported in docs/validation.md. This seed is not selected for it.
    toy = efficiency_fakes[0]
    _, width, _, width_error = _fiducial_moments(efficiency_fakes)
    assert abs(width - _fiducial_truth(toy).std()) < N_SIGMA * width_error


def _small_unfolding(simulation, data, seed, **options):
    return omnifold(
        simulation,
        data,
        iterations=2,
        random_state=seed,
        progress=False,
        **options,
    )


def test_same_seed_same_result_and_scaled_data_weights():
    """Reproducible from a seed; data weights x c only scale the normalisation."""
    toy = ShiftedGaussianToy()
    rng = np.random.default_rng(3)
    simulation = toy.simulate(500, rng)
    measured = toy.measure(500, rng)
    first = _small_unfolding(simulation, measured.data, 9)
    again = _small_unfolding(simulation, measured.data, 9)
    np.testing.assert_array_equal(first.push_weights, again.push_weights)

    scaled_data = DataSample(measured.data.data, 3.5 * measured.data.data_weights)
    scaled = _small_unfolding(simulation, scaled_data, 9)
    np.testing.assert_allclose(scaled.push_weights, first.push_weights, rtol=1e-6)
    np.testing.assert_allclose(scaled.weights(), 3.5 * first.weights(), rtol=1e-6)


def test_permuting_events_within_training_spread():
    """A permutation changes the result no more than retraining with a new seed."""
    toy = ShiftedGaussianToy()
    rng = np.random.default_rng(21)
    simulation = toy.simulate(800, rng)
    measured = toy.measure(800, rng)
    bins = np.linspace(-8, 10, 10)

    def unfolded(sim, data, seed):
        result = _small_unfolding(sim, data, seed)
        return result.histogram(0, bins).values()

    seeds = [unfolded(simulation, measured.data, seed) for seed in range(5)]
    spread = np.std(seeds, axis=0, ddof=1)
    order = rng.permutation(simulation.n_events)
    data_order = rng.permutation(measured.data.n_events)
    permuted = unfolded(simulation.take(order), measured.data.take(data_order), 0)
    # A new draw from the same spread: |x - mean| < 4 sd * sqrt(1 + 1/5), with
    # 0.5 event of slack for bins where every seed agreed.
    tolerance = N_SIGMA * spread * np.sqrt(1 + 1 / 5) + 0.5
    assert np.all(np.abs(permuted - np.mean(seeds, axis=0)) < tolerance)


# Early stopping of trees on 400 events may not trigger within max_iter; the
# warning is the classifier's to give and is tested in test_gbdt.py.
@pytest.mark.filterwarnings("ignore::bayesfold.exceptions.ConvergenceWarning")
def test_folds_and_previous_reference_run():
    toy = ShiftedGaussianToy()
    rng = np.random.default_rng(4)
    simulation = toy.simulate(600, rng)
    measured = toy.measure(600, rng)
    result = _small_unfolding(
        simulation,
        measured.data,
        1,
        folds=3,
        reference="previous",
        classifier=GBDTClassifier(),
        replicas=2,
        bootstrap="poisson",
    )
    assert result.push_weights.shape == (2, 2, 600)
    assert len([d for d in result.diagnostics if d.step == "step1"]) == 2
    # Each fold's classifier trained on two thirds of the events.
    assert len(result.diagnostics[0].history) == 3
    assert not np.allclose(result.weights()[0], result.weights()[1])


@pytest.mark.parametrize(
    ("options", "pattern"),
    [
        ({"iterations": 0}, "iterations must be at least 1"),
        ({"replicas": 1.5}, "replicas must be an integer"),
        ({"reference": "prior-ish"}, "reference must be one of 'prior', 'previous'"),
        ({"bootstrap": "jackknife"}, "bootstrap must be one of"),
        ({"simulation_sampling": "bootstrap"}, "simulation_sampling must be one of"),
        ({"classifier": object()}, "classifier protocol"),
    ],
)
def test_bad_options(options, pattern):
    simulation = SimulationSample(np.zeros(5), np.zeros(5))
    with pytest.raises(ConfigurationError, match=pattern):
        omnifold(simulation, DataSample(np.zeros(5)), progress=False, **options)


def test_feature_count_checked_before_training():
    simulation = SimulationSample(np.zeros(5), np.zeros((5, 2)))
    with pytest.raises(FeatureCountError):
        omnifold(simulation, DataSample(np.zeros(5)), classifier=MLPClassifier())


def test_bayesian_replicas_carry_posterior_draws():
    """Each replica of the Bayesian classifier is its own posterior chain."""
    from bayesfold.classifiers import BayesianMLPClassifier

    toy = ShiftedGaussianToy()
    rng = np.random.default_rng(8)
    simulation = toy.simulate(400, rng)
    measured = toy.measure(400, rng)
    classifier = BayesianMLPClassifier(hidden_layers=(8,), warm_start=True)
    result = _small_unfolding(
        simulation, measured.data, 3, classifier=classifier, replicas=3
    )
    weights = result.weights()
    assert weights.shape == (3, 400)
    assert np.all(np.isfinite(weights))
    # Draws differ from one another, and their spread shows in the summary.
    assert not np.allclose(weights[0], weights[1])
    posterior = result.posterior(0, np.linspace(-8, 10, 7))
    assert np.all(posterior.upper_95 >= posterior.lower_95)
    assert np.any(posterior.std > 0)
    means = result.derived(lambda x, w: np.average(x, weights=w))
    assert means.shape == (3,)


def test_final_draws_sample_each_replica_at_the_last_step():
    """R replicas x K last-step draws: earlier weights repeat, the last differ."""
    from bayesfold.classifiers import BayesianMLPClassifier

    toy = ShiftedGaussianToy()
    rng = np.random.default_rng(9)
    simulation = toy.simulate(300, rng)
    measured = toy.measure(300, rng)
    classifier = BayesianMLPClassifier(hidden_layers=(4,), warm_start=True)
    result = _small_unfolding(
        simulation,
        measured.data,
        2,
        classifier=classifier,
        replicas=2,
        final_draws=3,
        bootstrap="bayesian",
    )
    assert result.n_draws == 6
    assert result.push_weights.shape == (2, 6, 300)
    assert result.sim_weights.shape == (6, 300)
    # Rows 0-2 belong to replica 0 and rows 3-5 to replica 1: everything before
    # the last step 1 is that replica's, repeated.
    for rows in (slice(0, 3), slice(3, 6)):
        for array in (
            result.pull_weights[0, rows],
            result.push_weights[0, rows],
            result.sim_weights[rows],
            result.data_weights[rows],
        ):
            np.testing.assert_array_equal(
                array, np.broadcast_to(array[:1], array.shape)
            )
        for last in (result.pull_weights[-1, rows], result.push_weights[-1, rows]):
            assert not np.allclose(last[0], last[1])
    assert not np.allclose(result.sim_weights[0], result.sim_weights[3])


def test_final_draws_need_a_posterior():
    toy = ShiftedGaussianToy()
    rng = np.random.default_rng(10)
    simulation = toy.simulate(50, rng)
    measured = toy.measure(50, rng)
    with pytest.raises(ConfigurationError, match="sample_logit"):
        omnifold(simulation, measured.data, final_draws=3, progress=False)
    with pytest.raises(ConfigurationError, match="at least 1"):
        omnifold(simulation, measured.data, final_draws=0, progress=False)


def test_simulation_sampling_reweights_the_result_not_the_training():
    """simulation_sampling="posterior": Exp(1) factors on the result's weights.

    The iterations train on the events as they are, so the push weights are
    those of the same seed without it; the factors (2 draws x 2000 events)
    have the Exp(1) mean and variance, each within four standard errors
    (1 / sqrt(n) and sqrt(8 / n)).
    """
    toy = ShiftedGaussianToy()
    rng = np.random.default_rng(11)
    simulation = toy.simulate(2000, rng)
    measured = toy.measure(500, rng)
    fixed = _small_unfolding(simulation, measured.data, 4, replicas=2)
    sampled = _small_unfolding(
        simulation, measured.data, 4, replicas=2, simulation_sampling="posterior"
    )
    np.testing.assert_array_equal(sampled.push_weights, fixed.push_weights)
    factors = sampled.sim_weights / fixed.sim_weights
    n = factors.size
    assert abs(factors.mean() - 1) < 4 / np.sqrt(n)
    assert abs(factors.var() - 1) < 4 * np.sqrt(8 / n)
    # Independent per draw: the two draws' histograms now differ by more.
    assert not np.allclose(factors[0], factors[1])
