"""Figures: the artists they hold come from the result, files land atomically.

Every figure is drawn from a real unfolding (point OmniFold with a Poisson
bootstrap on a few hundred events of the shifted-Gaussian toy), and its
artists are compared with the numbers of the result they show.
"""

from __future__ import annotations

import dataclasses
import subprocess
import sys
from typing import Any

import matplotlib as mpl
import matplotlib.pyplot as plt
import numpy as np
import pytest
from matplotlib.collections import QuadMesh
from matplotlib.patches import StepPatch

from bayesfold.classifiers.bayesian import BayesianMLPClassifier
from bayesfold.diagnostics import iteration_distances
from bayesfold.exceptions import (
    ConfigurationError,
    DiagnosticsUnavailableError,
    OutputExistsError,
    ShapeMismatchError,
)
from bayesfold.methods import unfold
from bayesfold.omnifold import omnifold
from bayesfold.plotting import (
    Band,
    experiment_style,
    plot_convergence,
    plot_correlation,
    plot_elbo_traces,
    plot_reliability,
    plot_unfolded,
    plot_weight_distributions,
    save_figure,
)
from bayesfold.toys import ShiftedGaussianToy

# No display: figures render off screen (switching works after import).
mpl.use("Agg")

BINS = np.linspace(-8.0, 10.0, 7)


@pytest.fixture(scope="module")
def result():
    toy = ShiftedGaussianToy()
    rng = np.random.default_rng(31)
    simulation = toy.simulate(400, rng)
    measured = toy.measure(300, rng)
    return unfold(
        simulation,
        measured.data,
        method="point",
        iterations=2,
        replicas=2,
        bootstrap="poisson",
        random_state=4,
        progress=False,
    )


def _legend_texts(axes):
    return [text.get_text() for text in axes.get_legend().get_texts()]


def test_import_bayesfold_loads_no_matplotlib():
    code = (
        "import sys, bayesfold, bayesfold.diagnostics; "
        "assert 'matplotlib' not in sys.modules, 'matplotlib was imported'"
    )
    subprocess.run([sys.executable, "-c", code], check=True)


# --- styles -------------------------------------------------------------------


@pytest.mark.parametrize("style", ["CMS", "ATLAS", "LHCb", "ALICE"])
def test_a_style_applies_while_drawing_and_leaves_rcparams_alone(result, style):
    before = dict(mpl.rcParams)
    plain = plot_convergence(result, 0, BINS)
    styled = plot_convergence(result, 0, BINS, style=style)

    assert dict(mpl.rcParams) == before
    plain_size = plain.axes[0].xaxis.label.get_fontsize()
    assert styled.axes[0].xaxis.label.get_fontsize() != plain_size


def test_a_failing_block_still_restores_the_style():
    before = dict(mpl.rcParams)
    with pytest.raises(RuntimeError), experiment_style("CMS"):
        raise RuntimeError("drawing failed")
    assert dict(mpl.rcParams) == before


def test_an_unknown_style_names_the_valid_ones():
    unknown: Any = "D0"
    with pytest.raises(ConfigurationError, match="'CMS'"), experiment_style(unknown):
        pass


def test_figures_are_not_held_by_pyplot(result):
    before = plt.get_fignums()
    plot_convergence(result, 0, BINS)
    assert plt.get_fignums() == before


# --- unfolded distributions and correlations -----------------------------------


def test_plot_unfolded_draws_main_and_ratio_panels_in_a_style():
    edges = np.array([0.0, 1.0, 2.0, 3.0])
    unfolded, prior = np.array([4.0, 6.0, 2.0]), np.array([5.0, 5.0, 2.0])
    band = Band(unfolded - 1.0, unfolded + 1.0, "68 % interval")

    figure = plot_unfolded(
        edges,
        unfolded=unfolded,
        prior=prior,
        data=np.array([3.0, 7.0, 2.0]),
        bands=(band,),
        style="ATLAS",
    )

    main, ratio = figure.axes
    assert _legend_texts(main) == [
        "68 % interval",
        "prior",
        "unfolded",
        "data (detector level)",
    ]
    assert ratio.get_ylabel() == "ratio to prior"


def test_plot_correlation_of_a_summary(result):
    summary = result.posterior(0, BINS)
    figure = plot_correlation(summary, xlabel="x")

    heat_map, colour_bar = figure.axes
    (mesh,) = [c for c in heat_map.collections if isinstance(c, QuadMesh)]
    np.testing.assert_array_equal(
        np.ma.filled(mesh.get_array(), np.nan).ravel(), summary.correlation.ravel()
    )
    assert mesh.get_clim() == (-1.0, 1.0)
    assert colour_bar.get_ylabel() == "correlation"
    # Six bins: each defined cell has its value written in.
    n_defined = int(np.isfinite(summary.correlation).sum())
    assert len(heat_map.texts) == n_defined
    assert heat_map.get_xlabel() == heat_map.get_ylabel() == "x"


def test_plot_correlation_of_a_matrix_needs_matching_edges():
    matrix = np.array([[1.0, -0.5], [-0.5, 1.0]])
    figure = plot_correlation(matrix, [0.0, 1.0, 3.0])
    assert len(figure.axes) == 2

    with pytest.raises(ConfigurationError, match="edges"):
        plot_correlation(matrix)
    with pytest.raises(ShapeMismatchError, match=r"\(3, 3\)"):
        plot_correlation(matrix, [0.0, 1.0, 2.0, 3.0])


# --- weights and convergence ---------------------------------------------------


def test_plot_weight_distributions_shows_counts_and_effective_size(result):
    figure = plot_weight_distributions(result)

    (axes,) = figure.axes
    assert axes.get_xscale() == axes.get_yscale() == "log"
    band, mean = (p for p in axes.patches if isinstance(p, StepPatch))
    # Every event of the fiducial selection falls in a bin, in every draw.
    n_events = int(result.simulation.pass_gen.sum())
    assert mean.get_data().values.sum() == pytest.approx(n_events)
    assert band.get_data().baseline is not None
    ess = result.effective_size()
    label = _legend_texts(axes)[-1]
    assert f"Kish ESS {ess.mean():.0f}" in label
    assert f"of {n_events}" in label


def test_plot_weight_distributions_of_pull_weights_and_bad_options(result):
    figure = plot_weight_distributions(result, 0, weights="pull")
    assert "pull weight" in figure.axes[0].get_xlabel()
    assert "iteration 1" in figure.axes[0].get_xlabel()

    with pytest.raises(ConfigurationError, match="2 iterations"):
        plot_weight_distributions(result, 2)
    with pytest.raises(ConfigurationError, match="'push' or 'pull'"):
        plot_weight_distributions(result, weights="nu")  # type: ignore[arg-type]


@pytest.mark.parametrize(("distance", "scale"), [("triangular", 1000.0), ("chi2", 1.0)])
def test_plot_convergence_shows_each_iteration_and_its_change(result, distance, scale):
    figure = plot_convergence(result, 0, BINS, distance=distance)

    top, bottom = figure.axes
    assert _legend_texts(top) == ["prior", "iteration 1", "iteration 2"]
    last = [p for p in top.patches if isinstance(p, StepPatch)][-1]
    np.testing.assert_allclose(
        last.get_data().values, result.histogram(0, BINS, iteration=1).values()
    )
    line = bottom.get_lines()[0]  # drawn first; chi2 adds a line at 1
    expected = scale * iteration_distances(result, 0, BINS, distance=distance)
    np.testing.assert_allclose(line.get_ydata(), expected)


# --- classifiers ---------------------------------------------------------------


def test_plot_elbo_traces_of_the_point_mlp_draws_its_losses(result):
    figure = plot_elbo_traces(result, replica=1)

    steps = sorted({d.step for d in result.diagnostics})
    assert len(figure.axes) == len(steps)
    first = figure.axes[0]
    assert first.get_ylabel() == "weighted loss"
    # Two curves (loss, val_loss) per iteration and fold.
    assert len(first.get_lines()) == 2 * result.iterations
    history = result.diagnostics[0].history[0]
    np.testing.assert_array_equal(
        first.get_lines()[0].get_ydata(), history["loss"][:, 1]
    )
    assert "validation" in _legend_texts(first)


@pytest.mark.filterwarnings("ignore::bayesfold.exceptions.ConvergenceWarning")
def test_plot_elbo_traces_of_the_bayesian_mlp_draws_its_elbo():
    toy = ShiftedGaussianToy()
    rng = np.random.default_rng(8)
    classifier = BayesianMLPClassifier((4,), max_steps=200, check_every=100)
    bayesian = omnifold(
        toy.simulate(200, rng),
        toy.measure(200, rng).data,
        iterations=1,
        replicas=2,
        classifier=classifier,
        random_state=2,
        progress=False,
    )

    figure = plot_elbo_traces(bayesian)

    assert [axes.get_ylabel() for axes in figure.axes] == ["ELBO", "ELBO"]
    (line,) = figure.axes[0].get_lines()
    elbo = bayesian.diagnostics[0].history[0]["elbo"][:, 0]
    np.testing.assert_array_equal(line.get_ydata(), elbo)


def test_plot_elbo_traces_without_curves_says_why(result):
    no_curves = dataclasses.replace(
        result,
        diagnostics=[
            dataclasses.replace(record, history=[{}]) for record in result.diagnostics
        ],
    )
    with pytest.raises(DiagnosticsUnavailableError, match="NUTS"):
        plot_elbo_traces(no_curves)
    with pytest.raises(ConfigurationError, match="replica"):
        plot_elbo_traces(result, replica=2)


def test_plot_reliability_shows_each_recorded_curve(result):
    figure = plot_reliability(result)

    steps = list(dict.fromkeys(d.step for d in result.diagnostics))
    assert len(figure.axes) == 2 * len(steps)
    curves, residuals = figure.axes[0], figure.axes[len(steps)]
    step1 = [d for d in result.diagnostics if d.step == "step1"]
    labels = _legend_texts(curves)
    for record in step1:
        ece = record.calibration.expected_calibration_error
        assert f"iteration {record.iteration + 1}, ECE {ece:.3f}" in labels

    first = step1[0].calibration
    filled = first.weight > 0
    points = curves.containers[0].lines[0]
    np.testing.assert_allclose(points.get_xdata(), first.predicted[filled])
    np.testing.assert_allclose(points.get_ydata(), first.observed[filled])
    shown = residuals.containers[0].lines[0].get_ydata()
    np.testing.assert_allclose(shown, (first.observed - first.predicted)[filled])


def test_plot_reliability_without_curves_says_why(result):
    no_curves = dataclasses.replace(
        result,
        diagnostics=[
            dataclasses.replace(record, calibration=None)
            for record in result.diagnostics
        ],
    )
    with pytest.raises(DiagnosticsUnavailableError, match="calibration"):
        plot_reliability(no_curves)


# --- saving --------------------------------------------------------------------


@pytest.fixture
def small_figure():
    return plot_correlation(np.eye(2), [0.0, 1.0, 2.0])


def test_save_figure_writes_every_format_and_nothing_else(tmp_path, small_figure):
    written = save_figure(small_figure, tmp_path / "plots" / "correlation")

    assert written == [
        tmp_path / "plots" / "correlation.png",
        tmp_path / "plots" / "correlation.pdf",
    ]
    assert written[0].read_bytes().startswith(b"\x89PNG")
    assert written[1].read_bytes().startswith(b"%PDF")
    assert sorted(p.name for p in (tmp_path / "plots").iterdir()) == [
        "correlation.pdf",
        "correlation.png",
    ]


def test_save_figure_refuses_to_overwrite_unless_asked(tmp_path, small_figure):
    (png,) = save_figure(small_figure, tmp_path / "f", formats=("png",))
    original = png.read_bytes()
    other = plot_correlation(-np.eye(2) + 0.5, [0.0, 1.0, 2.0])

    with pytest.raises(OutputExistsError):
        save_figure(other, tmp_path / "f", formats=("svg", "png"))
    assert png.read_bytes() == original
    assert not (tmp_path / "f.svg").exists()

    save_figure(other, tmp_path / "f", formats=("png",), overwrite=True)
    assert png.read_bytes() != original


@pytest.mark.parametrize(
    ("name", "formats", "match"),
    [
        ("figure.png", ("png",), "without its suffix"),
        ("figure", ("png", "docx"), "docx"),
        ("figure", (), "non-empty"),
        ("figure", "png", "non-empty"),
    ],
)
def test_save_figure_rejects_bad_paths_and_formats(
    tmp_path, small_figure, name, formats, match
):
    with pytest.raises(ConfigurationError, match=match):
        save_figure(small_figure, tmp_path / name, formats=formats)
    assert list(tmp_path.iterdir()) == []
