"""The TOML config: parsing, defaults, and errors that name the key and the fix."""

from __future__ import annotations

import tomllib
from pathlib import Path

import numpy as np
import pytest

from bayesfold.config import (
    DEFAULT_ITERATIONS,
    EXAMPLE_CONFIG,
    load_config,
    parse_config,
)
from bayesfold.exceptions import (
    ConfigFileError,
    ExpressionError,
    UnknownConfigKeyError,
)
from bayesfold.io.expressions import parse_expression

MINIMAL = """
[data]
files = "data.parquet"
[data.reco]
x = "x"

[simulation]
files = ["sim.parquet"]
[simulation.reco]
x = "x_reco"
[simulation.gen]
x = "x_gen"

[[observables]]
name = "x"
bins = [-1, 0, 1]
"""


def _parse(text: str, base: Path | str = "/analysis"):
    return parse_config(tomllib.loads(text), base=base, origin="test.toml")


def _error(text: str, kind: type[Exception] = ConfigFileError) -> ConfigFileError:
    with pytest.raises(kind) as caught:
        _parse(text)
    error = caught.value
    assert isinstance(error, ConfigFileError)
    assert str(error).startswith("test.toml: ")
    return error


def test_example_config_parses_and_names_every_section():
    config = _parse(EXAMPLE_CONFIG)
    assert config.method.name == "point"
    assert list(config.simulation.gen) == ["x"]
    assert config.data.format == config.simulation.format == "root"
    (spec,) = config.observable_specs()
    assert spec.values == 0
    np.testing.assert_allclose(spec.edges, np.linspace(-10, 12, 23))


def test_minimal_config_gets_documented_defaults():
    config = _parse(MINIMAL)
    assert config.seed == 0
    assert config.method.name == "point"
    assert config.method.iterations == DEFAULT_ITERATIONS
    assert config.output.formats is None
    assert config.output.folder == Path("/analysis/bayesfold-output")
    assert config.output.plots == ("png", "pdf")
    assert not config.output.overwrite
    assert config.data.weight is None
    assert config.simulation.pass_gen is None


def test_paths_are_relative_to_the_config_folder(tmp_path):
    folder = tmp_path / "analysis"
    folder.mkdir()
    path = folder / "config.toml"
    path.write_text(MINIMAL + '[output]\nfolder = "results"\n')
    config = load_config(path)
    assert config.data.files == (folder / "data.parquet",)
    assert config.simulation.files == (folder / "sim.parquet",)
    assert config.output.folder == folder / "results"
    assert config.path == path


def test_as_dict_round_trips_through_parse():
    config = _parse(EXAMPLE_CONFIG)
    again = parse_config(config.as_dict(), base="/elsewhere")
    assert again.as_dict() == config.as_dict()


@pytest.mark.parametrize(
    ("text", "key", "suggestion"),
    [
        (MINIMAL + "[method]\niteratons = 3\n", "method.iteratons", "iterations"),
        ("sed = 1\n" + MINIMAL, "sed", "seed"),
        (
            MINIMAL.replace("files = [", "file = ["),
            "simulation.file",
            "files",
        ),
        (MINIMAL + "[output]\nfoldr = 'x'\n", "output.foldr", "folder"),
        (
            MINIMAL + "[method]\nreplica = 5\n",
            "method.replica",
            "replicas",
        ),
        (
            MINIMAL + "[method.classifier]\nmax_epoch = 5\n",
            "method.classifier.max_epoch",
            "max_epochs",
        ),
    ],
)
def test_unknown_keys_suggest_the_closest_valid_key(text, key, suggestion):
    error = _error(text, UnknownConfigKeyError)
    assert error.key == key
    assert f"`{key}`" in str(error)
    assert f"Did you mean {suggestion!r}?" in str(error)


def test_missing_section_names_it():
    error = _error(MINIMAL.split("[simulation]")[0])
    assert error.key == "simulation"
    assert "bayesfold config --example" in str(error)


@pytest.mark.parametrize(
    ("extra", "key", "words"),
    [
        ("[method]\niterations = 'four'\n", "method.iterations", "integer"),
        ("[method]\niterations = 0\n", "method.iterations", "at least 1"),
        ("[method]\nname = 'pointy'\n", "method.name", "Did you mean 'point'"),
        ("[method]\nname = 'ibu'\n", "method.name", "binned method"),
        ("[method]\nbootstrap = 'poison'\n", "method.bootstrap", "'poisson'"),
        ("[method]\nmax_logit = -1\n", "method.max_logit", "positive"),
        ("[output]\noverwrite = 'yes'\n", "output.overwrite", "true or false"),
        ("[output]\nplots = ['png', 'jpg']\n", "output.plots", "'jpg'"),
        ("[output]\nstyle = 'ATLSA'\n", "output.style", "'ATLAS'"),
    ],
)
def test_bad_values_name_the_key_and_the_rule(extra, key, words):
    error = _error(MINIMAL + extra)
    assert error.key == key
    assert words in str(error)


def test_seed_is_checked_and_a_misplaced_seed_is_explained():
    error = _error("seed = -3\n" + MINIMAL)
    assert error.key == "seed"
    assert "at least 0" in str(error)
    # TOML puts a key written after a section header into that section.
    error = _error(MINIMAL + "seed = 3\n")
    assert error.key == "observables[0].seed"
    assert "above the first [section]" in str(error)
    error = _error(MINIMAL.replace('x = "x_gen"', 'x = "x_gen"\nseed = 3'))
    assert error.key == "simulation.gen.seed"
    assert "above the first [section]" in str(error)


def test_observables_take_edges_or_a_range():
    config = _parse(
        MINIMAL.split("[[observables]]")[0]
        + """
[[observables]]
name = "x"
bins = [0, 1, 3]
[[observables]]
name = "x_fine"
feature = "x"
bins = {start = -1, stop = 1, count = 4}
label = "x [GeV]"
"""
    )
    first, second = config.observable_specs()
    np.testing.assert_array_equal(first.edges, [0, 1, 3])
    np.testing.assert_allclose(second.edges, [-1, -0.5, 0, 0.5, 1])
    assert second.values == 0
    assert (first.label, second.label) == ("x", "x [GeV]")


@pytest.mark.parametrize(
    ("observable", "key", "words"),
    [
        ("name = 'x'\nfeature = 'x_gne'\nbins = [0, 1]", "observables[0].feature", ""),
        ("name = 'x'\nbins = [1, 0]", "observables[0].bins", "increasing"),
        ("name = 'x'\nbins = [0]", "observables[0].bins", "at least two"),
        ("name = 'x/y'\nfeature = 'x'\nbins = [0, 1]", "observables[0].name", "files"),
        (
            "name = 'x'\nbins = {start = 1, stop = 0, count = 3}",
            "observables[0].bins.stop",
            "exceed",
        ),
    ],
)
def test_bad_observables_name_their_index(observable, key, words):
    error = _error(MINIMAL + "[[observables]]\n" + observable + "\n")
    key = key.replace("observables[0]", "observables[1]")
    assert error.key == key
    assert words in str(error)


def test_at_least_one_observable_and_unique_names():
    error = _error(MINIMAL.split("[[observables]]")[0])
    assert error.key == "observables"
    assert "[[observables]]" in str(error)
    error = _error(MINIMAL + "[[observables]]\nname = 'x'\nbins = [0, 1]\n")
    assert error.key == "observables[1].name"
    assert "repeats 'x'" in str(error)


def test_output_formats_are_the_writers_outputs():
    from bayesfold.io.writers import FORMATS

    config = _parse(MINIMAL + "[output]\nformats = ['posterior', 'summary']\n")
    assert config.output.formats == ("posterior", "summary")
    assert set(config.output.formats) <= set(FORMATS)
    error = _error(MINIMAL + "[output]\nformats = ['hepdat']\n")
    assert error.key == "output.formats"
    assert "Did you mean 'hepdata'?" in str(error)


def test_styles_are_the_plotting_styles():
    from bayesfold.config import STYLES
    from bayesfold.plotting import EXPERIMENT_STYLES

    assert set(STYLES) == {"default", *EXPERIMENT_STYLES}


def test_unknown_gen_feature_suggests_the_closest():
    error = _error(
        MINIMAL + "[[observables]]\nname = 'pt'\nfeature = 'xx'\nbins=[0,1]\n"
    )
    assert "Did you mean 'x'?" in str(error)


def test_data_and_simulation_need_the_same_reco_features():
    error = _error(MINIMAL.replace('[data.reco]\nx = "x"', '[data.reco]\ny = "y"'))
    assert error.key == "data.reco"
    assert "lacks x" in str(error)
    assert "has y in addition" in str(error)


def test_format_is_inferred_or_explicit():
    config = _parse(MINIMAL.replace("data.parquet", "data.h5"))
    assert config.data.format == "hdf5"
    error = _error(MINIMAL.replace("data.parquet", "data.txt"))
    assert error.key == "data.files"
    assert "`data.format`" in str(error)
    config = _parse(
        MINIMAL.replace('files = "data.parquet"', 'files = "d.txt"\nformat = "npz"')
    )
    assert config.data.format == "npz"


def test_tree_applies_to_root_only():
    error = _error(
        MINIMAL.replace('files = "data.parquet"', 'files = "d.h5"\ntree="t"')
    )
    assert error.key == "data.tree"
    assert "group" in str(error)


def test_selections_and_features_are_checked_expressions():
    config = _parse(
        MINIMAL.replace(
            '[simulation]\nfiles = ["sim.parquet"]',
            '[simulation]\nfiles = ["sim.parquet"]\npass_reco = "x_reco > -5 and ok"'
            '\nweight = "w1 * w2"',
        )
    )
    assert config.simulation.pass_reco is not None
    assert config.simulation.columns() == {
        "x_reco": "simulation.reco.x",
        "x_gen": "simulation.gen.x",
        "w1": "simulation.weight",
        "w2": "simulation.weight",
        "ok": "simulation.pass_reco",
    }
    error = _error(
        MINIMAL.replace(
            '[simulation]\nfiles = ["sim.parquet"]',
            '[simulation]\nfiles = ["sim.parquet"]\npass_gen = "__import__(\'os\')"',
        )
    )
    assert error.key == "simulation.pass_gen"
    assert "__import__" in str(error)


def test_classifier_settings_reach_the_classifier():
    config = _parse(
        MINIMAL + "[method]\nreplicas = 3\n[method.classifier]\nmax_epochs = 7\n"
    )
    options = config.method.unfold_options()
    assert options["replicas"] == 3
    assert options["classifier"].max_epochs == 7


def test_load_config_reports_a_missing_file_and_bad_toml(tmp_path):
    with pytest.raises(ConfigFileError, match="does not exist"):
        load_config(tmp_path / "nope.toml")
    bad = tmp_path / "bad.toml"
    bad.write_text("[data\n")
    with pytest.raises(ConfigFileError, match="not valid TOML"):
        load_config(bad)


# Column expressions -------------------------------------------------------


def test_expressions_match_numpy():
    rng = np.random.default_rng(5)
    columns = {name: rng.normal(size=50) for name in ("px", "py", "eta")}
    columns["ok"] = rng.random(50) > 0.3
    pt = parse_expression("sqrt(px**2 + py**2)").evaluate(columns)
    np.testing.assert_allclose(pt, np.hypot(columns["px"], columns["py"]))
    cut = parse_expression("-1 < eta <= 1 and not ok or abs(px) > 2").evaluate(columns)
    expected = ((columns["eta"] > -1) & (columns["eta"] <= 1) & ~columns["ok"]) | (
        np.abs(columns["px"]) > 2
    )
    np.testing.assert_array_equal(cut, expected)
    quoted = parse_expression("`Jet.PT` > 0").evaluate({"Jet.PT": columns["px"]})
    np.testing.assert_array_equal(quoted, columns["px"] > 0)


@pytest.mark.parametrize(
    "text",
    [
        "__import__('os').system('true')",
        "x.real",
        "x[0]",
        "(lambda: 1)()",
        "[a for a in x]",
        "open('f')",
        "'text'",
        "x if y else z",
        "x >",
        "",
    ],
)
def test_expressions_reject_everything_but_columns_and_arithmetic(text):
    with pytest.raises(ExpressionError):
        parse_expression(text)


def test_huge_integer_powers_overflow_instead_of_running_for_ever():
    value = parse_expression("9**9**9 > x").evaluate({"x": np.zeros(2)})
    np.testing.assert_array_equal(value, [True, True])
