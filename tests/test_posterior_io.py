"""The posterior as an xarray data tree in netCDF: complete, exact round trips."""

from __future__ import annotations

import dataclasses
import subprocess
import sys

import numpy as np
import pytest
import xarray as xr

from bayesfold import SimulationSample, StepDiagnostics, UnfoldingResult
from bayesfold.exceptions import (
    ConfigurationError,
    OutputExistsError,
    PosteriorFormatError,
)
from bayesfold.io.posterior import (
    VERSIONED_PACKAGES,
    from_datatree,
    load_posterior,
    read_provenance,
    save_posterior,
    to_datatree,
)
from bayesfold.methods import unfold
from bayesfold.toys import EfficiencyFakesToy

BINS = np.linspace(-6.0, 8.0, 8)


@pytest.fixture(scope="module")
def result():
    """A real bootstrap unfolding with efficiency and fakes (NaN reco)."""
    toy = EfficiencyFakesToy()
    rng = np.random.default_rng(7)
    simulation = toy.simulate(300, rng)
    measured = toy.measure(300, rng)
    return unfold(
        simulation,
        measured.data,
        method="bootstrap",
        iterations=2,
        replicas=3,
        random_state=11,
        progress=False,
    )


@pytest.fixture(scope="module")
def saved(result, tmp_path_factory):
    path = tmp_path_factory.mktemp("posterior") / "posterior.nc"
    return save_posterior(result, path, config={"seed": 11})


def _handmade(random_state=3):
    """A result built directly, with the diagnostics shapes of every classifier."""
    rng = np.random.default_rng(0)
    n, draws = 40, 2
    gen = rng.normal(size=(n, 2))
    reco = gen + rng.normal(size=(n, 2))
    pass_reco = np.arange(n) % 5 != 0
    reco[~pass_reco] = np.nan
    simulation = SimulationSample(
        gen, reco, rng.uniform(0.5, 2.0, n), np.arange(n) % 7 != 0, pass_reco
    )
    history = [
        {"elbo": rng.normal(size=(9, draws)), "learning_rate": np.ones((9, draws))},
        {"diverging": np.zeros(draws), "rhat": np.array([1.001, 1.004])},
        {"loss": rng.normal(size=5), "val_loss": rng.normal(size=3), "n": 4.0},
    ]
    diagnostics = [
        StepDiagnostics(0, "step1", n, np.array([1, 0]), rng.uniform(size=draws), 0.5),
        StepDiagnostics(0, "step1b", 8, np.array([0, 0]), None, 0.25, history),
    ]
    return UnfoldingResult(
        simulation=simulation,
        sim_weights=rng.uniform(size=(draws, n)),
        data_weights=rng.uniform(size=(draws, 30)),
        pull_weights=rng.uniform(size=(1, draws, n)),
        push_weights=rng.uniform(size=(1, draws, n)),
        diagnostics=diagnostics,
        method="handmade",
        seconds=1.5,
        random_state=random_state,
        metadata={"note": "test", "edges": [0, 1]},
    )


def _assert_same_diagnostics(loaded, original):
    assert len(loaded) == len(original)
    for got, want in zip(loaded, original, strict=True):
        for field in dataclasses.fields(StepDiagnostics):
            got_value, want_value = getattr(got, field.name), getattr(want, field.name)
            if field.name == "history":
                assert len(got_value) == len(want_value)
                for got_fold, want_fold in zip(got_value, want_value, strict=True):
                    assert list(got_fold) == list(want_fold)
                    for key, value in want_fold.items():
                        np.testing.assert_array_equal(got_fold[key], value)
            elif dataclasses.is_dataclass(want_value):
                assert type(got_value) is type(want_value)
                for inner in dataclasses.fields(want_value):
                    np.testing.assert_array_equal(
                        getattr(got_value, inner.name),
                        getattr(want_value, inner.name),
                    )
            elif want_value is None:
                assert got_value is None, field.name
            else:
                np.testing.assert_array_equal(got_value, want_value)


def _assert_same_result(loaded, original):
    for name in ("sim_weights", "data_weights", "pull_weights", "push_weights"):
        np.testing.assert_array_equal(getattr(loaded, name), getattr(original, name))
    for name in ("gen", "reco", "sim_weights", "pass_gen", "pass_reco"):
        got = getattr(loaded.simulation, name)
        want = getattr(original.simulation, name)
        assert got.dtype == want.dtype
        np.testing.assert_array_equal(got, want)
    assert loaded.method == original.method
    assert loaded.seconds == original.seconds
    assert loaded.random_state == original.random_state
    assert loaded.metadata == original.metadata
    _assert_same_diagnostics(loaded.diagnostics, original.diagnostics)


def test_round_trip_gives_identical_weights_and_histograms(result, saved):
    loaded = load_posterior(saved)

    _assert_same_result(loaded, result)
    for iteration in (0, -1):
        np.testing.assert_array_equal(
            loaded.histogram_draws(0, BINS, iteration=iteration),
            result.histogram_draws(0, BINS, iteration=iteration),
        )
    assert loaded.histogram(0, BINS) == result.histogram(0, BINS)
    np.testing.assert_array_equal(
        loaded.posterior(0, BINS).covariance, result.posterior(0, BINS).covariance
    )


def test_file_opens_with_plain_xarray(result, saved):
    with xr.open_datatree(saved) as tree:
        posterior = tree["posterior"]
        assert posterior["push_weights"].dims == ("iteration", "draw", "event")
        assert posterior["push_weights"].shape == (2, 3, 300)
        assert tree["simulation"]["pass_gen"].dtype == bool
        np.testing.assert_array_equal(
            posterior["push_weights"].sel(iteration=1).values, result.push_weights[1]
        )
        steps = tree["diagnostics"]["step"].values.tolist()
        assert steps == [record.step for record in result.diagnostics]
        assert tree.attrs["method"] == result.method
        elbo_or_loss = tree["diagnostics/history/record_000/fold_0"]["loss"]
        assert elbo_or_loss.dims == ("training_step", "draw")

    provenance = read_provenance(saved)
    assert provenance["config"] == {"seed": 11}
    assert set(provenance["versions"]) == set(VERSIONED_PACKAGES)
    assert provenance["versions"]["xarray"] == xr.__version__


def test_handmade_diagnostics_and_a_128_bit_seed_survive(tmp_path):
    original = _handmade(random_state=2**100 + 1)
    loaded = UnfoldingResult.load(original.save(tmp_path / "handmade.nc"))
    _assert_same_result(loaded, original)

    tree = to_datatree(original)
    folds = tree["diagnostics/history/record_001"]
    assert folds["fold_0"]["elbo"].dims == ("training_step", "draw")
    assert folds["fold_1"]["rhat"].dims == ("draw",)
    assert folds["fold_2"]["val_loss"].dims == ("val_loss_step",)
    _assert_same_result(from_datatree(tree), original)

    without = dataclasses.replace(original, diagnostics=[])
    _assert_same_result(from_datatree(to_datatree(without)), without)


def test_existing_file_is_refused_and_left_unchanged(tmp_path):
    path = tmp_path / "posterior.nc"
    path.write_bytes(b"keep me")
    with pytest.raises(OutputExistsError, match="overwrite"):
        save_posterior(_handmade(), path)
    assert path.read_bytes() == b"keep me"

    save_posterior(_handmade(), path, overwrite=True)
    assert load_posterior(path).method == "handmade"
    assert sorted(p.name for p in tmp_path.iterdir()) == ["posterior.nc"]


def test_unstorable_metadata_is_refused_before_writing(tmp_path):
    result = _handmade()
    result.metadata["bad"] = object()
    with pytest.raises(ConfigurationError, match="JSON"):
        save_posterior(result, tmp_path / "posterior.nc")
    assert list(tmp_path.iterdir()) == []


def test_foreign_files_and_trees_are_refused(tmp_path):
    with pytest.raises(PosteriorFormatError, match="not a bayesfold posterior"):
        from_datatree(xr.DataTree(xr.Dataset(attrs={"format": "other"})))

    other = tmp_path / "other.nc"
    xr.Dataset({"x": ("i", np.arange(3))}).to_netcdf(other, engine="h5netcdf")
    with pytest.raises(PosteriorFormatError, match="format"):
        load_posterior(other)

    text = tmp_path / "text.nc"
    text.write_text("not netCDF")
    with pytest.raises(PosteriorFormatError, match="save_posterior"):
        load_posterior(text)


def test_import_bayesfold_does_not_load_xarray():
    code = "import sys, bayesfold; print('xarray' in sys.modules)"
    out = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, check=True
    )
    assert out.stdout.strip() == "False"
