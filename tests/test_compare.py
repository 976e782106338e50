"""Every method on the same events: `compare`, `stress` and their commands.

Small samples keep the file fast: a few hundred events, two iterations, few
draws. Thresholds come from the statistics of the quantity tested, stated where
they are used.
"""

from __future__ import annotations

import json
import shutil
import subprocess
import sys

import numpy as np
import pytest
from click.testing import CliRunner
from matplotlib.patches import StepPatch

from bayesfold.cli import main
from bayesfold.exceptions import ConfigurationError, ShapeMismatchError
from bayesfold.metrics import chi2, triangular_discriminator
from bayesfold.plotting import Band, plot_compare, save_figure
from bayesfold.studies import (
    BumpShape,
    CompareResult,
    LinearShape,
    compare,
    stress,
)
from bayesfold.toys import ShiftedGaussianToy

#: Five 3-unit bins over the shifted-Gaussian truth; few enough bins that eight
#: draws give a covariance of full rank.
BINS = [-6.0, -3.0, 0.0, 3.0, 6.0, 9.0]
FAST_METHODS = ["point", "bootstrap", "ibu", "fbu"]
#: FBU's default 500 draws per chain leave R-hat near 1.01 on 300 events; the
#: longer chains converge clearly.
FBU_OPTIONS = {"fbu": {"draws": 1000, "tune": 1000}}
PER_METHOD_KEYS = {
    "triangular_vs_truth",
    "chi2_vs_truth",
    "ndf",
    "mean_interval_width",
    "seconds",
}
#: A correct answer lies this many standard errors from its expectation with
#: probability ~3e-3.
Z_MAX = 3.0


def _bayesfold() -> list[str]:
    script = shutil.which("bayesfold")
    return [script] if script else [sys.executable, "-m", "bayesfold.cli"]


@pytest.fixture(scope="module")
def compared() -> CompareResult:
    return compare(
        ShiftedGaussianToy(),
        bins=BINS,
        methods=FAST_METHODS,
        events=300,
        iterations=2,
        replicas=8,
        method_options=FBU_OPTIONS,
        random_state=1,
        progress=False,
    )


# --- compare -------------------------------------------------------------------


def test_compare_measures_every_method_against_the_analytic_truth(compared):
    report = json.loads(json.dumps(compared.as_dict(), allow_nan=False))

    assert list(report["methods"]) == FAST_METHODS
    np.testing.assert_allclose(
        report["truth"], ShiftedGaussianToy().expected_truth(BINS, 300)
    )
    for name, method in report["methods"].items():
        assert not PER_METHOD_KEYS - method.keys(), name
        assert method["ndf"] == len(BINS) - 1
        assert method["seconds"] > 0
        assert 0 <= method["triangular_vs_truth"] <= 1
        expected = triangular_discriminator(method["mean"], report["truth"])
        assert method["triangular_vs_truth"] == pytest.approx(expected)


def test_compare_gives_one_draw_methods_no_interval_and_a_poisson_chi2(compared):
    point = compared.methods["point"]
    assert point.draws == 1
    assert np.isnan(point.mean_interval_width)
    assert compared.as_dict()["methods"]["point"]["mean_interval_width"] is None
    assert point.chi2_covariance == "poisson"
    # Pearson's chi2: the truth's Poisson variance on the diagonal.
    assert point.chi2_vs_truth == pytest.approx(chi2(point.mean, compared.truth).chi2)

    for name in ("bootstrap", "ibu", "fbu"):
        method = compared.methods[name]
        assert method.draws == 8
        assert method.chi2_covariance == "draws"
        assert np.all(method.upper_68 >= method.lower_68)
        assert method.mean_interval_width > 0


def test_each_method_sees_the_same_events_whatever_else_is_compared(compared):
    alone = compare(
        ShiftedGaussianToy(),
        bins=BINS,
        methods=["ibu"],
        events=300,
        iterations=2,
        replicas=8,
        random_state=1,
        progress=False,
    )
    np.testing.assert_array_equal(
        alone.methods["ibu"].mean, compared.methods["ibu"].mean
    )
    np.testing.assert_array_equal(alone.prior, compared.prior)
    assert alone.n_data == compared.n_data == 300


def test_ibu_with_many_events_is_close_to_the_truth():
    result = compare(
        ShiftedGaussianToy(),
        bins=[-2.0, 0.0, 2.0, 4.0, 6.0, 8.0],
        methods=["ibu"],
        events=20_000,
        iterations=4,
        replicas=50,
        random_state=2,
        progress=False,
    )
    ibu = result.methods["ibu"]
    # For small deviations the discriminator is about sum(var_i / t_i) / (4 N):
    # its expectation from IBU's own variances. Five times it bounds a chi2
    # with five degrees of freedom with probability ~1e-4 of failing; IBU's
    # model dependence (the response binned from the prior) adds less here.
    n = ibu.mean.sum()
    statistical = np.sum(np.diag(ibu.covariance) / (4 * n * result.truth))
    assert ibu.triangular_vs_truth < 5 * statistical
    assert (
        ibu.triangular_vs_truth
        < triangular_discriminator(result.prior, result.truth) / 50
    )


def test_compare_rejects_unknown_or_repeated_methods():
    with pytest.raises(ConfigurationError, match="magic"):
        compare(ShiftedGaussianToy(), bins=BINS, methods=["ibu", "magic"])
    with pytest.raises(ConfigurationError, match="each method once"):
        compare(ShiftedGaussianToy(), bins=BINS, methods=["ibu", "ibu"])
    with pytest.raises(ConfigurationError, match="not compared"):
        compare(
            ShiftedGaussianToy(),
            bins=BINS,
            methods=["ibu"],
            method_options={"fbu": {"draws": 10}},
        )


# --- stress --------------------------------------------------------------------


def test_stress_with_strength_zero_has_nothing_to_recover():
    result = stress(
        ShiftedGaussianToy(),
        shape="bump",
        strength=0.0,
        bins=BINS,
        methods=["ibu"],
        events=2000,
        iterations=2,
        replicas=20,
        random_state=3,
        progress=False,
    )
    np.testing.assert_allclose(
        result.comparison.truth, result.unweighted_truth, rtol=1e-9
    )
    assert np.isnan(result.recovered_fraction["ibu"])
    report = json.loads(json.dumps(result.as_dict(), allow_nan=False))
    assert report["methods"]["ibu"]["recovered_fraction"] is None
    assert report["shape"] == "bump"
    assert report["weight"] == {"strength": 0.0, "center": 1.5, "width": 15 / 8}


def test_ibu_recovers_a_strong_linear_shape_through_a_sharp_detector():
    # A detector that barely smears (0.05 against 2-unit bins) makes the
    # binned response nearly independent of the shape inside each bin, so
    # IBU owes the whole injected shape: f = 1 within its error. (With the
    # default 2.5-unit shift at 0.2 resolution, the response depends on the
    # prior's slope inside the bins, and IBU overshoots to f ~ 1.1.)
    toy = ShiftedGaussianToy(smear_mean=0.0, smear_sigma=0.05)
    result = stress(
        toy,
        shape="linear",
        strength=0.8,
        bins=[-6.0, -4.0, -2.0, 0.0, 2.0, 4.0, 6.0, 8.0],
        methods=["ibu"],
        events=20_000,
        iterations=4,
        replicas=50,
        random_state=4,
        progress=False,
    )
    fraction = result.recovered_fraction["ibu"]
    error = result.recovered_fraction_error["ibu"]
    assert 0 < error < 0.05
    assert abs(fraction - 1.0) < Z_MAX * error
    # The shape is really there: nothing recovered is many errors away.
    assert fraction > 10 * error
    # The weight rises from 0.2 to 1.8 across the bins: the last bin's share of
    # the truth grows, the first one's shrinks.
    reweighted = result.comparison.truth / result.comparison.truth.sum()
    unweighted = result.unweighted_truth / result.unweighted_truth.sum()
    assert reweighted[-1] > 1.5 * unweighted[-1]
    assert reweighted[0] < 0.5 * unweighted[0]


def test_stress_shapes_are_checked():
    with pytest.raises(ConfigurationError, match=r"\[-1, 1\]"):
        LinearShape(1.5, -1.0, 1.0)
    with pytest.raises(ConfigurationError, match=">= -1"):
        BumpShape(-2.0, 0.0, 1.0)
    with pytest.raises(ConfigurationError, match="shape must be one of"):
        stress(ShiftedGaussianToy(), shape="wave", strength=0.1, bins=BINS)  # type: ignore[arg-type]
    with pytest.raises(ConfigurationError, match="finite"):
        stress(
            ShiftedGaussianToy(),
            shape="linear",
            strength=0.1,
            bins=[-np.inf, 0.0, np.inf],
        )
    linear = LinearShape(0.5, -2.0, 2.0)
    np.testing.assert_allclose(
        linear(np.array([-5.0, -2.0, 0.0, 2.0, 5.0])), [0.5, 0.5, 1.0, 1.5, 1.5]
    )
    assert linear.maximum == 1.5
    bump = BumpShape(-0.5, 1.0, 2.0)
    assert bump(np.array([1.0]))[0] == pytest.approx(0.5)
    assert bump.maximum == 1.0


# --- the figure ----------------------------------------------------------------


def test_plot_compare_draws_every_method_and_its_ratio(compared, tmp_path):
    bands = {
        name: Band(m.lower_68, m.upper_68, "68 %")
        for name, m in compared.methods.items()
        if m.draws > 1
    }
    figure = plot_compare(
        compared.bins,
        truth=compared.truth,
        unfolded={name: m.mean for name, m in compared.methods.items()},
        bands=bands,
        references={"prior": compared.prior},
    )

    main_axes, ratio = figure.axes
    labels = main_axes.get_legend_handles_labels()[1]
    assert labels == ["truth", "prior", *FAST_METHODS]
    assert ratio.get_ylabel() == "ratio to truth"
    # One filled band per method with draws in each panel.
    filled = [p for p in ratio.patches if isinstance(p, StepPatch) and p.get_fill()]
    assert len(filled) == len(bands)
    paths = save_figure(figure, tmp_path / "compare", ("png",))
    assert paths[0].stat().st_size > 10_000


def test_plot_compare_checks_its_inputs():
    edges = np.array([0.0, 1.0, 2.0])
    truth = np.array([1.0, 2.0])
    with pytest.raises(ShapeMismatchError, match="ibu"):
        plot_compare(edges, truth=truth, unfolded={"ibu": np.ones(3)})
    with pytest.raises(ConfigurationError, match="name each band"):
        plot_compare(
            edges,
            truth=truth,
            unfolded={"ibu": truth},
            bands={"fbu": Band(truth, truth, "x")},
        )
    with pytest.raises(ConfigurationError, match="1 to"):
        plot_compare(edges, truth=truth, unfolded={})


# --- the commands, as installed ------------------------------------------------


def test_compare_command_writes_json_and_plot_and_refuses_to_overwrite(tmp_path):
    out = tmp_path / "compare"
    arguments = [
        "compare",
        "--methods",
        "point,ibu",
        "--events",
        "300",
        "--iterations",
        "2",
        "--replicas",
        "8",
        "--bins",
        ",".join(map(str, BINS)),
        "--out",
        str(out),
    ]
    completed = subprocess.run(
        [*_bayesfold(), "-q", *arguments], capture_output=True, text=True, check=True
    )
    assert "ibu: 10^3 x triangular" in completed.stdout
    report = json.loads((out / "compare.json").read_text())
    assert report["settings"]["methods"] == ["point", "ibu"]
    for name in ("point", "ibu"):
        assert not PER_METHOD_KEYS - report["methods"][name].keys()
    assert report["methods"]["point"]["mean_interval_width"] is None
    assert report["methods"]["ibu"]["mean_interval_width"] > 0
    for suffix in ("png", "pdf"):
        assert (out / f"compare.{suffix}").stat().st_size > 5_000
    before = (out / "compare.json").read_text()

    refused = CliRunner().invoke(main, ["-q", *arguments])
    assert refused.exit_code == 1
    assert "--overwrite" in refused.output
    assert (out / "compare.json").read_text() == before
    assert not list(out.glob(".*.part"))


def test_stress_command_reports_the_recovered_fraction(tmp_path):
    out = tmp_path / "stress"
    completed = subprocess.run(
        [
            *_bayesfold(),
            "-q",
            "stress",
            "--shape",
            "linear",
            "--strength",
            "0.8",
            "--methods",
            "ibu",
            "--events",
            "2000",
            "--iterations",
            "2",
            "--replicas",
            "20",
            "--out",
            str(out),
        ],
        capture_output=True,
        text=True,
        check=True,
    )
    assert "recovered" in completed.stdout
    report = json.loads((out / "stress.json").read_text())
    assert report["settings"]["shape"] == "linear"
    assert report["weight"] == {"strength": 0.8, "low": -6.0, "high": 8.0}
    ibu = report["methods"]["ibu"]
    assert not PER_METHOD_KEYS - ibu.keys()
    assert ibu["recovered_fraction_error"] > 0
    assert (out / "stress.png").stat().st_size > 5_000


@pytest.mark.slow
def test_compare_command_runs_the_bayesian_method(tmp_path):
    out = tmp_path / "compare"
    subprocess.run(
        [
            *_bayesfold(),
            "-q",
            "compare",
            "--methods",
            "bayesian,ibu",
            "--events",
            "300",
            "--iterations",
            "2",
            "--replicas",
            "2",
            "--bins",
            ",".join(map(str, BINS)),
            "--out",
            str(out),
        ],
        capture_output=True,
        text=True,
        check=True,
    )
    bayesian = json.loads((out / "compare.json").read_text())["methods"]["bayesian"]
    assert not PER_METHOD_KEYS - bayesian.keys()
    # Two replicas with the method's ten last-step draws each.
    assert bayesian["draws"] == 20
    assert bayesian["chi2_covariance"] == "draws"
    assert bayesian["mean_interval_width"] > 0
    assert 0 <= bayesian["triangular_vs_truth"] < 1
