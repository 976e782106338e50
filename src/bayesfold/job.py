"""The main job of ``bayesfold unfold``: a config in, every output out.

:func:`run_job` reads the inputs a :class:`~bayesfold.config.Config` names,
unfolds them with its method and writes the outputs
(:func:`bayesfold.io.writers.write_outputs`) and the plots. Everything that can
be checked before training is checked before anything is written: the config
(when it was loaded), the input files, trees and branches, the samples, and
that no output would be replaced without ``overwrite``. A run that fails or is
interrupted leaves no partial file: every file is written under a temporary
name and renamed into place (:mod:`bayesfold.io.atomic`).

:func:`write_demo_inputs` writes the shifted-Gaussian toy of ``bayesfold demo``
as event files and a config that reads them, a complete example of the job.
"""

from __future__ import annotations

import logging
import os
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np
from numpy.typing import NDArray

from bayesfold.config import Config
from bayesfold.exceptions import ConfigurationError, OutputExistsError
from bayesfold.io.readers import read_data, read_simulation
from bayesfold.samples import DataSample, SimulationSample, check_compatible

if TYPE_CHECKING:
    from matplotlib.figure import Figure

    from bayesfold.io.spec import ObservableSpec
    from bayesfold.result import UnfoldingResult

__all__ = ["JobReport", "read_inputs", "run_job", "write_demo_inputs"]

logger = logging.getLogger(__name__)

#: Folder of the plots inside the output folder.
PLOTS_FOLDER = "plots"

#: Formats :func:`write_demo_inputs` writes the toy in.
DEMO_FORMATS = ("root", "parquet")

#: Bin edges of the toy's observable in the demo config: 1-unit bins that hold
#: the prior, the truth and the detector-level data (as ``bayesfold demo``).
DEMO_EDGES = np.linspace(-10.0, 12.0, 23)


@dataclass(frozen=True)
class JobReport:
    """What a job did: its result, the files it wrote and its wall time."""

    result: UnfoldingResult
    files: list[Path]
    seconds: float


def read_inputs(config: Config) -> tuple[SimulationSample, DataSample]:
    """Read and check the simulation and the data that ``config`` names."""
    simulation = read_simulation(config.simulation)
    data = read_data(config.data, reco=list(config.simulation.reco))
    check_compatible(simulation, data)
    logger.info(
        "read %d simulated events (%d pass gen, %d pass reco) and %d data events",
        simulation.n_events,
        int(simulation.pass_gen.sum()),
        int(simulation.pass_reco.sum()),
        data.n_events,
    )
    return simulation, data


def run_job(
    config: Config,
    *,
    out: Path | str | None = None,
    overwrite: bool | None = None,
    progress: bool = True,
) -> JobReport:
    """Read, unfold, write: the whole ``bayesfold unfold`` job.

    Parameters
    ----------
    config : Config
        The checked configuration.
    out : path, optional
        Output folder; ``config.output.folder`` by default.
    overwrite : bool, optional
        Replace existing outputs; ``config.output.overwrite`` by default.
    progress : bool
        Show a progress bar over the iterations.

    Raises
    ------
    OutputExistsError
        Before any training, if an output exists and ``overwrite`` is false.
    """
    folder = Path(out) if out is not None else config.output.folder
    replace = config.output.overwrite if overwrite is None else overwrite
    specs = config.observable_specs()
    simulation, data = read_inputs(config)
    _check_outputs(folder, specs, config, overwrite=replace)

    from bayesfold.methods import unfold

    start = time.perf_counter()
    result = unfold(
        simulation,
        data,
        random_state=config.seed,
        progress=progress,
        **config.method.unfold_options(),
    )
    files = _write_outputs(result, folder, specs, config, overwrite=replace)
    files += _write_plots(result, folder, specs, config, overwrite=replace)
    return JobReport(result, files, time.perf_counter() - start)


def _check_outputs(
    folder: Path, specs: list[ObservableSpec], config: Config, *, overwrite: bool
) -> None:
    """Refuse, before training, a folder whose outputs would be replaced."""
    if overwrite or not folder.exists():
        return
    if not folder.is_dir():
        raise OutputExistsError(
            f"output folder {folder} is a file. Choose another folder with "
            "--out or output.folder."
        )
    planned = [*_plot_targets(folder, specs, config), *_writer_targets(folder, config)]
    existing = [path for path in planned if os.path.lexists(path)]
    if existing:
        names = ", ".join(str(path.relative_to(folder)) for path in existing[:5])
        raise OutputExistsError(
            f"{folder} already holds outputs of an earlier run ({names}"
            f"{', ...' if len(existing) > 5 else ''}). Choose another folder "
            "with --out, or pass --overwrite to replace them."
        )


def _writer_targets(folder: Path, config: Config) -> list[Path]:
    from bayesfold.io.writers import output_paths

    return list(output_paths(folder, _output_formats(config)).values())


def _output_formats(config: Config) -> tuple[str, ...]:
    """The writers' outputs that the config asks for; all by default."""
    from bayesfold.io.writers import FORMATS

    return config.output.formats if config.output.formats is not None else FORMATS


def _write_outputs(
    result: UnfoldingResult,
    folder: Path,
    specs: list[ObservableSpec],
    config: Config,
    *,
    overwrite: bool,
) -> list[Path]:
    from bayesfold.io.writers import write_outputs

    written = write_outputs(
        result,
        folder,
        observables=specs,
        overwrite=overwrite,
        config=config.as_dict(),
        formats=_output_formats(config),
    )
    return list(written.values())


# Plots ----------------------------------------------------------------------

#: Plots of the whole run (file name and kind), after those per observable.
RUN_PLOTS = ("weights", "training", "calibration")


def _planned_plots(
    specs: list[ObservableSpec], config: Config
) -> list[tuple[str, str, ObservableSpec | None]]:
    """Every plot of a run: (file name, kind, observable or None).

    The bin correlation needs several draws, the convergence several
    iterations; both are known from the config before training.
    """
    plans: list[tuple[str, str, ObservableSpec | None]] = []
    for spec in specs:
        plans.append((f"unfolded_{spec.name}", "unfolded", spec))
        if _expected_draws(config) > 1:
            plans.append((f"correlation_{spec.name}", "correlation", spec))
        if config.method.iterations > 1:
            plans.append((f"convergence_{spec.name}", "convergence", spec))
    plans += [(name, name, None) for name in RUN_PLOTS]
    return plans


def _expected_draws(config: Config) -> int:
    from bayesfold.methods import METHODS

    settings = {**METHODS[config.method.name](), **config.method.options}
    return int(settings.get("replicas", 1)) * int(settings.get("final_draws", 1))


def _plot_targets(
    folder: Path, specs: list[ObservableSpec], config: Config
) -> list[Path]:
    return [
        folder / PLOTS_FOLDER / f"{name}.{fmt}"
        for name, _, _ in _planned_plots(specs, config)
        for fmt in config.output.plots
    ]


def _write_plots(
    result: UnfoldingResult,
    folder: Path,
    specs: list[ObservableSpec],
    config: Config,
    *,
    overwrite: bool,
) -> list[Path]:
    from bayesfold.exceptions import DiagnosticsUnavailableError
    from bayesfold.plotting import save_figure

    if not config.output.plots:
        return []
    style = None if config.output.style == "default" else config.output.style
    written = []
    for name, kind, spec in _planned_plots(specs, config):
        try:
            figure = _draw(kind, spec, result, style, config.method.name)
        except DiagnosticsUnavailableError as error:
            logger.info("no %s plot: %s", name, error)
            continue
        written += save_figure(
            figure,
            folder / PLOTS_FOLDER / name,
            config.output.plots,
            overwrite=overwrite,
        )
    return written


def _draw(
    kind: str,
    spec: ObservableSpec | None,
    result: UnfoldingResult,
    style: Any,
    method: str,
) -> Figure:
    from bayesfold import plotting

    if kind == "weights":
        return plotting.plot_weight_distributions(result, style=style)
    if kind == "training":
        return plotting.plot_elbo_traces(result, style=style)
    if kind == "calibration":
        return plotting.plot_reliability(result, style=style)
    assert spec is not None
    if kind == "unfolded":
        return _plot_unfolded(result, spec, style, method)
    if kind == "correlation":
        posterior = result.posterior(spec.values, spec.edges)
        return plotting.plot_correlation(posterior, xlabel=spec.label, style=style)
    return plotting.plot_convergence(
        result, spec.values, spec.edges, xlabel=spec.label, style=style
    )


def _plot_unfolded(
    result: UnfoldingResult, spec: ObservableSpec, style: Any, method: str
) -> Figure:
    from bayesfold.plotting import Band, plot_unfolded

    prior = result.prior_histogram(spec.values, spec.edges).values()
    bands: tuple[Band, ...] = ()
    if result.n_draws > 1:
        posterior = result.posterior(spec.values, spec.edges)
        unfolded = np.asarray(posterior.mean, dtype=float)
        bands = (
            Band(posterior.lower_68, posterior.upper_68, "68 % interval"),
            Band(posterior.lower_95, posterior.upper_95, "95 % interval"),
        )
    else:
        unfolded = np.asarray(result.histogram(spec.values, spec.edges).values(), float)
    return plot_unfolded(
        spec.edges,
        unfolded=unfolded,
        prior=np.asarray(prior, dtype=float),
        bands=bands,
        xlabel=spec.label,
        title=f"{method}, {result.n_draws} draw{'s' if result.n_draws > 1 else ''}",
        style=style,
    )


# Demo inputs ------------------------------------------------------------------


def write_demo_inputs(
    folder: Path | str,
    *,
    file_format: str = "root",
    events: int = 1000,
    method: str = "point",
    iterations: int = 6,
    seed: int = 0,
    overwrite: bool = False,
) -> list[Path]:
    """Write the shifted-Gaussian toy as event files and a config that reads them.

    The files are ``simulation.<ext>`` (branches ``x_gen``, ``x_reco``,
    ``pass_gen``, ``pass_reco``, ``weight``) and ``data.<ext>`` (branch ``x``),
    with a TTree ``events`` for ROOT, and ``config.toml``, whose output folder
    is ``output`` beside it. The events are those of ``bayesfold demo`` with
    the same ``seed`` and ``events``, so ``bayesfold unfold`` on them gives the
    demo's answer.

    Returns
    -------
    list of Path
        The files written: simulation, data, config.
    """
    from bayesfold.io.atomic import atomic_paths
    from bayesfold.toys import ShiftedGaussianToy

    if file_format not in DEMO_FORMATS:
        raise ConfigurationError(
            f"file_format must be one of {', '.join(DEMO_FORMATS)}; got "
            f"{file_format!r}."
        )
    folder = Path(folder)
    toy = ShiftedGaussianToy()
    rng = np.random.default_rng(seed)
    simulation = toy.simulate(events, rng)
    measured = toy.measure(events, rng)
    samples: dict[str, dict[str, NDArray[Any]]] = {
        "simulation": {
            "x_gen": simulation.gen[:, 0],
            "x_reco": simulation.reco[:, 0],
            "pass_gen": simulation.pass_gen,
            "pass_reco": simulation.pass_reco,
            "weight": simulation.sim_weights,
        },
        "data": {"x": measured.data.data[:, 0]},
    }

    ext = "root" if file_format == "root" else "parquet"
    targets = [folder / f"{name}.{ext}" for name in samples] + [folder / "config.toml"]
    folder.mkdir(parents=True, exist_ok=True)
    with atomic_paths(targets, overwrite=overwrite) as staged:
        for columns, target in zip(samples.values(), targets, strict=False):
            _WRITERS[file_format](staged[target], columns)
        staged[targets[-1]].write_text(
            _demo_config(ext, method=method, iterations=iterations, seed=seed),
            encoding="utf-8",
        )
    logger.info("wrote the toy's inputs and config to %s", folder)
    return targets


def _write_root(path: Path, columns: dict[str, NDArray[Any]]) -> None:
    import uproot

    with uproot.recreate(path) as file:
        tree = file.mktree("events", {name: v.dtype for name, v in columns.items()})
        tree.extend(columns)


def _write_parquet(path: Path, columns: dict[str, NDArray[Any]]) -> None:
    import pyarrow as pa
    import pyarrow.parquet as pq

    pq.write_table(pa.table(columns), path)


_WRITERS: dict[str, Callable[[Path, dict[str, NDArray[Any]]], None]] = {
    "root": _write_root,
    "parquet": _write_parquet,
}


def _demo_config(ext: str, *, method: str, iterations: int, seed: int) -> str:
    tree = '\ntree = "events"' if ext == "root" else ""
    edges = ", ".join(f"{edge:g}" for edge in DEMO_EDGES)
    return f"""\
# The shifted-Gaussian toy of `bayesfold demo`, as files: run
#   bayesfold unfold config.toml
# Simulation: x_gen ~ N(0.3, 2.5), x_reco = x_gen + N(-2.5, 0.2);
# data: x = truth + N(-2.5, 0.2) with truth ~ N(1.2, 3.0).
# `bayesfold config --example` explains every key.

seed = {seed}

[data]
files = "data.{ext}"{tree}

[data.reco]
x = "x"

[simulation]
files = "simulation.{ext}"{tree}
weight = "weight"
pass_gen = "pass_gen"
pass_reco = "pass_reco"

[simulation.reco]
x = "x_reco"

[simulation.gen]
x = "x_gen"

[method]
name = "{method}"
iterations = {iterations}

[[observables]]
name = "x"
feature = "x"
bins = [{edges}]
label = "x (particle level)"

[output]
folder = "output"
plots = ["png", "pdf"]
"""
