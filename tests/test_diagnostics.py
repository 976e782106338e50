"""Diagnostics: reliability curves on synthetic classifiers, records of the iteration.

A synthetic classifier is calibrated by construction when the labels are drawn
as Bernoulli(expit(z)) from its own logits z. Its reliability curve must then
lie on the diagonal within the binomial errors: the sum of squared pulls follows
a chi2 law with one degree of freedom per bin (approximately: each bin has
thousands of events), and the check fails by chance with probability P_MIN.
Miscalibrated classifiers (logits scaled, or class weights ignored) must fail
the same check by a wide margin.
"""

from __future__ import annotations

import json

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from hypothesis.extra import numpy as hnp
from scipy import stats
from scipy.special import expit

from bayesfold.diagnostics import (
    ReliabilityCurve,
    expected_calibration_error,
    iteration_distances,
    reliability_curve,
)
from bayesfold.exceptions import (
    ConfigurationError,
    EmptySampleError,
    InputValueError,
    NonFiniteError,
    ShapeMismatchError,
    WeightError,
)
from bayesfold.methods import unfold
from bayesfold.samples import kish_effective_size
from bayesfold.toys import ShiftedGaussianToy

N_EVENTS = 20_000
# A calibrated curve fails the chi2 check by chance at this rate.
P_MIN = 1e-3
PROPERTIES = settings(max_examples=50, deadline=None, database=None)


def _chi2_p_value(curve: ReliabilityCurve) -> float:
    pulls = curve.pulls[np.isfinite(curve.pulls)]
    return float(stats.chi2.sf(np.sum(pulls**2), len(pulls)))


def _ece_noise_bound(curve: ReliabilityCurve) -> float:
    """Mean plus four standard deviations of a calibrated curve's ECE.

    Per bin |o - p| is |N(0, error)|: mean error * sqrt(2/pi), variance
    error^2 (1 - 2/pi); the ECE sums them with weights W_b / W.
    """
    share = curve.weight / curve.weight.sum()
    mean = np.sqrt(2 / np.pi) * np.nansum(share * curve.error)
    sd = np.sqrt((1 - 2 / np.pi) * np.nansum(share**2 * curve.error**2))
    return float(mean + 4 * sd)


@pytest.fixture(scope="module")
def calibrated() -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    rng = np.random.default_rng(11)
    logits = rng.normal(0.0, 1.5, N_EVENTS)
    labels = rng.binomial(1, expit(logits))
    weights = rng.uniform(0.5, 1.5, N_EVENTS)
    return logits, labels, weights


# --- reliability curves -------------------------------------------------------


@pytest.mark.parametrize("strategy", ["quantile", "uniform"])
def test_calibrated_classifier_lies_on_the_diagonal(calibrated, strategy):
    curve = reliability_curve(*calibrated, strategy=strategy)

    assert _chi2_p_value(curve) > P_MIN
    assert curve.expected_calibration_error < _ece_noise_bound(curve)
    filled = curve.weight > 0
    assert np.all(curve.edges[:-1][filled] <= curve.predicted[filled])
    assert np.all(curve.predicted[filled] <= curve.edges[1:][filled])


def test_overconfident_classifier_is_off_the_diagonal(calibrated):
    logits, labels, weights = calibrated
    curve = reliability_curve(2.0 * logits, labels, weights)

    assert _chi2_p_value(curve) < 1e-12
    # Overconfident: the observed fraction lies above the prediction at low
    # predictions and below it at high ones.
    assert curve.pulls[0] > 5
    assert curve.pulls[-1] < -5
    assert curve.expected_calibration_error > 5 * _ece_noise_bound(curve)


def test_calibration_is_judged_against_the_weighted_classes():
    # Trained with class weights (1, 3), a calibrated classifier says
    # 3 p / (1 - p + 3 p): its logit is shifted by log 3.
    rng = np.random.default_rng(5)
    logits = rng.normal(0.0, 1.0, N_EVENTS)
    labels = rng.binomial(1, expit(logits))
    weights = np.where(labels == 1, 3.0, 1.0)

    weighted = reliability_curve(logits + np.log(3.0), labels, weights)
    unweighted = reliability_curve(logits, labels, weights)

    assert _chi2_p_value(weighted) > P_MIN
    assert _chi2_p_value(unweighted) < 1e-12


def test_ece_grows_with_miscalibration(calibrated):
    logits, labels, weights = calibrated
    scales = [1.0, 1.5, 2.0, 3.0]
    eces = [expected_calibration_error(s * logits, labels, weights) for s in scales]

    assert np.all(np.diff(eces) > 0)
    # Scale 3: expit(3z) - expit(z) keeps its sign within each bin but the one
    # holding z = 0, so binning barely averages it away; what is left is noise.
    analytic = np.average(np.abs(expit(3 * logits) - expit(logits)), weights=weights)
    noise = _ece_noise_bound(reliability_curve(3 * logits, labels, weights))
    assert eces[-1] == pytest.approx(analytic, abs=noise)


def test_a_bin_matching_its_prediction_has_zero_ece():
    curve = reliability_curve(
        np.full(8, np.log(1 / 3)), [0, 0, 1, 0, 0, 1, 0, 0], bins=3
    )
    # One bin: every prediction is the same (ties merge quantile bins).
    assert len(curve.predicted) == 1
    assert curve.observed[0] == pytest.approx(0.25)
    assert curve.predicted[0] == pytest.approx(0.25)
    assert curve.expected_calibration_error == pytest.approx(0.0, abs=1e-15)
    assert curve.error[0] == pytest.approx(np.sqrt(0.25 * 0.75 / 8))


def test_kish_counts_and_errors_of_a_weighted_bin():
    weights = np.array([1.0, 1.0, 2.0, 4.0])
    curve = reliability_curve(np.zeros(4), [1, 0, 1, 0], weights, bins=1)

    n_eff = 8.0**2 / 22.0
    assert curve.effective_count[0] == pytest.approx(n_eff)
    assert curve.observed[0] == pytest.approx(3 / 8)
    assert curve.error[0] == pytest.approx(np.sqrt(3 / 8 * 5 / 8 / n_eff))
    assert curve.weight[0] == pytest.approx(8.0)
    assert curve.n_events.tolist() == [4]


def test_uniform_bins_without_events_are_nan_and_do_not_count():
    curve = reliability_curve([-0.1, 0.1, 0.2], [0, 1, 1], bins=4, strategy="uniform")

    assert curve.n_events.tolist() == [0, 1, 2, 0]
    assert np.isnan(curve.observed[[0, 3]]).all()
    assert np.isfinite(curve.expected_calibration_error)
    json.dumps(curve.as_dict())  # NaN becomes null: valid JSON
    assert curve.as_dict()["observed"][0] is None


def test_explicit_edges_are_used():
    curve = reliability_curve([-2.0, 0.0, 2.0], [0, 1, 1], bins=[0.0, 0.3, 1.0])
    assert curve.edges.tolist() == [0.0, 0.3, 1.0]
    assert curve.n_events.tolist() == [1, 2]


def test_curve_is_invariant_to_weight_scale_and_event_order(calibrated):
    logits, labels, weights = calibrated
    order = np.random.default_rng(3).permutation(N_EVENTS)
    reference = reliability_curve(logits, labels, weights)
    changed = reliability_curve(logits[order], labels[order], 7.5 * weights[order])

    np.testing.assert_allclose(changed.observed, reference.observed, rtol=1e-12)
    np.testing.assert_allclose(changed.error, reference.error, rtol=1e-9)
    assert changed.expected_calibration_error == pytest.approx(
        reference.expected_calibration_error, rel=1e-9
    )


@PROPERTIES
@given(
    hnp.arrays(np.float64, st.integers(1, 60), elements=st.floats(-30, 30)),
    st.integers(1, 12),
    st.sampled_from(["quantile", "uniform"]),
    st.integers(0, 2**32 - 1),
)
def test_curve_properties(logits, bins, strategy, seed):
    rng = np.random.default_rng(seed)
    labels = rng.integers(0, 2, len(logits))
    weights = rng.uniform(0.0, 2.0, len(logits)) + 1e-3
    curve = reliability_curve(logits, labels, weights, bins=bins, strategy=strategy)

    assert 0.0 <= curve.expected_calibration_error <= 1.0
    assert curve.n_events.sum() == len(logits)
    assert curve.weight.sum() == pytest.approx(weights.sum())
    assert len(curve.predicted) <= bins
    if strategy == "quantile":
        assert np.all(curve.n_events > 0)


@pytest.mark.parametrize(
    ("logits", "labels", "weights", "error"),
    [
        ([0.0, 1.0], [0, 2], None, InputValueError),
        ([0.0, np.nan], [0, 1], None, NonFiniteError),
        ([0.0, 1.0], [0, 1, 1], None, ShapeMismatchError),
        ([[0.0, 1.0]], [[0, 1]], None, ShapeMismatchError),
        ([0.0, 1.0], [0, 1], [1.0, -1.0], WeightError),
        ([0.0, 1.0], [0, 1], [0.0, 0.0], WeightError),
        ([], [], None, EmptySampleError),
    ],
)
def test_bad_inputs_raise_specific_errors(logits, labels, weights, error):
    with pytest.raises(error):
        reliability_curve(logits, labels, weights)


@pytest.mark.parametrize(
    "options",
    [
        {"bins": 0},
        {"bins": [0.5, 0.2]},
        {"bins": [0.0, 1.5]},
        {"strategy": "equal"},
    ],
)
def test_bad_binning_is_a_configuration_error(options):
    with pytest.raises(ConfigurationError):
        reliability_curve([0.0, 1.0], [0, 1], **options)


# --- what the iteration records -----------------------------------------------


@pytest.fixture(scope="module")
def unfolded():
    toy = ShiftedGaussianToy()
    rng = np.random.default_rng(2024)
    simulation = toy.simulate(400, rng)
    measured = toy.measure(300, rng)
    result = unfold(
        simulation,
        measured.data,
        method="point",
        iterations=2,
        replicas=2,
        bootstrap="poisson",
        random_state=1,
        progress=False,
    )
    return simulation, measured, result


def test_every_step_records_its_calibration(unfolded):
    simulation, measured, result = unfolded

    for record in result.diagnostics:
        curve = record.calibration
        assert isinstance(curve, ReliabilityCurve)
        assert 0.0 <= curve.expected_calibration_error < 0.5

    # Step 1 of the first iteration trains on the first replica's weights:
    # each class normalised to its Kish effective size (DESIGN.md).
    first = result.diagnostics[0]
    assert (first.iteration, first.step) == (0, "step1")
    expected = kish_effective_size(result.sim_weights[0]) + kish_effective_size(
        result.data_weights[0]
    )
    assert first.calibration.weight.sum() == pytest.approx(expected)
    assert first.calibration.n_events.sum() == (
        simulation.n_events + measured.data.n_events
    )


def test_iteration_distances_shrink_as_the_iteration_converges(unfolded):
    _, _, result = unfolded
    bins = np.linspace(-8.0, 10.0, 10)

    triangular = iteration_distances(result, 0, bins)
    chi2 = iteration_distances(result, 0, bins, distance="chi2")

    assert triangular.shape == chi2.shape == (result.iterations,)
    assert np.all(triangular >= 0)
    assert np.all(np.isfinite(chi2))
    # The prior is far from the data (a 0.9 shift of the mean); the first
    # iteration moves most of the way.
    assert triangular[0] > 5 * triangular[1]
    with pytest.raises(ConfigurationError, match="distance"):
        iteration_distances(result, 0, bins, distance="kl")  # type: ignore[arg-type]
