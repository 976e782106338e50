"""A reweighted toy draws the truth that its expectation integrates.

As in test_toys.py, large samples with fixed seeds are compared with the
analytic (here: quadrature) expectation; a chi2 test fails a correct toy with
probability P_MIN, and each comparison is paired with one that must fail.
"""

from __future__ import annotations

import itertools
import pickle

import numpy as np
import pytest
from numpy.typing import NDArray
from scipy import integrate

from bayesfold.exceptions import ConfigurationError, InputTypeError
from bayesfold.metrics import chi2
from bayesfold.studies import BumpShape, LinearShape
from bayesfold.toys import (
    CorrelatedGaussianToy,
    EfficiencyFakesToy,
    ReweightedToy,
    ShiftedGaussianToy,
    Toy,
)

N_EVENTS = 200_000
P_MIN = 1e-3
P_DIFFERENT = 1e-12
EDGES = np.concatenate([[-np.inf], np.linspace(-7.0, 8.0, 16), [np.inf]])
ALL_TOYS: list[Toy] = [
    ShiftedGaussianToy(),
    EfficiencyFakesToy(),
    CorrelatedGaussianToy(),
]
TOY_IDS = [toy.key for toy in ALL_TOYS]


def _unit_weight(x: NDArray[np.float64]) -> NDArray[np.float64]:
    return np.ones_like(x)


@pytest.mark.parametrize("toy", ALL_TOYS, ids=TOY_IDS)
def test_density_integrates_to_the_fiducial_fraction(toy: Toy) -> None:
    # The density that the reweighting integrates is the one behind the
    # toy's own closed-form bin probabilities.
    finite = np.linspace(-6.0, 6.0, 7)
    for truth in (True, False):

        def density(x: float, truth: bool = truth) -> float:
            return float(toy._density(np.array([x]), 0, truth=truth, fiducial=True)[0])

        integrals = [
            integrate.quad(density, lo, hi, points=toy._density_breaks(0))[0]
            for lo, hi in itertools.pairwise(finite)
        ]
        expected = toy._fiducial_fraction(finite, 0, truth=truth)
        np.testing.assert_allclose(integrals, expected, rtol=1e-8, atol=1e-12)


@pytest.mark.parametrize(
    "weight",
    [LinearShape(0.8, -6.0, 8.0), BumpShape(1.5, 1.0, 1.0), BumpShape(-0.9, 3.0, 2.0)],
    ids=["linear", "bump", "dip"],
)
@pytest.mark.parametrize("base", ALL_TOYS, ids=TOY_IDS)
def test_reweighted_truth_follows_its_expectation(base: Toy, weight) -> None:
    toy = ReweightedToy(base, weight, weight.maximum, weight.breaks)
    pseudo = toy.measure(N_EVENTS, np.random.default_rng(11))
    counts, _ = np.histogram(pseudo.truth[:, 0], EDGES)

    expected = toy.expected_truth(EDGES, pseudo.n_generated)
    unweighted = base.expected_truth(EDGES, pseudo.n_generated)

    used = expected > 0
    assert pseudo.n_generated == N_EVENTS
    assert chi2(counts[used], expected[used]).p_value > P_MIN
    assert chi2(counts[used], unweighted[used]).p_value < P_DIFFERENT


@pytest.mark.parametrize("base", ALL_TOYS, ids=TOY_IDS)
def test_a_unit_weight_changes_nothing(base: Toy) -> None:
    toy = ReweightedToy(base, _unit_weight, 1.0)
    # Equal to the quadrature's absolute tolerance (1e-13 per unit density).
    np.testing.assert_allclose(
        toy.expected_truth(EDGES, 1000),
        base.expected_truth(EDGES, 1000),
        rtol=1e-9,
        atol=1e-9,
    )
    np.testing.assert_array_equal(
        toy.expected_prior(EDGES, 1000), base.expected_prior(EDGES, 1000)
    )


def test_simulation_is_the_base_toys_and_pseudo_data_are_reproducible() -> None:
    base = EfficiencyFakesToy()
    toy = ReweightedToy(base, LinearShape(0.5, -6.0, 8.0), 1.5)
    ours = toy.simulate(500, np.random.default_rng(5))
    theirs = base.simulate(500, np.random.default_rng(5))
    np.testing.assert_array_equal(ours.gen, theirs.gen)
    np.testing.assert_array_equal(ours.pass_reco, theirs.pass_reco)

    first = toy.measure(500, np.random.default_rng(6))
    again = toy.measure(500, np.random.default_rng(6))
    np.testing.assert_array_equal(first.data.data, again.data.data)
    np.testing.assert_array_equal(first.truth, again.truth)
    # The detector still selects: fakes pass, inefficient events do not.
    assert first.data.n_events < 500
    assert pickle.loads(pickle.dumps(toy)) == toy


def test_a_weight_above_its_maximum_is_refused() -> None:
    toy = ReweightedToy(ShiftedGaussianToy(), LinearShape(0.5, -6.0, 8.0), 1.2)
    with pytest.raises(ConfigurationError, match="Raise maximum"):
        toy.measure(1000, np.random.default_rng(0))
    with pytest.raises(ConfigurationError, match="maximum must be"):
        ReweightedToy(ShiftedGaussianToy(), _unit_weight, 0.0)
    with pytest.raises(InputTypeError, match="base must be a Toy"):
        ReweightedToy("toy", _unit_weight, 1.0)  # type: ignore[arg-type]


def test_a_weight_that_accepts_almost_nothing_is_refused() -> None:
    toy = ReweightedToy(ShiftedGaussianToy(), _unit_weight, 1e6)
    with pytest.raises(ConfigurationError, match="tighter maximum"):
        toy.measure(10, np.random.default_rng(0))


def test_expectation_of_another_column_is_not_implemented() -> None:
    toy = ReweightedToy(CorrelatedGaussianToy(), BumpShape(1.0, 0.0, 0.5), 2.0)
    with pytest.raises(NotImplementedError, match="joint density"):
        toy.expected_truth([-1.0, 0.0, 1.0], 100, observable=1)
    assert toy.expected_truth([-1.0, 0.0, 1.0], 100).shape == (2,)
