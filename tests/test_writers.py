"""Result files: each opens with its own library; nothing partial, nothing clobbered."""

from __future__ import annotations

import json
import warnings

import hist
import numpy as np
import pyarrow.parquet as pq
import pytest
import uhi.io.json
import uproot
import xarray as xr
import yaml

from bayesfold import UnfoldingResult
from bayesfold.exceptions import (
    ConfigurationError,
    OutputExistsError,
    ShapeMismatchError,
)
from bayesfold.io import writers
from bayesfold.io.posterior import load_posterior
from bayesfold.io.spec import ObservableSpec
from bayesfold.io.writers import (
    FORMATS,
    output_paths,
    read_histograms,
    weight_columns,
    write_outputs,
    write_weights_parquet,
)
from bayesfold.methods import unfold
from bayesfold.toys import EfficiencyFakesToy

EDGES = np.linspace(-6.0, 8.0, 8)
OBSERVABLES = (
    ObservableSpec("x", 0, EDGES, label="x [GeV]"),
    ObservableSpec("x_squared", lambda gen: gen[:, 0] ** 2, [0.0, 1.0, 4.0, 9.0, 25.0]),
)
#: Every file written for all formats, and nothing else.
ALL_NAMES = sorted(
    [
        *("posterior.nc", "weights.parquet", "weights.root", "histograms.json"),
        *("summary.json", "hepdata", "hepdata.tar.gz"),
    ]
)


@pytest.fixture(scope="module")
def result():
    """A real bootstrap unfolding (3 draws) with efficiency, fakes and cuts."""
    toy = EfficiencyFakesToy()
    rng = np.random.default_rng(5)
    simulation = toy.simulate(300, rng)
    measured = toy.measure(300, rng)
    return unfold(
        simulation,
        measured.data,
        method="bootstrap",
        iterations=2,
        replicas=3,
        random_state=3,
        progress=False,
    )


@pytest.fixture(scope="module")
def written(result, tmp_path_factory):
    """Every output of ``result``, written once into a fresh nested folder."""
    out = tmp_path_factory.mktemp("outputs") / "run" / "1"
    return write_outputs(result, out, observables=OBSERVABLES, config={"seed": 3})


def _single_draw(result):
    return UnfoldingResult(
        simulation=result.simulation,
        sim_weights=result.sim_weights[:1],
        data_weights=result.data_weights[:1],
        pull_weights=result.pull_weights[:, :1],
        push_weights=result.push_weights[:, :1],
        diagnostics=[],
        method="single",
        seconds=0.0,
        random_state=0,
    )


def _names(folder):
    return sorted(path.name for path in folder.iterdir())


def _failing_observable(error):
    def values(gen):
        raise error

    return ObservableSpec("broken", values, EDGES)


def test_all_outputs_are_written_and_nothing_else(written):
    assert set(written) == {*FORMATS, "hepdata-archive"}
    assert _names(written["summary"].parent) == ALL_NAMES
    assert written == output_paths(written["summary"].parent)


def test_posterior_opens_with_xarray(result, written):
    with xr.open_datatree(written["posterior"]) as tree:
        assert tree["posterior"]["push_weights"].shape == result.push_weights.shape
        assert json.loads(tree.attrs["config"]) == {"seed": 3}
    loaded = load_posterior(written["posterior"])
    np.testing.assert_array_equal(loaded.weights(), result.weights())


def test_weight_columns_in_parquet_and_root_align_with_the_input_rows(result, written):
    parquet = pq.read_table(written["weights-parquet"])
    with uproot.open(written["weights-root"]) as file:
        tree = file["weights"]
        assert tree.classname == "TTree"
        root = tree.arrays(library="np")
    weights = result.weights()
    gen = result.simulation.gen[:, 0]
    expected = ["event", "weight_nominal", *(f"weight_draw_{d:03d}" for d in range(3))]

    for columns in (parquet.to_pydict(), root):
        assert list(columns) == expected
        event = np.asarray(columns["event"])
        np.testing.assert_array_equal(event, np.arange(len(gen)))
        for draw in range(3):
            column = np.asarray(columns[f"weight_draw_{draw:03d}"])
            np.testing.assert_array_equal(column, weights[draw])
            # Filling gen of the rows named by ``event`` reproduces the draw.
            filled = np.histogram(gen[event], EDGES, weights=column)[0]
            np.testing.assert_allclose(
                filled, result.histogram_draws(0, EDGES)[draw], rtol=1e-12
            )
        nominal = np.asarray(columns["weight_nominal"])
        np.testing.assert_allclose(nominal, weights.mean(axis=0), rtol=1e-12)
        assert np.all(nominal[~result.simulation.pass_gen] == 0.0)

    about = json.loads(parquet.schema.metadata[b"bayesfold"])
    assert about["draws"] == 3
    assert about["method"] == result.method


def test_histograms_read_back_with_uhi_and_hist(result, written):
    text = written["histograms"].read_text()
    stored = json.loads(text, object_hook=uhi.io.json.object_hook)
    mean = hist.Hist(stored["x"])
    reference = result.histogram(0, EDGES)
    np.testing.assert_allclose(mean.values(), reference.values(), rtol=1e-12)
    np.testing.assert_allclose(mean.variances(), reference.variances(), rtol=1e-12)
    assert mean.axes[0].name == "x"
    assert mean.axes[0].label == "x [GeV]"

    histograms = read_histograms(written["histograms"])
    draws = result.histogram_draws(OBSERVABLES[1].values, OBSERVABLES[1].edges)
    np.testing.assert_allclose(histograms["x_squared/draws"].values(), draws)
    assert sorted(histograms) == ["x", "x/draws", "x_squared", "x_squared/draws"]


def test_summary_holds_the_posterior_of_each_observable(result, written):
    summary = json.loads(written["summary"].read_text())
    assert summary["draws"] == 3
    assert summary["iteration"] == result.iterations - 1
    posterior = result.posterior(0, EDGES)
    x = summary["observables"]["x"]
    assert x["bin_edges"] == EDGES.tolist()
    for name in ("mean", "median", "std", "lower_68", "upper_68", "lower_95"):
        np.testing.assert_allclose(x[name], getattr(posterior, name), rtol=1e-12)
    np.testing.assert_allclose(x["covariance"], posterior.covariance, rtol=1e-12)


def test_hepdata_tables_pass_the_validator(result, written):
    with warnings.catch_warnings():
        warnings.filterwarnings("ignore", r"jsonschema\.", DeprecationWarning)
        warnings.filterwarnings("ignore", "unclosed file", ResourceWarning)
        # The validator unpacks the archive with shutil, which Python 3.12
        # warns will filter tar members by default from 3.14.
        warnings.filterwarnings("ignore", "Python 3.14", DeprecationWarning)
        from hepdata_validator.full_submission_validator import (
            FullSubmissionValidator,
        )

        for source in (
            {"directory": str(written["hepdata"])},
            {"archive": str(written["hepdata-archive"])},
        ):
            validator = FullSubmissionValidator()
            assert validator.validate(**source), validator.get_messages()

    table = yaml.safe_load((written["hepdata"] / "x.yaml").read_text())
    posterior = result.posterior(0, EDGES)
    (counts,) = table["dependent_variables"]
    values = [entry["value"] for entry in counts["values"]]
    np.testing.assert_allclose(values, posterior.mean, rtol=1e-4)
    filled = [entry for entry in counts["values"] if "errors" in entry]
    assert filled, "every bin lacks an interval"
    for entry in filled:
        (error,) = entry["errors"]
        assert error["label"] == "68% credible interval"
        assert error["asymerror"]["minus"] <= 0 <= error["asymerror"]["plus"]
    tables = ["x.yaml", "x_covariance.yaml", "x_squared.yaml"]
    tables += ["x_squared_covariance.yaml", "submission.yaml"]
    assert _names(written["hepdata"]) == sorted(tables)


def test_single_draw_nominal_is_the_draw(result, tmp_path):
    single = _single_draw(result)
    columns = weight_columns(single, identifiers={"run": np.full(300, 7)})
    assert list(columns) == ["event", "run", "weight_nominal", "weight_draw_000"]
    np.testing.assert_array_equal(columns["weight_nominal"], single.weights()[0])

    paths = write_outputs(
        single, tmp_path, observables=OBSERVABLES[:1], formats=["histograms"]
    )
    mean = read_histograms(paths["histograms"])["x"]
    weights = single.weights()[0]
    sumw2 = np.histogram(single.simulation.gen[:, 0], EDGES, weights=weights**2)[0]
    np.testing.assert_allclose(mean.variances(), sumw2, rtol=1e-12)


def test_existing_output_refuses_the_whole_call_and_stays(result, tmp_path):
    (tmp_path / "summary.json").write_text("old")
    with pytest.raises(OutputExistsError, match=r"summary\.json.*--overwrite"):
        write_outputs(result, tmp_path, observables=OBSERVABLES)
    assert _names(tmp_path) == ["summary.json"]
    assert (tmp_path / "summary.json").read_text() == "old"


@pytest.mark.parametrize(
    "error", [KeyboardInterrupt(), FileNotFoundError(2, "No such file", "gen.npy")]
)
def test_failure_mid_way_leaves_no_new_file(result, tmp_path, error):
    out = tmp_path / "new" / "folder"
    formats = ["posterior", "weights-root", "histograms"]
    observables = [OBSERVABLES[0], _failing_observable(error)]
    with pytest.raises(type(error)):
        write_outputs(result, out, observables=observables, formats=formats)
    assert _names(tmp_path) == []


def test_failure_with_overwrite_keeps_the_old_outputs(result, tmp_path):
    (tmp_path / "weights.root").write_text("old weights")
    (tmp_path / "notes.txt").write_text("mine")
    observables = [_failing_observable(KeyboardInterrupt())]
    with pytest.raises(KeyboardInterrupt):
        write_outputs(
            result,
            tmp_path,
            observables=observables,
            formats=["weights-root", "summary"],
            overwrite=True,
        )
    assert _names(tmp_path) == ["notes.txt", "weights.root"]
    assert (tmp_path / "weights.root").read_text() == "old weights"

    write_outputs(
        result,
        tmp_path,
        observables=OBSERVABLES,
        overwrite=True,
        formats=["weights-root", "summary"],
    )
    assert _names(tmp_path) == ["notes.txt", "summary.json", "weights.root"]
    with uproot.open(tmp_path / "weights.root") as file:
        assert file["weights"].num_entries == result.simulation.n_events


def test_bad_requests_are_refused_before_writing(result, tmp_path):
    with pytest.raises(ConfigurationError, match="Did you mean 'weights-parquet'"):
        write_outputs(result, tmp_path, observables=(), formats=["weights-parket"])
    with pytest.raises(ConfigurationError, match="at least one observable"):
        write_outputs(result, tmp_path, observables=(), formats=["summary"])
    with pytest.raises(ConfigurationError, match="out of range"):
        write_outputs(result, tmp_path, observables=OBSERVABLES, iteration=5)
    twice = [OBSERVABLES[0], ObservableSpec("X", 0, EDGES)]
    with pytest.raises(ConfigurationError, match="differ"):
        write_outputs(result, tmp_path, observables=twice, formats=["summary"])
    with pytest.raises(ShapeMismatchError, match="one number per simulated event"):
        write_weights_parquet(
            result, tmp_path / "w.parquet", identifiers={"run": np.arange(3)}
        )
    assert _names(tmp_path) == []


def test_weights_alone_need_no_observables(result, tmp_path):
    paths = write_outputs(result, tmp_path, observables=(), formats=["weights-parquet"])
    assert list(paths) == ["weights-parquet"]
    assert pq.read_table(paths["weights-parquet"]).num_rows == 300


def test_root_tree_written_in_several_baskets_reads_back_whole(
    result, tmp_path, monkeypatch
):
    monkeypatch.setattr(writers, "ROOT_BASKET_EVENTS", 64)
    path = writers.write_weights_root(result, tmp_path / "weights.root")
    with uproot.open(path) as file:
        tree = file["weights"]
        assert tree.classname == "TTree"
        assert tree["weight_nominal"].num_baskets == 5
        columns = tree.arrays(library="np")
    for name, column in weight_columns(result).items():
        np.testing.assert_array_equal(columns[name], column)
