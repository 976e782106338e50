"""The binned response: flow bins, selections, fakes, and its checks.

Counts are compared with :func:`numpy.histogram` and :func:`numpy.histogram2d`
on the same events, so each check has an independent reference.
"""

from __future__ import annotations

import numpy as np
import pytest

from bayesfold.binned import (
    bin_index,
    bin_samples,
    response_from_simulation,
    safe_divide,
)
from bayesfold.exceptions import (
    ConfigurationError,
    FeatureCountError,
    ShapeMismatchError,
)
from bayesfold.ibu import ibu
from bayesfold.samples import DataSample, SimulationSample
from bayesfold.toys import EfficiencyFakesToy

EDGES = np.array([-2.0, 0.0, 1.0, 3.0])
FLOW_EDGES = np.concatenate([[-np.inf], EDGES, [np.inf]])


def _histogram(values, weights=None):
    """Counts with flow bins, numpy's convention (last edge inclusive)."""
    counts, _ = np.histogram(values, FLOW_EDGES, weights=weights)
    # numpy puts the last edge in its last bin (the overflow); move it back.
    at_edge = np.asarray(values) == EDGES[-1]
    moved = at_edge.sum() if weights is None else np.sum(weights[at_edge])
    counts[-1] -= moved
    counts[-2] += moved
    return counts


def test_bin_index_has_flow_bins_and_an_inclusive_last_edge():
    values = np.array([-5.0, -2.0, -1e-12, 0.0, 0.5, 1.0, 2.999, 3.0, 3.0001])
    assert bin_index(values, EDGES).tolist() == [0, 1, 1, 2, 2, 3, 3, 3, 4]


@pytest.fixture(scope="module")
def weighted_simulation():
    toy = EfficiencyFakesToy()
    simulation = toy.simulate(4000, np.random.default_rng(5))
    weights = np.random.default_rng(6).uniform(0.5, 1.5, simulation.n_events)
    return SimulationSample(
        simulation.gen,
        simulation.reco,
        weights,
        simulation.pass_gen,
        simulation.pass_reco,
    )


def test_response_counts_match_numpy(weighted_simulation):
    sim = weighted_simulation
    response = response_from_simulation(sim, truth_edges=EDGES)
    w, gen, reco = sim.sim_weights, sim.gen[:, 0], sim.reco[:, 0]
    both = sim.pass_gen & sim.pass_reco
    fake = sim.pass_reco & ~sim.pass_gen

    np.testing.assert_allclose(
        response.truth, _histogram(gen[sim.pass_gen], w[sim.pass_gen])
    )
    np.testing.assert_allclose(
        response.truth_sq, _histogram(gen[sim.pass_gen], w[sim.pass_gen] ** 2)
    )
    np.testing.assert_allclose(response.fakes, _histogram(reco[fake], w[fake]))
    expected, _, _ = np.histogram2d(
        reco[both], gen[both], [FLOW_EDGES, FLOW_EDGES], weights=w[both]
    )
    np.testing.assert_allclose(response.migrations, expected)
    assert response.n_truth_bins == response.n_reco_bins == len(EDGES) + 1


def test_every_selected_event_is_counted(weighted_simulation):
    sim = weighted_simulation
    response = response_from_simulation(sim, truth_edges=EDGES)
    w = sim.sim_weights
    assert response.truth.sum() == pytest.approx(w[sim.pass_gen].sum(), rel=1e-12)
    assert response.reco.sum() == pytest.approx(w[sim.pass_reco].sum(), rel=1e-12)


def test_matrix_efficiency_purity_and_kish(weighted_simulation):
    sim = weighted_simulation
    response = response_from_simulation(sim, truth_edges=EDGES)
    np.testing.assert_allclose(response.matrix.sum(axis=0), response.efficiency)
    assert np.all((response.efficiency >= 0) & (response.efficiency <= 1))
    np.testing.assert_allclose(
        response.purity * response.reco, response.migrations.sum(axis=1)
    )
    # The fiducial cut (gen > -2) empties the truth underflow bin.
    assert response.truth[0] == 0.0
    assert response.efficiency[0] == 0.0
    assert response.fakes.sum() > 0
    in_bin = sim.pass_gen & (bin_index(sim.gen[:, 0], EDGES) == 2)
    w = sim.sim_weights[in_bin]
    assert response.effective_truth[2] == pytest.approx(w.sum() ** 2 / np.sum(w**2))


def test_reco_edges_default_to_truth_edges_and_can_be_finer(weighted_simulation):
    fine = np.linspace(-3, 4, 15)
    response = response_from_simulation(
        weighted_simulation, truth_edges=EDGES, reco_edges=fine
    )
    assert response.migrations.shape == (len(fine) + 1, len(EDGES) + 1)
    default = response_from_simulation(weighted_simulation, truth_edges=EDGES)
    np.testing.assert_array_equal(default.reco_edges, EDGES)
    # Finer reco bins redistribute the same events.
    np.testing.assert_allclose(response.truth, default.truth)
    np.testing.assert_allclose(response.reco.sum(), default.reco.sum())


def test_bin_samples_histograms_the_data(weighted_simulation):
    data = DataSample(np.array([-3.0, 0.5, 0.7, 3.0, 9.0]), [1.0, 2.0, 1.0, 1.0, 3.0])
    response, counts, variances = bin_samples(weighted_simulation, data, bins=EDGES)
    assert response.n_reco_bins == len(counts) == 5
    np.testing.assert_array_equal(counts, [1, 0, 3, 1, 3])
    np.testing.assert_array_equal(variances, [1, 0, 5, 1, 9])


def test_safe_divide_gives_zero_for_zero_denominators():
    np.testing.assert_array_equal(
        safe_divide([1.0, 2.0, 0.0], [2.0, 0.0, 0.0]), [0.5, 0, 0]
    )


@pytest.mark.parametrize(
    ("kwargs", "message"),
    [
        ({"truth_edges": [1.0, 0.0]}, "strictly increasing"),
        ({"truth_edges": [0.0]}, "at least two"),
        ({"truth_edges": EDGES, "reco_edges": [[0.0, 1.0]]}, "1-D"),
        ({"truth_edges": EDGES, "truth_observable": 1}, "gen has 1 feature"),
        ({"truth_edges": EDGES, "reco_observable": -1}, "out of range"),
        ({"truth_edges": EDGES, "reco_observable": 0.0}, "integer column"),
    ],
)
def test_bad_bins_and_observables_are_refused(weighted_simulation, kwargs, message):
    with pytest.raises(ConfigurationError, match=message):
        response_from_simulation(weighted_simulation, **kwargs)


def test_binned_methods_need_bins_and_matching_features(weighted_simulation):
    data = DataSample(np.zeros(3))
    with pytest.raises(ConfigurationError, match="pass bins="):
        bin_samples(weighted_simulation, data, bins=None, method="ibu")
    with pytest.raises(FeatureCountError):
        bin_samples(weighted_simulation, DataSample(np.zeros((3, 2))), bins=EDGES)


def test_counts_of_the_wrong_length_are_refused(weighted_simulation):
    response = response_from_simulation(weighted_simulation, truth_edges=EDGES)
    with pytest.raises(ShapeMismatchError, match="flow bins included"):
        ibu(np.ones(len(EDGES) - 1), response)
    with pytest.raises(ConfigurationError, match="non-negative"):
        ibu(-np.ones(response.n_reco_bins), response)
