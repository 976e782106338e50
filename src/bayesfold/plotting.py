"""Plots of unfolded distributions, with matplotlib and mplhep.

Plot functions take binned arrays and an optional ``Axes``; they draw and return
the figure, and never save or show it: the caller (the CLI) decides where it goes.
"""

from __future__ import annotations

from dataclasses import dataclass

import matplotlib.pyplot as plt
import mplhep
import numpy as np
from matplotlib.figure import Figure
from numpy.typing import NDArray

__all__ = ["Band", "plot_unfolded"]

#: Colours for the fixed roles of an unfolding plot (colour-blind safe pairs).
COLORS = {
    "data": "black",
    "prior": "#7f7f7f",
    "truth": "#2ca02c",
    "unfolded": "#1f77b4",
}


@dataclass(frozen=True)
class Band:
    """A credible or confidence band per bin."""

    lower: NDArray[np.float64]
    upper: NDArray[np.float64]
    label: str


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
) -> Figure:
    """Unfolded, prior, truth and data histograms with a ratio panel.

    The ratio panel divides by ``truth`` where it is given (a closure test),
    and by the prior otherwise. Bands are drawn as shaded steps around the
    unfolded histogram and divided the same way in the ratio panel.
    """
    figure, (main, ratio) = plt.subplots(
        2, 1, sharex=True, figsize=(7, 6), gridspec_kw={"height_ratios": [3, 1]}
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
        centers = 0.5 * (edges[1:] + edges[:-1])
        main.errorbar(
            centers,
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
    figure.tight_layout()
    return figure


def _draw_bands(
    main: plt.Axes,
    ratio: plt.Axes,
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


def _safe_ratio(
    numerator: NDArray[np.float64], denominator: NDArray[np.float64]
) -> NDArray[np.float64]:
    """numerator / denominator, NaN where the denominator is not positive."""
    out = np.full_like(numerator, np.nan, dtype=np.float64)
    np.divide(numerator, denominator, out=out, where=denominator > 0)
    return out
