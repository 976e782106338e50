"""Every bad input of the sample containers raises its own error and message."""

from __future__ import annotations

import numpy as np
import pytest

from bayesfold.exceptions import (
    BayesfoldError,
    EmptySampleError,
    FeatureCountError,
    MaskError,
    MaskTypeError,
    NonFiniteError,
    ShapeMismatchError,
    WeightError,
)
from bayesfold.samples import (
    DataSample,
    SimulationSample,
    check_compatible,
    kish_effective_size,
)

N = 20


@pytest.fixture
def arrays() -> dict[str, np.ndarray]:
    rng = np.random.default_rng(0)
    gen = rng.normal(size=N)
    return {"gen": gen, "reco": gen + rng.normal(size=N)}


def test_one_dimensional_features_become_columns(arrays):
    sample = SimulationSample(**arrays)
    assert sample.gen.shape == (N, 1)
    assert sample.reco.shape == (N, 1)
    assert sample.sim_weights.tolist() == [1.0] * N
    assert sample.pass_gen.all()
    assert sample.pass_reco.all()


def test_two_dimensional_features_kept(arrays):
    gen = np.column_stack([arrays["gen"], arrays["gen"] ** 2])
    sample = SimulationSample(gen, arrays["reco"])
    assert sample.gen.shape == (N, 2)


def test_inputs_are_copied(arrays):
    sample = SimulationSample(**arrays)
    arrays["gen"][0] = 99.0
    assert sample.gen[0, 0] != 99.0


@pytest.mark.parametrize(
    ("override", "error", "fragments"),
    [
        ({"reco": np.zeros(N - 1)}, ShapeMismatchError, ["reco has 19", "gen has 20"]),
        (
            {"sim_weights": np.ones(N + 2)},
            ShapeMismatchError,
            ["sim_weights has 22", "20"],
        ),
        (
            {"pass_gen": np.ones(N - 3, bool)},
            ShapeMismatchError,
            ["pass_gen has 17"],
        ),
        (
            {"gen": np.full(N, np.nan)},
            NonFiniteError,
            ["gen has 20 selected events", "index 0"],
        ),
        ({"gen": np.array(["a"] * N)}, NonFiniteError, ["gen must hold numbers"]),
        ({"gen": np.zeros((N, 1, 1))}, ShapeMismatchError, ["1-D", "(20, 1, 1)"]),
        ({"gen": np.zeros((N, 0))}, ShapeMismatchError, ["no feature columns"]),
        ({"gen": np.array([]), "reco": np.array([])}, EmptySampleError, ["no events"]),
        (
            {"sim_weights": -np.ones(N)},
            WeightError,
            ["20 negative weights", "index 0", "value -1"],
        ),
        ({"sim_weights": np.zeros(N)}, WeightError, ["sum to zero"]),
        (
            {"sim_weights": np.r_[np.inf, np.ones(N - 1)]},
            NonFiniteError,
            ["sim_weights has 1", "index 0"],
        ),
        (
            {"pass_reco": np.ones(N, dtype=int)},
            MaskTypeError,
            ["pass_reco must be a boolean", "int64"],
        ),
        (
            {"pass_gen": np.zeros(N, bool)},
            MaskError,
            ["pass_gen selects none of the 20"],
        ),
    ],
)
def test_bad_simulation_inputs(arrays, override, error, fragments):
    with pytest.raises(error) as info:
        SimulationSample(**{**arrays, **override})
    message = str(info.value)
    for fragment in fragments:
        assert fragment in message
    assert isinstance(info.value, BayesfoldError)


def test_error_families_inherit_builtins():
    assert issubclass(ShapeMismatchError, ValueError)
    assert issubclass(MaskTypeError, TypeError)
    assert issubclass(FeatureCountError, ValueError)


def test_nan_allowed_where_selection_fails(arrays):
    reco = arrays["reco"].copy()
    reco[:5] = np.nan
    pass_reco = np.arange(N) >= 5
    sample = SimulationSample(arrays["gen"], reco, pass_reco=pass_reco)
    assert np.isnan(sample.reco[:5]).all()


def test_nan_in_selected_event_reports_its_index(arrays):
    reco = arrays["reco"].copy()
    reco[[3, 7]] = np.nan
    pass_reco = np.arange(N) != 3
    with pytest.raises(NonFiniteError, match=r"reco has 1 selected events.*index 7"):
        SimulationSample(arrays["gen"], reco, pass_reco=pass_reco)


@pytest.mark.parametrize(
    ("kwargs", "error", "pattern"),
    [
        ({"data": np.array([[1.0, np.nan]])}, NonFiniteError, "data has 1"),
        (
            {"data": np.ones(3), "data_weights": np.ones(4)},
            ShapeMismatchError,
            "data_weights has 4",
        ),
        (
            {"data": np.ones(3), "data_weights": np.array([1.0, -2.0, 1.0])},
            WeightError,
            "index 1",
        ),
        ({"data": np.empty((0, 2))}, EmptySampleError, "data holds no events"),
    ],
)
def test_bad_data_inputs(kwargs, error, pattern):
    with pytest.raises(error, match=pattern):
        DataSample(**kwargs)


def test_feature_count_mismatch(arrays):
    simulation = SimulationSample(**arrays)
    data = DataSample(np.zeros((5, 2)))
    with pytest.raises(FeatureCountError, match=r"reco has 1 features.*data has 2"):
        check_compatible(simulation, data)


def test_take_permutes_every_array(arrays):
    weights = np.arange(1, N + 1, dtype=float)
    sample = SimulationSample(**arrays, sim_weights=weights)
    order = np.random.default_rng(1).permutation(N)
    permuted = sample.take(order)
    np.testing.assert_array_equal(permuted.sim_weights, weights[order])
    np.testing.assert_array_equal(permuted.gen[:, 0], arrays["gen"][order])


def test_kish_effective_size():
    assert kish_effective_size(np.ones(10)) == pytest.approx(10.0)
    assert kish_effective_size(np.r_[1.0, np.zeros(9)]) == pytest.approx(1.0)
    # Two events weighted 1 and 3: (4)^2 / (1 + 9) = 1.6.
    assert kish_effective_size(np.array([1.0, 3.0])) == pytest.approx(1.6)
    np.testing.assert_allclose(kish_effective_size(np.ones((3, 4))), [4, 4, 4])
