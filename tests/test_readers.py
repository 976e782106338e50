"""Readers: real ROOT, Parquet, HDF5 and NumPy files written in tmp_path."""

from __future__ import annotations

import tomllib

import awkward as ak
import h5py
import hist
import numpy as np
import pyarrow as pa
import pyarrow.parquet as pq
import pytest
import uproot

from bayesfold.config import parse_config
from bayesfold.exceptions import (
    BranchNotFoundError,
    BranchTypeError,
    ConfigFileError,
    InputFileFormatError,
    InputFileNotFoundError,
    NonFiniteColumnError,
    NotATreeError,
    RaggedBranchError,
    ShapeMismatchError,
    TreeNotFoundError,
)
from bayesfold.io.readers import list_columns, read_columns, read_data, read_simulation

N = 23  # events per file: not a multiple of the chunk sizes used below


@pytest.fixture
def columns():
    rng = np.random.default_rng(11)
    return {
        "x": rng.normal(size=2 * N),
        "n": rng.integers(0, 9, size=2 * N).astype(np.int32),
        "flag": rng.random(2 * N) > 0.4,
    }


def _write_root(path, columns, *, extra=True):
    with uproot.recreate(path) as file:
        types = {name: values.dtype for name, values in columns.items()}
        if extra:
            types |= {"tracks": "var * float64", "corners": ("float64", (4,))}
        tree = file.mktree("events", types)
        values = dict(columns)
        if extra:
            n = len(next(iter(columns.values())))
            values["tracks"] = ak.Array([[0.5] * (i % 3) for i in range(n)])
            values["corners"] = np.ones((n, 4))
        tree.extend(values)
        file["histogram"] = hist.Hist.new.Reg(3, 0, 1).Double()


def _halves(columns):
    first = {name: values[:N] for name, values in columns.items()}
    second = {name: values[N:] for name, values in columns.items()}
    return first, second


# ROOT ---------------------------------------------------------------------


def test_root_files_read_in_chunks_in_file_order(tmp_path, columns):
    first, second = _halves(columns)
    _write_root(tmp_path / "a.root", first)
    _write_root(tmp_path / "b.root", second)

    read = read_columns(
        [tmp_path / "a.root", tmp_path / "b.root"],
        ["x", "n", "flag"],
        tree="events",
        step_size=7,
    )
    np.testing.assert_array_equal(read.values["x"], columns["x"])
    np.testing.assert_array_equal(read.values["n"], columns["n"])
    np.testing.assert_array_equal(read.values["flag"], columns["flag"])
    assert read.values["n"].dtype == np.float64
    assert read.values["flag"].dtype == bool
    assert read.rows == (N, N)
    assert read.origin(N + 2) == (tmp_path / "b.root", 2)


def test_root_glob_and_the_only_tree(tmp_path, columns):
    first, second = _halves(columns)
    _write_root(tmp_path / "part1.root", first)
    _write_root(tmp_path / "part2.root", second)
    read = read_columns(str(tmp_path / "part*.root"), ["x"])
    np.testing.assert_array_equal(read.values["x"], columns["x"])
    assert "tracks" in list_columns(tmp_path / "part1.root")


def test_root_rntuple_reads_too(tmp_path, columns):
    with uproot.recreate(tmp_path / "rntuple.root") as file:
        file["events"] = {
            "x": columns["x"],
            "flag": columns["flag"],
            "tracks": ak.Array([[1.0] * (i % 2) for i in range(2 * N)]),
            "label": ak.Array(["e"] * (2 * N)),
        }
    assert uproot.open(tmp_path / "rntuple.root").classnames()["events;1"] == (
        "ROOT::RNTuple"
    )
    read = read_columns(tmp_path / "rntuple.root", ["x", "flag"], step_size=10)
    np.testing.assert_array_equal(read.values["x"], columns["x"])
    np.testing.assert_array_equal(read.values["flag"], columns["flag"])
    with pytest.raises(RaggedBranchError, match="'tracks'"):
        read_columns(tmp_path / "rntuple.root", ["tracks"])
    with pytest.raises(BranchTypeError, match="'label' holds strings"):
        read_columns(tmp_path / "rntuple.root", ["label"])


def test_misspelt_branch_names_the_closest(tmp_path, columns):
    _write_root(tmp_path / "a.root", columns)
    with pytest.raises(BranchNotFoundError) as caught:
        read_columns(tmp_path / "a.root", ["flg"], tree="events", used_by={"flg": "k"})
    message = str(caught.value)
    assert str(tmp_path / "a.root") in message
    assert "'flg'" in message
    assert "Did you mean 'flag'?" in message
    assert "`k`" in message
    assert isinstance(caught.value, KeyError)


@pytest.mark.parametrize(
    ("tree", "error", "words"),
    [
        ("event", TreeNotFoundError, "Did you mean 'events'?"),
        ("histogram", NotATreeError, "TH1D, not a TTree"),
    ],
)
def test_wrong_tree_is_a_specific_error(tmp_path, columns, tree, error, words):
    _write_root(tmp_path / "a.root", columns)
    with pytest.raises(error, match=words):
        read_columns(tmp_path / "a.root", ["x"], tree=tree)


def test_two_trees_need_a_name(tmp_path, columns):
    path = tmp_path / "two.root"
    with uproot.recreate(path) as file:
        for name in ("one", "two"):
            file.mktree(name, {"x": np.float64}).extend({"x": columns["x"]})
    with pytest.raises(TreeNotFoundError, match="holds 2 trees"):
        read_columns(path, ["x"])


@pytest.mark.parametrize(
    ("branch", "words"),
    [("tracks", "variable number"), ("corners", "fixed-size array")],
)
def test_ragged_branches_are_refused(tmp_path, columns, branch, words):
    _write_root(tmp_path / "a.root", columns)
    with pytest.raises(RaggedBranchError, match=words) as caught:
        read_columns(tmp_path / "a.root", ["x", branch], tree="events")
    assert f"'{branch}'" in str(caught.value)
    assert isinstance(caught.value, ValueError)


def test_missing_and_unreadable_files(tmp_path):
    with pytest.raises(InputFileNotFoundError, match="does not exist") as caught:
        read_columns(tmp_path / "missing.root", ["x"])
    assert isinstance(caught.value, FileNotFoundError)
    with pytest.raises(InputFileNotFoundError, match="no file matches"):
        read_columns(str(tmp_path / "none*.root"), ["x"])
    text = tmp_path / "notes.root"
    text.write_text("not a ROOT file")
    with pytest.raises(InputFileFormatError, match="cannot be read as a ROOT") as error:
        read_columns(text, ["x"])
    assert isinstance(error.value, OSError)
    with pytest.raises(InputFileFormatError, match="extension"):
        read_columns(text.rename(tmp_path / "notes.txt"), ["x"])


def test_real_root_file_from_scikit_hep_testdata():
    skhep_testdata = pytest.importorskip("skhep_testdata")
    try:
        path = skhep_testdata.data_path("uproot-HZZ.root")
    except Exception as error:  # the package downloads its files on first use
        pytest.skip(f"scikit-hep-testdata cannot fetch uproot-HZZ.root: {error}")
    read = read_columns(path, ["MET_px", "MET_py", "NMuon"], tree="events")
    reference = uproot.open(path)["events"].arrays(["MET_px", "NMuon"], library="np")
    np.testing.assert_array_equal(read.values["MET_px"], reference["MET_px"])
    np.testing.assert_array_equal(read.values["NMuon"], reference["NMuon"])
    with pytest.raises(RaggedBranchError, match="Muon_Px"):
        read_columns(path, ["Muon_Px"], tree="events")


# Parquet, HDF5, npz -------------------------------------------------------


def test_parquet_columns_with_nulls_as_nan(tmp_path):
    path = tmp_path / "events.parquet"
    table = pa.table(
        {
            "x": pa.array([1.0, None, 3.0]),
            "k": pa.array([1, 2, None]),
            "ok": [True, False, True],
            "name": ["a", "b", "c"],
            "hits": [[1.0], [], [2.0, 3.0]],
        }
    )
    pq.write_table(table, path, row_group_size=2)
    read = read_columns(path, ["x", "k", "ok"])
    np.testing.assert_array_equal(read.values["x"], [1.0, np.nan, 3.0])
    np.testing.assert_array_equal(read.values["k"], [1.0, 2.0, np.nan])
    np.testing.assert_array_equal(read.values["ok"], [True, False, True])
    with pytest.raises(BranchTypeError, match="column 'name' holds strings"):
        read_columns(path, ["name"])
    with pytest.raises(RaggedBranchError, match="column 'hits'"):
        read_columns(path, ["hits"])
    with pytest.raises(BranchNotFoundError, match="Did you mean 'hits'"):
        read_columns(path, ["hit"])


def test_hdf5_group_of_datasets_and_compound_table(tmp_path, columns):
    path = tmp_path / "events.h5"
    structured = np.zeros(N, dtype=[("x", "f8"), ("n", "i4")])
    structured["x"], structured["n"] = columns["x"][:N], columns["n"][:N]
    with h5py.File(path, "w") as file:
        group = file.create_group("events")
        for name, values in columns.items():
            group[name] = values
        group["matrix"] = np.ones((2 * N, 3))
        group["label"] = np.array([b"e"] * (2 * N))
        group["short"] = np.ones(3)
        file["table"] = structured

    read = read_columns(path, ["x", "flag"], tree="events")
    np.testing.assert_array_equal(read.values["x"], columns["x"])
    assert read.values["flag"].dtype == bool
    table = read_columns(path, ["x", "n"], tree="table")
    np.testing.assert_array_equal(table.values["n"], columns["n"][:N])

    with pytest.raises(RaggedBranchError, match="'matrix'"):
        read_columns(path, ["matrix"], tree="events")
    with pytest.raises(BranchTypeError, match="'label' holds strings"):
        read_columns(path, ["label"], tree="events")
    with pytest.raises(ShapeMismatchError, match="different numbers of events"):
        read_columns(path, ["x", "short"], tree="events")
    with pytest.raises(TreeNotFoundError, match="Did you mean 'events'"):
        read_columns(path, ["x"], tree="evnts")
    with pytest.raises(NotATreeError, match="not a group"):
        read_columns(path, ["x"], tree="events/x")


def test_npz_arrays_are_columns(tmp_path, columns):
    path = tmp_path / "events.npz"
    np.savez(path, **columns, ragged=np.array([[1], [2, 3]], dtype=object))
    read = read_columns(path, ["x", "n"])
    np.testing.assert_array_equal(read.values["n"], columns["n"])
    with pytest.raises(BranchTypeError, match="Python objects"):
        read_columns(path, ["ragged"])
    np.savez(tmp_path / "matrix.npz", x=np.ones((4, 2)))
    with pytest.raises(RaggedBranchError, match="shape"):
        read_columns(tmp_path / "matrix.npz", ["x"])


# Samples from a config ----------------------------------------------------


def _toy_files(folder, file_format):
    rng = np.random.default_rng(3)
    n = 200
    gen = rng.normal(0.3, 2.5, size=n)
    reco = gen + rng.normal(-2.5, 0.2, size=n)
    simulation = {
        "x_gen": gen,
        "x_reco": np.where(reco > -6, reco, np.nan),
        "pass_reco": reco > -6,
        "weight": rng.uniform(0.5, 1.5, size=n),
        "y_gen": rng.normal(size=n),
    }
    data = {"x": rng.normal(-1.3, 3.0, size=n), "w": np.ones(n)}
    if file_format == "root":
        _write_root(folder / "sim.root", simulation, extra=False)
        _write_root(folder / "data.root", data, extra=False)
    else:
        pq.write_table(pa.table(simulation), folder / "sim.parquet")
        pq.write_table(pa.table(data), folder / "data.parquet")
    return simulation, data


def _config(folder, file_format, **simulation_changes):
    """The toy's config; ``simulation_changes`` set (or, as None, drop) keys."""
    ext = "root" if file_format == "root" else "parquet"
    text = f"""
[data]
files = "data.{ext}"
weight = "w"
pass_reco = "x > -8"
[data.reco]
x = "x"
[simulation]
files = "sim.{ext}"
weight = "weight"
pass_reco = "pass_reco"
pass_gen = "abs(x_gen) < 6"
[simulation.reco]
x = "x_reco"
[simulation.gen]
x = "x_gen"
y = "y_gen * 2"
[[observables]]
name = "x"
bins = [-6, 0, 6]
"""
    values = tomllib.loads(text)
    for key, value in simulation_changes.items():
        values["simulation"].pop(key)
        if value is not None:
            values["simulation"][key] = value
    return parse_config(values, base=folder)


@pytest.mark.parametrize("file_format", ["root", "parquet"])
def test_samples_from_a_config(tmp_path, file_format):
    simulation, data = _toy_files(tmp_path, file_format)
    config = _config(tmp_path, file_format)
    sample = read_simulation(config.simulation)
    np.testing.assert_array_equal(sample.gen[:, 0], simulation["x_gen"])
    np.testing.assert_allclose(sample.gen[:, 1], 2 * simulation["y_gen"])
    np.testing.assert_array_equal(sample.pass_reco, simulation["pass_reco"])
    np.testing.assert_array_equal(sample.pass_gen, np.abs(simulation["x_gen"]) < 6)
    np.testing.assert_array_equal(sample.sim_weights, simulation["weight"])
    assert np.isnan(sample.reco[~sample.pass_reco, 0]).all()

    measured = read_data(config.data)
    kept = data["x"] > -8
    np.testing.assert_array_equal(measured.data[:, 0], data["x"][kept])
    assert measured.n_events == kept.sum() < len(kept)


def test_nan_in_a_selected_event_names_file_row_and_key(tmp_path):
    _toy_files(tmp_path, "parquet")
    # Without the detector selection, the NaN reco of failing events is used.
    config = _config(tmp_path, "parquet", pass_reco=None)
    with pytest.raises(NonFiniteColumnError) as caught:
        read_simulation(config.simulation)
    message = str(caught.value)
    assert "sim.parquet" in message
    assert "branch 'x_reco'" in message
    assert "`simulation.reco.x`" in message
    assert "first at row" in message
    assert isinstance(caught.value, ValueError)


def test_selection_must_be_boolean(tmp_path):
    _toy_files(tmp_path, "parquet")
    config = _config(tmp_path, "parquet", pass_gen="weight")
    with pytest.raises(ConfigFileError, match="'weight != 0'") as caught:
        read_simulation(config.simulation)
    assert caught.value.key == "simulation.pass_gen"


def test_misspelt_branch_in_config_names_key_and_closest(tmp_path):
    _toy_files(tmp_path, "root")
    config = _config(tmp_path, "root", gen={"x": "x_gne"})
    with pytest.raises(BranchNotFoundError) as caught:
        read_simulation(config.simulation)
    assert "Did you mean 'x_gen'" in str(caught.value)
    assert "`simulation.gen.x`" in str(caught.value)
