"""The toys draw events from the densities that their expectations integrate.

Large samples (N_EVENTS generated events) with fixed seeds are compared with the
analytic expectations. Thresholds come from the statistics, not from the seeds:
a chi2 test fails a correct toy with probability P_MIN, and a z-test with
probability 2 (1 - Phi(Z_MAX)) ~ 6e-5. Each comparison is paired with one that
must fail (truth against the prior), so that the tests can tell models apart.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Callable

import numpy as np
import pytest
from numpy.typing import NDArray
from scipy import integrate, stats

from bayesfold.exceptions import (
    ConfigurationError,
    InputTypeError,
    InputValueError,
    NonFiniteError,
)
from bayesfold.metrics import chi2
from bayesfold.samples import SimulationSample
from bayesfold.toys import (
    TOYS,
    CorrelatedGaussianToy,
    EfficiencyFakesToy,
    PseudoData,
    ShiftedGaussianToy,
    Toy,
)

N_EVENTS = 200_000
P_MIN = 1e-3
Z_MAX = 4.0
# Every toy is far from its prior: with N_EVENTS events the chi2 of the truth
# against the prior has p-values many orders of magnitude below this.
P_DIFFERENT = 1e-12

ALL_TOYS: list[Toy] = [
    ShiftedGaussianToy(),
    EfficiencyFakesToy(),
    CorrelatedGaussianToy(),
]
TOY_IDS = [toy.key for toy in ALL_TOYS]
OBSERVABLES = [
    pytest.param(toy, k, id=f"{toy.key}-{k}")
    for toy in ALL_TOYS
    for k in range(toy.n_gen_features)
]


def _edges(toy: Toy) -> NDArray[np.float64]:
    """Bins with at least ~100 expected events each, plus under- and overflow."""
    if isinstance(toy, CorrelatedGaussianToy):
        inner = np.linspace(-3.0, 3.0, 25)
    else:
        inner = np.linspace(-7.0, 8.0, 31)
    return np.concatenate([[-np.inf], inner, [np.inf]])


@pytest.fixture(scope="module")
def simulations() -> dict[str, SimulationSample]:
    return {
        toy.key: toy.simulate(N_EVENTS, np.random.default_rng(20240601 + i))
        for i, toy in enumerate(ALL_TOYS)
    }


@pytest.fixture(scope="module")
def pseudo_data() -> dict[str, PseudoData]:
    return {
        toy.key: toy.measure(N_EVENTS, np.random.default_rng(20240701 + i))
        for i, toy in enumerate(ALL_TOYS)
    }


def _z(estimate: float, expected: float, standard_error: float) -> float:
    return abs(estimate - expected) / standard_error


# --- expected counts against sampled histograms ------------------------------


@pytest.mark.parametrize(("toy", "observable"), OBSERVABLES)
def test_fiducial_truth_follows_expected_truth(
    toy: Toy, observable: int, pseudo_data: dict[str, PseudoData]
) -> None:
    pseudo = pseudo_data[toy.key]
    edges = _edges(toy)
    counts, _ = np.histogram(pseudo.truth[:, observable], edges)

    expected = toy.expected_truth(edges, pseudo.n_generated, observable)
    prior = toy.expected_prior(edges, pseudo.n_generated, observable)

    assert chi2(counts, expected).p_value > P_MIN
    assert chi2(counts, prior).p_value < P_DIFFERENT


@pytest.mark.parametrize(("toy", "observable"), OBSERVABLES)
def test_fiducial_simulation_follows_expected_prior(
    toy: Toy, observable: int, simulations: dict[str, SimulationSample]
) -> None:
    simulation = simulations[toy.key]
    edges = _edges(toy)
    fiducial = simulation.gen[simulation.pass_gen, observable]
    counts, _ = np.histogram(fiducial, edges)

    expected = toy.expected_prior(edges, simulation.n_events, observable)
    truth = toy.expected_truth(edges, simulation.n_events, observable)

    assert chi2(counts, expected).p_value > P_MIN
    assert chi2(counts, truth).p_value < P_DIFFERENT


@pytest.mark.parametrize("toy", ALL_TOYS, ids=TOY_IDS)
def test_expected_counts_sum_to_fiducial_fraction(toy: Toy) -> None:
    everything = np.array([-np.inf, np.inf])
    total = toy.expected_truth(everything, 1000)[0]
    if isinstance(toy, EfficiencyFakesToy):
        fiducial = stats.norm.sf(toy.acceptance_cut, toy.truth_mean, toy.truth_sigma)
        assert total == pytest.approx(1000 * fiducial, rel=1e-12)
    else:
        assert total == pytest.approx(1000.0, rel=1e-12)


def test_expected_counts_scale_with_events_and_split_bins() -> None:
    toy = ShiftedGaussianToy()
    coarse = toy.expected_truth([-1.0, 0.0, 2.0], 100)
    fine = toy.expected_truth([-1.0, -0.5, 0.0, 1.0, 2.0], 300)

    assert coarse[0] == pytest.approx(
        stats.norm.cdf(0.0, 1.2, 3.0) * 100 - stats.norm.cdf(-1.0, 1.2, 3.0) * 100
    )
    np.testing.assert_allclose(3 * coarse, [fine[:2].sum(), fine[2:].sum()])


# --- the shifted-Gaussian toy --------------------------------------------------


def test_shifted_gaussian_moments_are_analytic(
    simulations: dict[str, SimulationSample], pseudo_data: dict[str, PseudoData]
) -> None:
    toy = ShiftedGaussianToy()
    simulation = simulations[toy.key]
    pseudo = pseudo_data[toy.key]
    reco_sigma = np.hypot(toy.truth_sigma, toy.smear_sigma)
    cases = [
        (simulation.gen[:, 0], toy.gen_mean, toy.gen_sigma),
        (pseudo.truth[:, 0], toy.truth_mean, toy.truth_sigma),
        (pseudo.data.data[:, 0], toy.truth_mean + toy.smear_mean, reco_sigma),
        (
            (simulation.reco - simulation.gen)[:, 0],
            toy.smear_mean,
            toy.smear_sigma,
        ),
    ]

    for values, mean, sigma in cases:
        n = values.size
        assert _z(values.mean(), mean, sigma / np.sqrt(n)) < Z_MAX
        # Standard error of a Gaussian sample's standard deviation.
        assert _z(values.std(ddof=1), sigma, sigma / np.sqrt(2 * (n - 1))) < Z_MAX


def test_shifted_gaussian_defaults_are_the_seed_example() -> None:
    toy = ShiftedGaussianToy()
    parameters = (toy.gen_mean, toy.gen_sigma, toy.truth_mean, toy.truth_sigma)

    assert parameters == (0.3, 2.5, 1.2, 3.0)
    assert (toy.smear_mean, toy.smear_sigma) == (-2.5, 0.2)


@pytest.mark.parametrize(
    "toy", [ShiftedGaussianToy(), CorrelatedGaussianToy()], ids=lambda t: t.key
)
def test_toys_without_selections_keep_every_event(
    toy: Toy,
    simulations: dict[str, SimulationSample],
    pseudo_data: dict[str, PseudoData],
) -> None:
    simulation = simulations[toy.key]
    pseudo = pseudo_data[toy.key]

    assert simulation.pass_gen.all()
    assert simulation.pass_reco.all()
    assert pseudo.data.n_events == pseudo.n_generated == N_EVENTS
    assert pseudo.truth.shape == (N_EVENTS, toy.n_gen_features)


# --- the efficiency, acceptance and fakes toy ----------------------------------


def test_masks_follow_the_cuts(simulations: dict[str, SimulationSample]) -> None:
    toy = EfficiencyFakesToy()
    simulation = simulations[toy.key]
    gen, reco = simulation.gen[:, 0], simulation.reco[:, 0]

    np.testing.assert_array_equal(simulation.pass_gen, gen > toy.acceptance_cut)
    assert np.all(reco[simulation.pass_reco] > toy.reco_cut)
    np.testing.assert_array_equal(np.isnan(reco), ~simulation.pass_reco)
    assert 0 < simulation.pass_gen.sum() < N_EVENTS


def test_pass_reco_rate_follows_efficiency(
    simulations: dict[str, SimulationSample],
) -> None:
    toy = EfficiencyFakesToy()
    simulation = simulations[toy.key]
    gen = simulation.gen[:, 0]
    which_bin = np.digitize(gen, np.linspace(-6.0, 7.0, 27))
    probability = toy.efficiency(gen)

    # Given gen, pass_reco is Bernoulli(efficiency(gen)): compare the passing
    # count in each gen bin with its sum of probabilities (binomial variance).
    bins = np.arange(which_bin.max() + 1)
    passed = np.bincount(which_bin, simulation.pass_reco, bins.size)
    expected = np.bincount(which_bin, probability, bins.size)
    variance = np.bincount(which_bin, probability * (1 - probability), bins.size)
    statistic = np.sum((passed - expected) ** 2 / variance)

    assert stats.chi2.sf(statistic, bins.size) > P_MIN


def test_efficiency_is_a_logistic_between_its_limits() -> None:
    toy = EfficiencyFakesToy()
    gen = np.linspace(-20.0, 20.0, 401)
    recording = toy.recording_efficiency(gen)
    midpoint = toy.recording_efficiency(toy.efficiency_midpoint)

    assert np.all(np.diff(recording) > 0)
    assert recording[0] == pytest.approx(toy.efficiency_min, abs=1e-6)
    assert recording[-1] == pytest.approx(toy.efficiency_max, abs=1e-6)
    assert midpoint == pytest.approx((toy.efficiency_min + toy.efficiency_max) / 2)
    assert 0.5 <= toy.efficiency_min < toy.efficiency_max <= 0.95
    np.testing.assert_array_less(toy.efficiency(gen), recording + 1e-15)


def test_fakes_exist_at_the_expected_rate(
    simulations: dict[str, SimulationSample],
) -> None:
    toy = EfficiencyFakesToy()
    simulation = simulations[toy.key]
    n_selected = int(simulation.pass_reco.sum())
    n_fakes = int(np.sum(simulation.pass_reco & ~simulation.pass_gen))
    rate = toy.expected_fake_fraction("prior")

    assert n_fakes > 0
    standard_error = np.sqrt(rate * (1 - rate) / n_selected)
    assert _z(n_fakes / n_selected, rate, standard_error) < Z_MAX


def test_fake_fraction_of_truth_uses_the_truth_model() -> None:
    toy = EfficiencyFakesToy()
    truth_as_prior = dataclasses.replace(
        toy, gen_mean=toy.truth_mean, gen_sigma=toy.truth_sigma
    )

    assert toy.expected_fake_fraction("truth") == pytest.approx(
        truth_as_prior.expected_fake_fraction("prior"), rel=1e-12
    )
    assert toy.expected_fake_fraction("truth") != pytest.approx(
        toy.expected_fake_fraction("prior"), rel=0.1
    )


def test_pseudo_data_hold_selected_events_only(
    pseudo_data: dict[str, PseudoData],
) -> None:
    toy = EfficiencyFakesToy()
    pseudo = pseudo_data[toy.key]

    def detected_density(g: float) -> float:
        efficiency = float(toy.efficiency(g))
        return float(stats.norm.pdf(g, toy.truth_mean, toy.truth_sigma)) * efficiency

    selected, _ = integrate.quad(detected_density, -np.inf, np.inf)
    n_data = pseudo.data.n_events

    assert pseudo.n_generated == N_EVENTS
    assert np.all(pseudo.data.data > toy.reco_cut)
    assert np.all(pseudo.truth > toy.acceptance_cut)
    standard_error = np.sqrt(N_EVENTS * selected * (1 - selected))
    assert _z(n_data, N_EVENTS * selected, standard_error) < Z_MAX


# --- the correlated Gaussian toy -------------------------------------------------


def test_correlated_gen_covariance_is_analytic(
    simulations: dict[str, SimulationSample], pseudo_data: dict[str, PseudoData]
) -> None:
    toy = CorrelatedGaussianToy()
    cases = [
        (simulations[toy.key].gen, toy.gen_covariance),
        (pseudo_data[toy.key].truth, toy.truth_covariance),
    ]

    for gen, covariance in cases:
        sigma = np.array(covariance)
        estimate = np.cov(gen, rowvar=False)
        # Var(s_ij) = (sigma_ii sigma_jj + sigma_ij^2) / (n - 1) for Gaussians.
        variance = (np.outer(np.diag(sigma), np.diag(sigma)) + sigma**2) / (
            gen.shape[0] - 1
        )
        assert np.all(np.abs(estimate - sigma) / np.sqrt(variance) < Z_MAX)


def test_correlated_smearing_is_independent_per_dimension(
    simulations: dict[str, SimulationSample],
) -> None:
    toy = CorrelatedGaussianToy()
    simulation = simulations[toy.key]
    smearing = simulation.reco - simulation.gen
    n = smearing.shape[0]

    np.testing.assert_array_less(
        np.abs(smearing.mean(axis=0) - toy.smear_mean),
        Z_MAX * np.array(toy.smear_sigma) / np.sqrt(n),
    )
    correlation = np.corrcoef(smearing[:, 0], smearing[:, 1])[0, 1]
    assert abs(correlation) < Z_MAX / np.sqrt(n)


def test_expected_truth_2d_matches_sampled_histogram(
    pseudo_data: dict[str, PseudoData],
) -> None:
    toy = CorrelatedGaussianToy()
    pseudo = pseudo_data[toy.key]
    edges = np.r_[-np.inf, np.linspace(-2.5, 2.5, 11), np.inf]
    counts, _, _ = np.histogram2d(
        pseudo.truth[:, 0], pseudo.truth[:, 1], [edges, edges]
    )

    expected = toy.expected_truth_2d(edges, edges, pseudo.n_generated)
    prior = toy.expected_prior_2d(edges, edges, pseudo.n_generated)

    assert chi2(counts.ravel(), expected.ravel()).p_value > P_MIN
    assert chi2(counts.ravel(), prior.ravel()).p_value < P_DIFFERENT


def test_expected_truth_2d_margins_are_the_1d_expectations() -> None:
    toy = CorrelatedGaussianToy()
    edges_x = np.r_[-np.inf, np.linspace(-2.0, 3.0, 6), np.inf]
    edges_y = np.r_[-np.inf, np.linspace(-3.0, 2.0, 8), np.inf]
    expected = toy.expected_truth_2d(edges_x, edges_y, 1000)

    np.testing.assert_allclose(
        expected.sum(axis=1), toy.expected_truth(edges_x, 1000, 0), rtol=1e-9
    )
    np.testing.assert_allclose(
        expected.sum(axis=0), toy.expected_truth(edges_y, 1000, 1), rtol=1e-9
    )


def test_expected_2d_without_correlation_is_an_outer_product() -> None:
    toy = CorrelatedGaussianToy(truth_covariance=((1.5, 0.0), (0.0, 0.7)))
    edges = np.array([-np.inf, -1.0, 0.0, 0.5, 2.0, np.inf])
    expected = toy.expected_truth_2d(edges, edges, 1)

    outer = np.outer(toy.expected_truth(edges, 1, 0), toy.expected_truth(edges, 1, 1))
    np.testing.assert_allclose(expected, outer, rtol=1e-9, atol=1e-15)


def test_expected_2d_agrees_with_scipy_multivariate_cdf() -> None:
    toy = CorrelatedGaussianToy()
    mean = np.array(toy.truth_mean)
    law = stats.multivariate_normal(mean, np.array(toy.truth_covariance))
    box = toy.expected_truth_2d([-np.inf, 0.5], [-np.inf, -0.2], 1)[0, 0]

    # scipy's bivariate CDF is accurate to its default abseps of 1e-5.
    assert box == pytest.approx(law.cdf([0.5, -0.2]), abs=1e-5)


def test_correlated_toy_takes_more_observables() -> None:
    toy = CorrelatedGaussianToy(
        gen_mean=(0.0, 1.0, -1.0),
        gen_covariance=((1.0, 0.3, 0.1), (0.3, 2.0, -0.4), (0.1, -0.4, 1.5)),
        truth_mean=(0.2, 1.1, -0.8),
        truth_covariance=((1.2, 0.2, 0.0), (0.2, 2.0, -0.6), (0.0, -0.6, 1.5)),
        smear_mean=(0.0, 0.0, 0.1),
        smear_sigma=(0.3, 0.4, 0.5),
    )
    simulation = toy.simulate(1000, np.random.default_rng(3))
    edges = np.array([-np.inf, 0.0, np.inf])

    assert simulation.gen.shape == simulation.reco.shape == (1000, 3)
    expected = toy.expected_truth_2d(edges, edges, 1, observables=(2, 0))
    np.testing.assert_allclose(expected.sum(axis=1), toy.expected_truth(edges, 1, 2))
    assert hash(toy) == hash(dataclasses.replace(toy))


@pytest.mark.parametrize(
    "options",
    [
        {"gen_mean": (0.0,), "gen_covariance": ((1.0,),)},
        {"gen_covariance": ((1.0, 2.0), (2.0, 1.0))},
        {"truth_covariance": ((1.0, 0.5), (0.4, 1.0))},
        {"smear_sigma": (0.5, 0.0)},
        {"truth_mean": (0.0, 1.0, 2.0)},
    ],
)
def test_correlated_toy_rejects_bad_options(options: dict[str, object]) -> None:
    with pytest.raises(ConfigurationError):
        CorrelatedGaussianToy(**options)  # type: ignore[arg-type]


# --- shared behaviour ----------------------------------------------------------


@pytest.mark.parametrize("toy", ALL_TOYS, ids=TOY_IDS)
def test_same_seed_gives_same_events(toy: Toy) -> None:
    first = toy.simulate(500, np.random.default_rng(7))
    again = toy.simulate(500, np.random.default_rng(7))
    other = toy.simulate(500, np.random.default_rng(8))
    pseudo = toy.measure(500, np.random.default_rng(7))
    pseudo_again = toy.measure(500, np.random.default_rng(7))

    np.testing.assert_array_equal(first.gen, again.gen)
    np.testing.assert_array_equal(first.reco, again.reco)
    np.testing.assert_array_equal(first.pass_reco, again.pass_reco)
    np.testing.assert_array_equal(pseudo.data.data, pseudo_again.data.data)
    np.testing.assert_array_equal(pseudo.truth, pseudo_again.truth)
    assert not np.array_equal(first.gen, other.gen)


@pytest.mark.parametrize("toy", ALL_TOYS, ids=TOY_IDS)
def test_registry_and_shapes(toy: Toy) -> None:
    simulation = toy.simulate(100, np.random.default_rng(1))

    assert TOYS[toy.key] is type(toy)
    assert isinstance(toy.name, str)
    assert simulation.gen.shape == (100, toy.n_gen_features)
    assert simulation.reco.shape == (100, toy.n_reco_features)
    assert simulation.pass_gen.dtype == simulation.pass_reco.dtype == bool


def test_registry_names_the_three_toys() -> None:
    assert set(TOYS) == {"shifted-gaussian", "efficiency-fakes", "correlated-gaussian"}


@pytest.mark.parametrize(
    ("call", "error"),
    [
        (lambda t: t.simulate(0, np.random.default_rng(0)), InputValueError),
        (lambda t: t.simulate(10.0, np.random.default_rng(0)), InputTypeError),
        (lambda t: t.measure(True, np.random.default_rng(0)), InputTypeError),
        (lambda t: t.simulate(10, 0), InputTypeError),
        (lambda t: t.expected_truth([0.0, 1.0, 1.0], 10), InputValueError),
        (lambda t: t.expected_truth([[0.0, 1.0]], 10), InputValueError),
        (lambda t: t.expected_truth([0.0, np.nan], 10), NonFiniteError),
        (lambda t: t.expected_truth([0.0, 1.0], 10, observable=1), InputValueError),
        (lambda t: t.expected_prior([0.0, 1.0], -5), InputValueError),
    ],
)
def test_bad_arguments_are_rejected(
    call: Callable[[Toy], object], error: type[Exception]
) -> None:
    with pytest.raises(error):
        call(ShiftedGaussianToy())


def test_bad_observable_pair_is_rejected() -> None:
    toy = CorrelatedGaussianToy()
    edges = [0.0, 1.0]

    with pytest.raises(InputValueError, match="distinct"):
        toy.expected_truth_2d(edges, edges, 10, observables=(1, 1))
    with pytest.raises(InputValueError, match="observable"):
        toy.expected_truth_2d(edges, edges, 10, observables=(0, 2))


@pytest.mark.parametrize(
    "options",
    [{"gen_sigma": 0.0}, {"efficiency_min": 0.9, "efficiency_max": 0.5}],
)
def test_efficiency_toy_rejects_bad_options(options: dict[str, float]) -> None:
    with pytest.raises(ConfigurationError):
        EfficiencyFakesToy(**options)


def test_fake_fraction_rejects_unknown_model() -> None:
    with pytest.raises(InputValueError, match="truth"):
        EfficiencyFakesToy().expected_fake_fraction("data")  # type: ignore[arg-type]
