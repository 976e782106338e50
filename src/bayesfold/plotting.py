"""Figures of an unfolding and its diagnostics, with matplotlib and mplhep.

Every plot function draws a new :class:`~matplotlib.figure.Figure` and returns
it; none shows it, and none leaves pyplot holding it (figures are made without
pyplot, so they are freed with their last reference). :func:`save_figure`
writes a figure to disk, each format atomically.

``style`` selects an experiment's look from mplhep (``"CMS"``, ``"ATLAS"``,
``"LHCb"``, ``"ALICE"``), or matplotlib's current settings with ``None``. It
applies only while the figure is drawn (:func:`experiment_style`): the global
``rcParams`` are left as they were. Figure sizes follow the style's default
size, so that its font sizes keep their proportions.

Figures:

- :func:`plot_unfolded`: unfolded, prior, truth and data with bands and a ratio;
- :func:`plot_compare`: several methods' unfolded histograms with their bands,
  against the truth, with a ratio panel;
- :func:`plot_correlation`: the bin-to-bin correlation matrix of the draws;
- :func:`plot_weight_distributions`: the per-event weights and their spread;
- :func:`plot_convergence`: the unfolded histogram against iteration;
- :func:`plot_elbo_traces`: the classifiers' training curves per step;
- :func:`plot_reliability`: the classifiers' calibration per step.
"""

from __future__ import annotations

import os
from collections.abc import Iterator, Mapping, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any, Literal

import matplotlib as mpl
import mplhep
import numpy as np
from matplotlib.axes import Axes
from matplotlib.figure import Figure
from matplotlib.lines import Line2D
from matplotlib.style import context as style_context
from matplotlib.typing import LineStyleType
from numpy.typing import ArrayLike, NDArray

from bayesfold.diagnostics import iteration_distances
from bayesfold.exceptions import (
    ConfigurationError,
    DiagnosticsUnavailableError,
    ShapeMismatchError,
)
from bayesfold.io.atomic import atomic_paths
from bayesfold.result import PosteriorSummary, bin_edges
from bayesfold.samples import kish_effective_size

if TYPE_CHECKING:
    from bayesfold.diagnostics import Distance
    from bayesfold.result import Observable, StepDiagnostics, UnfoldingResult

__all__ = [
    "EXPERIMENT_STYLES",
    "Band",
    "experiment_style",
    "plot_compare",
    "plot_convergence",
    "plot_correlation",
    "plot_elbo_traces",
    "plot_reliability",
    "plot_unfolded",
    "plot_weight_distributions",
    "save_figure",
]

#: Experiment styles of mplhep that ``style=`` accepts.
EXPERIMENT_STYLES = ("CMS", "ATLAS", "LHCb", "ALICE")

#: Colours for the fixed roles of an unfolding plot (colour-blind safe pairs).
COLORS = {
    "data": "black",
    "prior": "#7f7f7f",
    "truth": "#2ca02c",
    "unfolded": "#1f77b4",
}

#: Colours of the methods in :func:`plot_compare`, in order (matplotlib's
#: "tab10" without the green and grey of the truth and the prior).
METHOD_COLORS = (
    *("#1f77b4", "#ff7f0e", "#d62728", "#9467bd", "#8c564b"),
    *("#e377c2", "#bcbd22", "#17becf"),
)

#: Height of the main panel of :func:`plot_compare` over its highest bin, so
#: that the legend sits above the histograms.
LEGEND_HEADROOM = 1.5

#: Line styles of the reference histograms in :func:`plot_compare`.
REFERENCE_STYLES: tuple[LineStyleType, ...] = ("--", ":", "-.")

#: Colour map of the iterations (early dark, late bright) and the share of it
#: used, which stops short of viridis' pale yellow end.
ITERATION_CMAP = "viridis"
ITERATION_CMAP_RANGE = (0.0, 0.85)

#: Correlation matrices with at most this many bins get their values written in.
ANNOTATE_MAX_BINS = 10

#: Bins of the weight histogram, spaced logarithmically.
WEIGHT_BINS = 40

#: Resolution of raster formats written by :func:`save_figure`.
DEFAULT_DPI = 150

#: The training curves recorded in ``history_`` that are drawn, with their
#: line styles: the Bayesian MLP's ELBO, the point MLP's and GBDT's losses.
TRACE_STYLES: dict[str, LineStyleType] = {"elbo": "-", "loss": "-", "val_loss": "--"}

#: Panel titles of the steps of the iteration, in order.
STEP_TITLES = {
    "step1": "step 1: data vs. simulation (reco)",
    "step1b": "step 1b: efficiency (gen)",
    "step2": "step 2: pulled vs. prior (gen)",
    "step2b": "step 2b: fakes (reco)",
}

Style = Literal["CMS", "ATLAS", "LHCb", "ALICE"]
WeightKind = Literal["push", "pull"]


@dataclass(frozen=True)
class Band:
    """A credible or confidence band per bin."""

    lower: NDArray[np.float64]
    upper: NDArray[np.float64]
    label: str


@contextmanager
def experiment_style(style: Style | None) -> Iterator[None]:
    """Apply an mplhep experiment style inside the block, and only there.

    Examples
    --------
    >>> import matplotlib as mpl
    >>> before = mpl.rcParams["font.size"]
    >>> with experiment_style("CMS"):
    ...     inside = mpl.rcParams["font.size"]
    >>> mpl.rcParams["font.size"] == before, inside == before
    (True, False)
    """
    if style is None:
        yield
        return
    if style not in EXPERIMENT_STYLES:
        raise ConfigurationError(
            f"style must be one of {', '.join(map(repr, EXPERIMENT_STYLES))} or "
            f"None; got {style!r}."
        )
    with style_context(getattr(mplhep.style, style)):
        yield


# --- unfolded distributions ---------------------------------------------------


def plot_unfolded(
    edges: NDArray[np.float64],
    *,
    unfolded: NDArray[np.float64],
    prior: NDArray[np.float64],
    truth: NDArray[np.float64] | None = None,
    data: NDArray[np.float64] | None = None,
    bands: tuple[Band, ...] = (),
    xlabel: str = "observable",
    title: str | None = None,
    style: Style | None = None,
) -> Figure:
    """Unfolded, prior, truth and data histograms with a ratio panel.

    The ratio panel divides by ``truth`` where it is given (a closure test),
    and by the prior otherwise. Bands are drawn as shaded steps around the
    unfolded histogram and divided the same way in the ratio panel.
    """
    with experiment_style(style):
        figure = _figure(1.1, 1.25)
        main, ratio = figure.subplots(
            2, 1, sharex=True, gridspec_kw={"height_ratios": [3, 1]}
        )
        reference = truth if truth is not None else prior
        reference_name = "truth" if truth is not None else "prior"

        _draw_bands(main, ratio, edges, bands, reference)
        series = [("prior", prior), ("unfolded", unfolded)]
        if truth is not None:
            series.insert(1, ("truth", truth))
        for name, values in series:
            mplhep.histplot(values, edges, ax=main, label=name, color=COLORS[name])
            mplhep.histplot(
                _safe_ratio(values, reference), edges, ax=ratio, color=COLORS[name]
            )
        if data is not None:
            main.errorbar(
                _centers(edges),
                data,
                yerr=np.sqrt(np.maximum(data, 0.0)),
                fmt="o",
                color=COLORS["data"],
                label="data (detector level)",
                markersize=4,
            )

        main.set_ylabel("events per bin")
        main.legend(frameon=False)
        if title:
            main.set_title(title)
        ratio.axhline(1.0, color="black", linewidth=0.8)
        ratio.set_ylabel(f"ratio to {reference_name}")
        ratio.set_xlabel(xlabel)
        ratio.set_ylim(0.5, 1.5)
    return figure


def plot_compare(
    edges: NDArray[np.float64],
    *,
    truth: NDArray[np.float64],
    unfolded: Mapping[str, NDArray[np.float64]],
    bands: Mapping[str, Band] | None = None,
    references: Mapping[str, NDArray[np.float64]] | None = None,
    truth_label: str = "truth",
    xlabel: str = "observable",
    title: str | None = None,
    style: Style | None = None,
) -> Figure:
    """Several unfolded histograms with their bands, against one truth.

    Each entry of ``unfolded`` (method name to bin contents) is drawn as a
    line in its own colour (:data:`METHOD_COLORS`), with the band of the same
    name from ``bands`` shaded around it; ``references`` (the prior, say) are
    dashed grey lines. The ratio panel divides everything by ``truth``.

    Parameters
    ----------
    edges : ndarray, shape (n_bins + 1,)
    truth : ndarray, shape (n_bins,)
        The reference of the ratio panel, drawn in green.
    unfolded : mapping of str to ndarray, shape (n_bins,)
        At most ``len(METHOD_COLORS)`` histograms.
    bands : mapping of str to Band, optional
        A band for some of the names of ``unfolded``; its label is not used.
    references : mapping of str to ndarray, optional
        Further histograms to show for orientation (at most
        ``len(REFERENCE_STYLES)``).
    """
    bins = bin_edges(edges)
    bands = dict(bands or {})
    references = dict(references or {})
    _check_compare_inputs(bins, truth, unfolded, bands, references)

    with experiment_style(style):
        figure = _figure(1.1, 1.25)
        main, ratio = figure.subplots(
            2, 1, sharex=True, gridspec_kw={"height_ratios": [3, 1]}
        )
        lines: list[tuple[str, NDArray[np.float64], str, LineStyleType]] = [
            (truth_label, truth, COLORS["truth"], "-")
        ]
        lines += [
            (name, values, COLORS["prior"], line_style)
            for (name, values), line_style in zip(
                references.items(), REFERENCE_STYLES, strict=False
            )
        ]
        for name, values, color, line_style in lines:
            for axes, contents in ((main, values), (ratio, _safe_ratio(values, truth))):
                mplhep.histplot(
                    contents,
                    bins,
                    ax=axes,
                    color=color,
                    linestyle=line_style,
                    label=name if axes is main else None,
                )
        for (name, values), color in zip(unfolded.items(), METHOD_COLORS, strict=False):
            _draw_method(main, ratio, bins, values, bands.get(name), truth, name, color)

        main.set_ylabel("events per bin")
        main.set_ylim(0.0, LEGEND_HEADROOM * _highest(truth, unfolded, bands))
        main.legend(frameon=False, ncols=2, loc="upper right")
        if title:
            main.set_title(title)
        ratio.axhline(1.0, color="black", linewidth=0.8)
        ratio.set_ylabel(f"ratio to {truth_label}")
        ratio.set_xlabel(xlabel)
        ratio.set_ylim(0.5, 1.5)
    return figure


def plot_correlation(
    summary_or_matrix: PosteriorSummary | ArrayLike,
    edges: ArrayLike | None = None,
    *,
    xlabel: str = "observable",
    title: str | None = None,
    style: Style | None = None,
) -> Figure:
    """Heat map of the bin-to-bin correlation matrix, with a colour bar.

    Parameters
    ----------
    summary_or_matrix : PosteriorSummary or array_like, shape (n_bins, n_bins)
        A summary from :meth:`UnfoldingResult.posterior` (its correlation and
        edges are used), or a correlation matrix.
    edges : array_like, shape (n_bins + 1,), optional
        Bin edges; required with a matrix, optional with a summary.

    Cells whose correlation is undefined (a bin without spread) are grey.
    With at most :data:`ANNOTATE_MAX_BINS` bins the values are written in.
    """
    matrix, bins = _correlation_inputs(summary_or_matrix, edges)

    with experiment_style(style):
        figure = _figure(1.0, 1.25)
        axes = figure.subplots()
        cmap = mpl.colormaps["RdBu_r"].with_extremes(bad="0.8")
        mesh = axes.pcolormesh(bins, bins, matrix, cmap=cmap, vmin=-1.0, vmax=1.0)
        figure.colorbar(mesh, ax=axes, label="correlation")
        if len(matrix) <= ANNOTATE_MAX_BINS:
            _annotate_cells(axes, bins, matrix)
        axes.set_aspect("equal")
        axes.set_xlabel(xlabel)
        axes.set_ylabel(xlabel)
        if title:
            axes.set_title(title)
    return figure


# --- diagnostics of the weights and the iteration -----------------------------


def plot_weight_distributions(
    result: UnfoldingResult,
    iteration: int = -1,
    *,
    weights: WeightKind = "push",
    bins: int = WEIGHT_BINS,
    style: Style | None = None,
) -> Figure:
    """Histogram of the per-event weights of one iteration, over the draws.

    Shows the push weights nu_n (``weights="push"``, events in ``pass_gen``)
    or the pull weights omega_n (``"pull"``, events in ``pass_reco``), each
    relative to the simulation's own weights, so that 1 means "not
    reweighted". The line is the mean count per bin over the draws, the band
    the central 68 % of the draws; both axes are logarithmic. The legend gives
    the Kish effective sample size of the weighted simulation (weights times
    ``sim_weights``), as mean and spread over the draws.
    """
    index = _iteration_index(result, iteration)
    if weights not in ("push", "pull"):
        raise ConfigurationError(f"weights must be 'push' or 'pull'; got {weights!r}.")
    mask = (
        result.simulation.pass_gen if weights == "push" else result.simulation.pass_reco
    )
    stored = result.push_weights if weights == "push" else result.pull_weights
    values = stored[index][:, mask]
    ess = kish_effective_size(values * result.sim_weights[:, mask])
    edges = _log_edges(values, bins)
    counts = np.array([np.histogram(row, edges)[0] for row in values], float)

    with experiment_style(style):
        figure = _figure(1.1, 1.0)
        axes = figure.subplots()
        if len(counts) > 1:
            low, high = np.quantile(counts, [0.16, 0.84], axis=0)
            axes.stairs(
                high,
                edges,
                baseline=low,
                fill=True,
                alpha=0.3,
                color=COLORS["unfolded"],
                label=f"68 % of {len(counts)} draws",
            )
        axes.stairs(
            counts.mean(axis=0),
            edges,
            color=COLORS["unfolded"],
            label=f"{_mean_label(len(counts))}; {_ess_label(ess, values.shape[1])}",
        )
        axes.axvline(1.0, color="black", linewidth=0.8, linestyle=":")
        axes.set_xscale("log")
        axes.set_yscale("log")
        axes.set_xlabel(f"{weights} weight per event, iteration {index + 1}")
        axes.set_ylabel("events per bin")
        axes.legend(frameon=False, loc="best")
    return figure


def plot_convergence(
    result: UnfoldingResult,
    observable: Observable,
    bins: ArrayLike,
    *,
    distance: Distance = "triangular",
    xlabel: str = "observable",
    style: Style | None = None,
) -> Figure:
    """The unfolded histogram at every iteration, and its change per iteration.

    Top: the prior and the unfolded histogram (mean over draws) of each
    iteration. Bottom: the distance of each iteration's histogram to the
    previous one (the prior for the first), from
    :func:`bayesfold.diagnostics.iteration_distances`: the triangular
    discriminator (times 1000) or chi2 per bin. Falling values mean the
    iteration converges; with ``distance="chi2"``, values below 1 mean a
    further iteration moves the result by less than its uncertainty.
    """
    edges = bin_edges(bins)
    changes = iteration_distances(result, observable, edges, distance=distance)
    histograms = [
        result.histogram(observable, edges, iteration=n).values()
        for n in range(result.iterations)
    ]
    prior = result.prior_histogram(observable, edges).values()

    with experiment_style(style):
        figure = _figure(1.1, 1.5)
        top, bottom = figure.subplots(2, 1, gridspec_kw={"height_ratios": [2, 1]})
        mplhep.histplot(
            prior, edges, ax=top, color=COLORS["prior"], linestyle="--", label="prior"
        )
        colors = _iteration_colors(result.iterations)
        for n, (values, color) in enumerate(zip(histograms, colors, strict=True)):
            mplhep.histplot(
                values, edges, ax=top, color=color, label=f"iteration {n + 1}"
            )
        top.set_xlabel(xlabel)
        top.set_ylabel("events per bin")
        top.legend(frameon=False, ncols=2, loc="best")

        if distance == "triangular":
            scale, label = 1000.0, "$10^3\\,\\Delta$"
        else:
            scale, label = 1.0, "$\\chi^2$/bin"
        iterations = np.arange(1, result.iterations + 1)
        bottom.plot(iterations, scale * changes, "o-", color="black")
        bottom.set_xticks(iterations)
        bottom.set_xlim(0.5, result.iterations + 0.5)
        bottom.set_xlabel("iteration")
        bottom.set_ylabel(f"{label} to previous")
        if distance == "chi2":
            bottom.axhline(1.0, color="black", linestyle=":", linewidth=0.8)
        if np.all(changes[np.isfinite(changes)] > 0):
            bottom.set_yscale("log")
    return figure


# --- diagnostics of the classifiers -------------------------------------------


def plot_elbo_traces(
    result: UnfoldingResult, *, replica: int = 0, style: Style | None = None
) -> Figure:
    """Training curves of every step's classifiers, one panel per step.

    Reads what the classifiers stored in ``history_`` (recorded on
    :attr:`StepDiagnostics.history`, one entry per fold): the ELBO per ADVI
    step of the Bayesian MLP, the training and validation losses per epoch of
    the point MLP (and per boosting iteration of the GBDT). Colours mark the
    iteration; every fold of a step is drawn. ``replica`` selects the draw
    whose curves are shown.

    Raises
    ------
    DiagnosticsUnavailableError
        When no step recorded a training curve (NUTS records R-hat and
        divergences instead; GBDT without early stopping records nothing).
    """
    traces = _training_traces(result, replica)
    if not traces:
        raise DiagnosticsUnavailableError(
            "no classifier of this result recorded a training curve (an ELBO "
            "or a loss in history_): NUTS fits record R-hat and divergences, "
            "and GBDT without early stopping records nothing. Use ADVI, the "
            "point MLP, or GBDT with early_stopping=True to see training curves."
        )

    with experiment_style(style):
        figure = _figure(1.1, 0.6 * len(traces) + 0.3)
        panels = np.atleast_1d(figure.subplots(len(traces), 1, squeeze=False)[:, 0])
        colors = _iteration_colors(result.iterations)
        for axes, (step, curves) in zip(panels, traces.items(), strict=True):
            keys = sorted({key for _, key, _ in curves}, key=list(TRACE_STYLES).index)
            for iteration, key, values in curves:
                axes.plot(
                    values,
                    color=colors[iteration],
                    linestyle=TRACE_STYLES[key],
                    linewidth=1.0,
                )
            axes.set_title(STEP_TITLES.get(step, step))
            axes.set_ylabel("ELBO" if "elbo" in keys else "weighted loss")
            axes.set_xlabel("ADVI step" if "elbo" in keys else "epoch (GBDT: tree)")
            axes.legend(
                handles=_trace_legend(result.iterations, colors, keys),
                frameon=False,
                ncols=2,
                loc="best",
            )
    return figure


def plot_reliability(result: UnfoldingResult, *, style: Style | None = None) -> Figure:
    """Reliability curves of every step's classifier, per iteration.

    One column per step: on top, the weighted fraction of class 1 against the
    mean predicted probability per bin, with binomial errors, against the
    diagonal of perfect calibration; below, their difference. The legend
    gives each iteration's expected calibration error (ECE). The curves are
    those recorded in :attr:`StepDiagnostics.calibration`: the first
    replica's classifier on its training events.

    Raises
    ------
    DiagnosticsUnavailableError
        When no step of the result recorded a reliability curve.
    """
    records = _calibration_records(result)
    if not records:
        raise DiagnosticsUnavailableError(
            "no step of this result recorded a reliability curve "
            "(StepDiagnostics.calibration is None everywhere). Results from "
            "bayesfold.omnifold record one per step; rerun the unfolding to "
            "get them."
        )

    with experiment_style(style):
        figure = _figure(0.75 * len(records) + 0.25, 1.25)
        grid = figure.subplots(
            2,
            len(records),
            sharex="col",
            squeeze=False,
            gridspec_kw={"height_ratios": [3, 1]},
        )
        colors = _iteration_colors(result.iterations)
        for column, (step, steps) in enumerate(records.items()):
            _draw_reliability(grid[0, column], grid[1, column], steps, colors)
            grid[0, column].set_title(STEP_TITLES.get(step, step))
        grid[0, 0].set_ylabel("observed fraction of class 1")
        grid[1, 0].set_ylabel("obs. $-$ pred.")
    return figure


# --- writing ------------------------------------------------------------------


def save_figure(
    figure: Figure,
    path_without_suffix: str | os.PathLike[str],
    formats: Sequence[str] = ("png", "pdf"),
    *,
    dpi: float = DEFAULT_DPI,
    overwrite: bool = False,
) -> list[Path]:
    """Write ``figure`` once per format, each file atomically.

    Every file is rendered to a hidden temporary beside its target and moved
    into place only once all formats have rendered
    (:func:`bayesfold.io.atomic.atomic_paths`), so an error or an interrupt
    leaves neither a partial file nor a mix of old and new formats. The
    folder is created if it does not exist.

    Parameters
    ----------
    figure : Figure
    path_without_suffix : path
        Target path without the format's suffix: ``out/unfolded`` writes
        ``out/unfolded.png`` and ``out/unfolded.pdf``.
    formats : sequence of str
        File formats matplotlib can write (``"png"``, ``"pdf"``, ``"svg"``...).
    dpi : float
        Resolution of raster formats.
    overwrite : bool
        Replace existing files; without it an existing target raises
        :class:`~bayesfold.exceptions.OutputExistsError` and nothing is
        written.

    Returns
    -------
    list of Path
        The files written, in the order of ``formats``.
    """
    base = Path(path_without_suffix)
    targets = _figure_targets(figure, base, formats)

    base.parent.mkdir(parents=True, exist_ok=True)
    with atomic_paths(targets, overwrite=overwrite) as staged:
        for fmt, target in zip(formats, targets, strict=True):
            figure.savefig(staged[target], format=fmt, dpi=dpi)
    return targets


# --- helpers ------------------------------------------------------------------


def _figure(width: float, height: float) -> Figure:
    """A figure sized in units of the current style's default figure size."""
    default_width, default_height = mpl.rcParams["figure.figsize"]
    return Figure(
        figsize=(width * default_width, height * default_height),
        layout="constrained",
    )


def _centers(edges: NDArray[np.float64]) -> NDArray[np.float64]:
    return 0.5 * (edges[1:] + edges[:-1])


def _iteration_colors(iterations: int) -> list[Any]:
    cmap = mpl.colormaps[ITERATION_CMAP]
    return list(cmap(np.linspace(*ITERATION_CMAP_RANGE, max(iterations, 1))))


def _iteration_index(result: UnfoldingResult, iteration: int) -> int:
    """``iteration`` as an index from 0, negative values counting from the end."""
    try:
        return range(result.iterations)[iteration]
    except IndexError:
        raise ConfigurationError(
            f"iteration {iteration} is out of range: the result has "
            f"{result.iterations} iterations (indices 0 to "
            f"{result.iterations - 1}, or -1 for the last)."
        ) from None


def _draw_bands(
    main: Axes,
    ratio: Axes,
    edges: NDArray[np.float64],
    bands: tuple[Band, ...],
    reference: NDArray[np.float64],
) -> None:
    alphas = np.linspace(0.45, 0.2, max(len(bands), 1))
    for band, alpha in zip(bands, alphas, strict=False):
        for axes, low, high in (
            (main, band.lower, band.upper),
            (
                ratio,
                _safe_ratio(band.lower, reference),
                _safe_ratio(band.upper, reference),
            ),
        ):
            axes.stairs(
                high,
                edges,
                baseline=low,
                fill=True,
                alpha=float(alpha),
                color=COLORS["unfolded"],
                label=band.label if axes is main else None,
            )


def _draw_method(
    main: Axes,
    ratio: Axes,
    edges: NDArray[np.float64],
    values: NDArray[np.float64],
    band: Band | None,
    truth: NDArray[np.float64],
    name: str,
    color: str,
) -> None:
    """One method of :func:`plot_compare`: its line and band, in both panels."""
    for axes, scale in ((main, np.ones_like(truth)), (ratio, truth)):
        if band is not None:
            axes.stairs(
                _safe_ratio(band.upper, scale),
                edges,
                baseline=_safe_ratio(band.lower, scale),
                fill=True,
                alpha=0.2,
                color=color,
            )
        mplhep.histplot(
            _safe_ratio(values, scale),
            edges,
            ax=axes,
            color=color,
            label=name if axes is main else None,
        )


def _highest(
    truth: NDArray[np.float64],
    unfolded: Mapping[str, NDArray[np.float64]],
    bands: Mapping[str, Band],
) -> float:
    values = [truth, *unfolded.values(), *(band.upper for band in bands.values())]
    return float(max(np.nanmax(v) if np.any(np.isfinite(v)) else 0.0 for v in values))


def _check_compare_inputs(
    edges: NDArray[np.float64],
    truth: NDArray[np.float64],
    unfolded: Mapping[str, NDArray[np.float64]],
    bands: Mapping[str, Band],
    references: Mapping[str, NDArray[np.float64]],
) -> None:
    if not unfolded or len(unfolded) > len(METHOD_COLORS):
        raise ConfigurationError(
            f"unfolded must hold 1 to {len(METHOD_COLORS)} histograms; got "
            f"{len(unfolded)}."
        )
    if len(references) > len(REFERENCE_STYLES):
        raise ConfigurationError(
            f"references can hold at most {len(REFERENCE_STYLES)} histograms; "
            f"got {len(references)}."
        )
    stray = sorted(set(bands) - set(unfolded))
    if stray:
        raise ConfigurationError(
            f"bands names {stray}, which unfolded does not; name each band "
            "after its method."
        )
    n_bins = len(edges) - 1
    arrays = {"truth": truth, **unfolded, **references}
    for band_name, band in bands.items():
        arrays |= {f"{band_name} lower": band.lower, f"{band_name} upper": band.upper}
    for name, values in arrays.items():
        if np.shape(values) != (n_bins,):
            raise ShapeMismatchError(
                f"{name} must have one value per bin, shape ({n_bins},) for "
                f"{len(edges)} edges; got shape {np.shape(values)}."
            )


def _safe_ratio(
    numerator: NDArray[np.float64], denominator: NDArray[np.float64]
) -> NDArray[np.float64]:
    """numerator / denominator, NaN where the denominator is not positive."""
    out = np.full_like(numerator, np.nan, dtype=np.float64)
    np.divide(numerator, denominator, out=out, where=denominator > 0)
    return out


def _correlation_inputs(
    summary_or_matrix: PosteriorSummary | ArrayLike, edges: ArrayLike | None
) -> tuple[NDArray[np.float64], NDArray[np.float64]]:
    """The correlation matrix and checked edges of either form of input."""
    if isinstance(summary_or_matrix, PosteriorSummary):
        matrix = summary_or_matrix.correlation
        edges = summary_or_matrix.edges if edges is None else edges
    else:
        matrix = np.asarray(summary_or_matrix, dtype=np.float64)
    if edges is None:
        raise ConfigurationError(
            "a correlation matrix needs its bin edges: pass edges=, or pass the "
            "PosteriorSummary from result.posterior(...), which carries them."
        )
    bins = bin_edges(edges)
    if matrix.ndim != 2 or matrix.shape != (len(bins) - 1, len(bins) - 1):
        raise ShapeMismatchError(
            f"the correlation matrix must be (n_bins, n_bins) = ({len(bins) - 1}, "
            f"{len(bins) - 1}) for {len(bins)} edges; got shape {matrix.shape}."
        )
    return matrix, bins


def _annotate_cells(
    axes: Axes, edges: NDArray[np.float64], matrix: NDArray[np.float64]
) -> None:
    centers = _centers(edges)
    for row, y in enumerate(centers):
        for column, x in enumerate(centers):
            value = matrix[row, column]
            if np.isfinite(value):
                color = "white" if abs(value) > 0.6 else "black"
                axes.text(
                    x,
                    y,
                    f"{value:.2f}",
                    ha="center",
                    va="center",
                    fontsize="x-small",
                    color=color,
                )


def _log_edges(values: NDArray[np.float64], n_bins: int) -> NDArray[np.float64]:
    """Logarithmic edges spanning the positive values (one decade if all equal)."""
    positive = values[values > 0]
    if positive.size == 0:
        raise DiagnosticsUnavailableError(
            "no event has a positive weight to histogram; check the selection "
            "masks and the weights of the result."
        )
    low, high = positive.min(), positive.max()
    if high <= low * (1 + 1e-9):
        low, high = low / np.sqrt(10.0), high * np.sqrt(10.0)
    return np.geomspace(low, high * (1 + 1e-9), n_bins + 1)


def _mean_label(n_draws: int) -> str:
    return "mean of the draws" if n_draws > 1 else "one draw"


def _ess_label(ess: NDArray[np.float64], n_events: int) -> str:
    if len(ess) > 1:
        return f"Kish ESS {ess.mean():.0f} $\\pm$ {ess.std(ddof=1):.0f} of {n_events}"
    return f"Kish ESS {ess[0]:.0f} of {n_events}"


def _training_traces(
    result: UnfoldingResult, replica: int
) -> dict[str, list[tuple[int, str, NDArray[np.float64]]]]:
    """Per step (in order), (iteration, key, curve) of every fold's fit."""
    if not 0 <= replica < result.n_draws:
        raise ConfigurationError(
            f"replica must be in 0..{result.n_draws - 1} for a result with "
            f"{result.n_draws} draws; got {replica}."
        )
    traces: dict[str, list[tuple[int, str, NDArray[np.float64]]]] = {}
    for record in _in_step_order(result.diagnostics):
        for history in record.history:
            for key in TRACE_STYLES:
                if key in history and np.size(history[key]):
                    curve = np.asarray(history[key], dtype=np.float64)
                    curve = curve[:, replica] if curve.ndim == 2 else curve
                    traces.setdefault(record.step, []).append(
                        (record.iteration, key, curve)
                    )
    return traces


def _trace_legend(iterations: int, colors: list[Any], keys: list[str]) -> list[Line2D]:
    handles = [
        Line2D([], [], color=colors[n], label=f"iteration {n + 1}")
        for n in range(iterations)
    ]
    names = {"elbo": "ELBO", "loss": "training", "val_loss": "validation"}
    if len(keys) > 1:
        handles += [
            Line2D([], [], color="black", linestyle=TRACE_STYLES[k], label=names[k])
            for k in keys
        ]
    return handles


def _calibration_records(
    result: UnfoldingResult,
) -> dict[str, list[StepDiagnostics]]:
    """Records with a reliability curve, grouped by step in the iteration's order."""
    records: dict[str, list[StepDiagnostics]] = {}
    for record in _in_step_order(result.diagnostics):
        if record.calibration is not None:
            records.setdefault(record.step, []).append(record)
    return records


def _in_step_order(records: list[StepDiagnostics]) -> list[StepDiagnostics]:
    order = list(STEP_TITLES)

    def key(record: StepDiagnostics) -> tuple[int, int]:
        position = order.index(record.step) if record.step in order else len(order)
        return position, record.iteration

    return sorted(records, key=key)


def _draw_reliability(
    curve_axes: Axes,
    residual_axes: Axes,
    records: list[StepDiagnostics],
    colors: list[Any],
) -> None:
    lowest, highest = 1.0, 0.0
    for record in records:
        curve = record.calibration
        assert curve is not None  # filtered by _calibration_records
        filled = curve.weight > 0
        x, y, error = (
            a[filled] for a in (curve.predicted, curve.observed, curve.error)
        )
        style = {"fmt": "o-", "markersize": 3, "color": colors[record.iteration]}
        label = (
            f"iteration {record.iteration + 1}, "
            f"ECE {curve.expected_calibration_error:.3f}"
        )
        curve_axes.errorbar(x, y, yerr=error, label=label, **style)
        residual_axes.errorbar(x, y - x, yerr=error, **style)
        lowest = min(lowest, float(np.min(x)), float(np.min(y)))
        highest = max(highest, float(np.max(x)), float(np.max(y)))

    curve_axes.plot(
        [lowest, highest],
        [lowest, highest],
        color="black",
        linestyle=":",
        linewidth=0.8,
        label="calibrated",
    )
    residual_axes.axhline(0.0, color="black", linestyle=":", linewidth=0.8)
    residual_axes.set_xlabel("predicted probability of class 1")
    curve_axes.legend(frameon=False, loc="best")


def _figure_targets(figure: Figure, base: Path, formats: Sequence[str]) -> list[Path]:
    """One target path per format, after checking the formats."""
    supported = figure.canvas.get_supported_filetypes()
    if isinstance(formats, str) or not formats:
        raise ConfigurationError(
            f"formats must be a non-empty sequence of format names such as "
            f"('png', 'pdf'); got {formats!r}."
        )
    unknown = [fmt for fmt in formats if fmt not in supported]
    if unknown:
        raise ConfigurationError(
            f"matplotlib cannot write the format(s) {unknown}; choose from "
            f"{', '.join(sorted(supported))}."
        )
    if base.suffix.lstrip(".") in supported:
        raise ConfigurationError(
            f"give the path without its suffix: {str(base)!r} ends in "
            f"{base.suffix!r}, and save_figure adds one per format "
            f"({str(base.with_suffix(''))!r} writes {base.stem}.png ...)."
        )
    return [base.parent / f"{base.name}.{fmt}" for fmt in formats]
