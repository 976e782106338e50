"""The ``bayesfold`` command line.

Commands parse their options, call the library and write files; logging is
configured here and nowhere else.
"""

from __future__ import annotations

import json
import logging
import signal
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import TYPE_CHECKING, Any

import click
import numpy as np

from bayesfold._version import __version__
from bayesfold.io.atomic import atomic_path, check_new

if TYPE_CHECKING:
    from bayesfold.studies import CoverageResult

logger = logging.getLogger("bayesfold.cli")

#: Bins of the shifted-Gaussian toy's demo plot and summary: 1-unit bins that
#: hold the prior, the truth and the detector-level data.
DEMO_BINS = np.linspace(-10.0, 12.0, 23)


class _Group(click.Group):
    """Report bayesfold's own errors as one line, not a traceback."""

    def invoke(self, ctx: click.Context) -> Any:
        from bayesfold.exceptions import BayesfoldError

        try:
            return super().invoke(ctx)
        except BayesfoldError as error:
            raise click.ClickException(str(error)) from error


@click.group(cls=_Group, context_settings={"help_option_names": ["-h", "--help"]})
@click.version_option(__version__, prog_name="bayesfold")
@click.option("-v", "--verbose", count=True, help="More log output (-vv: debug).")
@click.option("-q", "--quiet", is_flag=True, help="Only warnings and errors.")
@click.pass_context
def main(ctx: click.Context, verbose: int, quiet: bool) -> None:
    """bayesfold: OmniFold unfolding with Bayesian neural networks."""
    level = (
        logging.WARNING if quiet else (logging.DEBUG if verbose > 1 else logging.INFO)
    )
    logging.basicConfig(
        level=level, format="%(asctime)s %(levelname)-7s %(name)s: %(message)s"
    )
    if verbose < 2:
        # PyTensor and PyMC log compilation details at INFO, and JAX the
        # accelerators it did not find; keep them for -vv.
        for noisy in ("pytensor", "pymc", "jax"):
            logging.getLogger(noisy).setLevel(max(level, logging.WARNING))
    ctx.obj = {"progress": not quiet}


@main.command()
@click.option(
    "--method",
    default="bayesian",
    show_default=True,
    help="Unfolding method (see `bayesfold methods`).",
)
@click.option("--events", default=1000, show_default=True, help="Events per sample.")
@click.option("--iterations", default=6, show_default=True, help="OmniFold iterations.")
@click.option("--seed", default=0, show_default=True, help="Seed of every random step.")
@click.option(
    "--out",
    type=click.Path(file_okay=False, path_type=Path),
    default=Path("bayesfold-demo"),
    show_default=True,
    help="Folder for the plot and summary.json.",
)
@click.option(
    "--write-inputs",
    type=click.Path(file_okay=False, path_type=Path),
    default=None,
    help="Instead of unfolding, write the toy as event files and a config.toml "
    "for `bayesfold unfold` into this folder.",
)
@click.option("--overwrite", is_flag=True, help="Replace existing output files.")
@click.option(
    "--format",
    "file_format",
    type=click.Choice(["root", "parquet"]),
    default="root",
    show_default=True,
    help="File format of --write-inputs.",
)
@click.pass_context
def demo(
    ctx: click.Context,
    method: str,
    events: int,
    iterations: int,
    seed: int,
    out: Path,
    write_inputs: Path | None,
    overwrite: bool,
    file_format: str,
) -> None:
    """Unfold the shifted-Gaussian toy and write a plot and summary.json.

    Simulation: gen ~ N(0.3, 2.5); data: truth ~ N(1.2, 3.0); detector:
    reco = gen + N(-2.5, 0.2). With --write-inputs DIR, write the same events
    as files and a config instead: `bayesfold unfold DIR/config.toml` then
    runs the main job on them.
    """
    from bayesfold.methods import METHODS

    if method not in METHODS:
        raise click.BadParameter(
            f"unknown method {method!r}; choose one of {', '.join(METHODS)}.",
            param_hint="--method",
        )
    if events < 10:
        raise click.BadParameter("needs at least 10 events.", param_hint="--events")
    if write_inputs is not None:
        _write_demo_inputs(
            write_inputs, file_format, method, events, iterations, seed, overwrite
        )
        return
    # Refused before the unfolding, not after a minute of it.
    check_new([out / "unfolded.png", out / "summary.json"], overwrite=overwrite)
    summary, figure = _run_demo(method, events, iterations, seed, ctx.obj["progress"])

    out.mkdir(parents=True, exist_ok=True)
    with atomic_path(out / "unfolded.png", overwrite=overwrite) as path:
        figure.savefig(path, dpi=120, format="png")
    with atomic_path(out / "summary.json", overwrite=overwrite) as path:
        path.write_text(json.dumps(summary, indent=2) + "\n")
    metrics = summary["metrics"]
    click.echo(
        f"{summary['method']}: {summary['iterations']} iterations in "
        f"{summary['seconds']:.1f} s; triangular discriminator x1000 vs truth: "
        f"unfolded {metrics['triangular_unfolded_vs_truth']:.2f}, "
        f"prior {metrics['triangular_prior_vs_truth']:.2f}"
    )
    click.echo(f"wrote {out / 'unfolded.png'} and {out / 'summary.json'}")


@main.command()
@click.option("--toy", "toy_name", default="shifted-gaussian", show_default=True)
@click.option(
    "--methods",
    "method_names",
    default="bayesian,bootstrap",
    show_default=True,
    help="Comma-separated methods with draws.",
)
@click.option("--experiments", default=50, show_default=True)
@click.option("--events", default=1000, show_default=True, help="Events per sample.")
@click.option("--iterations", default=6, show_default=True)
@click.option("--replicas", default=None, type=int, help="Draws per method.")
@click.option(
    "--bins",
    default="-6,-4,-2,0,2,4,6,8",
    show_default=True,
    help="Comma-separated bin edges of the first gen observable.",
)
@click.option("--fresh-simulation", is_flag=True, help="New simulation per experiment.")
@click.option(
    "--fixed-total",
    is_flag=True,
    help="Generate exactly --data-events per pseudo-data set, instead of a "
    "Poisson number of that mean (see bayesfold.studies.coverage).",
)
@click.option(
    "--data-events",
    default=None,
    type=int,
    help="Events per pseudo-data set [default: --events].",
)
@click.option(
    "--workers",
    default=1,
    show_default=True,
    help="Processes unfolding experiments side by side.",
)
@click.option("--seed", default=0, show_default=True)
@click.option("--overwrite", is_flag=True, help="Replace an existing coverage.json.")
@click.option(
    "--out",
    type=click.Path(file_okay=False, path_type=Path),
    default=Path("bayesfold-coverage"),
    show_default=True,
)
@click.pass_context
def coverage(
    ctx: click.Context,
    toy_name: str,
    method_names: str,
    experiments: int,
    events: int,
    iterations: int,
    replicas: int | None,
    bins: str,
    fresh_simulation: bool,
    fixed_total: bool,
    data_events: int | None,
    workers: int,
    overwrite: bool,
    seed: int,
    out: Path,
) -> None:
    """Coverage of each method's intervals on pseudo-experiments of a toy."""
    from bayesfold.methods import METHODS
    from bayesfold.studies import coverage as run_coverage
    from bayesfold.toys import TOYS

    if toy_name not in TOYS:
        raise click.BadParameter(
            f"unknown toy {toy_name!r}; choose one of {', '.join(TOYS)}.",
            param_hint="--toy",
        )
    names = [name.strip() for name in method_names.split(",") if name.strip()]
    unknown = [name for name in names if name not in METHODS]
    if unknown:
        raise click.BadParameter(
            f"unknown method(s) {', '.join(unknown)}; choose from "
            f"{', '.join(METHODS)}.",
            param_hint="--methods",
        )
    try:
        edges = [float(edge) for edge in bins.split(",")]
    except ValueError as error:
        raise click.BadParameter(str(error), param_hint="--bins") from error

    files = [out / "coverage.json", out / "coverage-draws.npz"]
    check_new(files, overwrite=overwrite)
    settings = {
        "toy": toy_name,
        "experiments": experiments,
        "events": events,
        "data_events": data_events if data_events is not None else events,
        "iterations": iterations,
        "replicas": replicas,
        "fresh_simulation": fresh_simulation,
        "poisson_total": not fixed_total,
        "seed": seed,
        "bins": edges,
    }
    options = {} if replicas is None else {"replicas": replicas}
    results: dict[str, CoverageResult] = {}
    for name in names:
        result = run_coverage(
            TOYS[toy_name](),
            method=name,
            experiments=experiments,
            bins=edges,
            events=events,
            data_events=data_events,
            iterations=iterations,
            fresh_simulation=fresh_simulation,
            poisson_total=not fixed_total,
            random_state=seed,
            progress=ctx.obj["progress"],
            workers=workers,
            **options,
        )
        results[name] = result
        click.echo(_coverage_line(result))
        # Written after every method, so that a long study stopped part-way
        # keeps what it has measured; the first write has checked the folder.
        _write_coverage(out, settings, results)
    click.echo(f"wrote {files[0]} and {files[1]}")


def _coverage_line(result: CoverageResult) -> str:
    accuracy = (
        f"triangular x1000 vs truth {1000 * result.triangular_mean:.2f} "
        f"+- {1000 * result.triangular_error:.2f}"
    )
    if np.isnan(result.coverage_68):
        return f"{result.method}: one draw, no interval; {accuracy}"
    return (
        f"{result.method}: 68 % coverage {result.coverage_68:.3f} "
        f"+- {result.coverage_68_error:.3f}, 95 % coverage "
        f"{result.coverage_95:.3f} +- {result.coverage_95_error:.3f}, pulls "
        f"{result.pull_mean:.2f} +- {result.pull_width:.2f}; {accuracy}"
        + _joint_line(result)
    )


def _joint_line(result: CoverageResult) -> str:
    """The joint chi2 test of a coverage line, where the method has one."""
    if np.isnan(result.chi2_median):
        return ""
    return (
        f"; joint chi2 median {result.chi2_median:.1f} (chi2 law "
        f"{result.chi2_median_expected:.1f}, ndf {result.chi2_ndf:g}), p < 0.05 in "
        f"{result.chi2_tail_fraction:.2f} +- {result.chi2_tail_fraction_error:.2f}"
        " of the experiments"
    )


def _write_coverage(
    out: Path, settings: dict[str, Any], results: dict[str, CoverageResult]
) -> None:
    """coverage.json (figures) and coverage-draws.npz (every experiment's draws)."""
    out.mkdir(parents=True, exist_ok=True)
    summary = {
        "settings": settings,
        "methods": {name: result.as_dict() for name, result in results.items()},
    }
    with atomic_path(out / "coverage.json", overwrite=True) as path:
        path.write_text(json.dumps(summary, indent=2))
    # Any: mypy would match the arrays against savez's allow_pickle keyword.
    arrays: dict[str, Any] = {"bins": np.asarray(settings["bins"])}
    for name, result in results.items():
        arrays[f"{name}_draws"] = result.draws
        arrays[f"{name}_truth"] = result.truth
    npz = out / "coverage-draws.npz"
    with atomic_path(npz, overwrite=True) as path, path.open("wb") as stream:
        np.savez_compressed(stream, **arrays)


#: Methods of `bayesfold compare` and `bayesfold stress` by default.
STUDY_METHODS = "bayesian,point,bootstrap,ibu,fbu"


def _study_options(function: Any) -> Any:
    """The options that `compare` and `stress` share."""
    options = [
        click.option(
            "--toy", "toy_name", default="shifted-gaussian", show_default=True
        ),
        click.option(
            "--methods",
            "method_names",
            default=STUDY_METHODS,
            show_default=True,
            help="Comma-separated methods (see `bayesfold methods`).",
        ),
        click.option(
            "--events", default=1000, show_default=True, help="Simulated events."
        ),
        click.option(
            "--data-events",
            default=None,
            type=int,
            help="Generated pseudo-data events [default: --events].",
        ),
        click.option("--iterations", default=6, show_default=True),
        click.option(
            "--replicas",
            default=None,
            type=int,
            help="Draws of each method with draws [default: each method's own].",
        ),
        click.option(
            "--bins",
            default="-6,-4,-2,0,2,4,6,8",
            show_default=True,
            help="Comma-separated bin edges of the first gen observable.",
        ),
        click.option(
            "--workers",
            default=1,
            show_default=True,
            help="Processes running methods side by side (1 to time them).",
        ),
        click.option("--seed", default=0, show_default=True),
        click.option("--overwrite", is_flag=True, help="Replace existing outputs."),
    ]
    for option in reversed(options):
        function = option(function)
    return function


@main.command("compare")
@_study_options
@click.option(
    "--out",
    type=click.Path(file_okay=False, path_type=Path),
    default=Path("bayesfold-compare"),
    show_default=True,
    help="Folder for compare.json, compare.png and compare.pdf.",
)
@click.pass_context
def compare_command(ctx: click.Context, out: Path, **study: Any) -> None:
    """Unfold one pseudo-data set of a toy with every method, side by side.

    Writes per method the triangular discriminator and chi2 against the
    analytic truth, the mean 68 % interval width and the wall time
    (compare.json), and one plot of every unfolded histogram (compare.png,
    compare.pdf).
    """
    from bayesfold.studies import compare

    settings, toy = _study_settings(study)
    targets = _study_targets(out, "compare", study["overwrite"])
    result = compare(toy, **_study_arguments(settings, ctx.obj["progress"]))

    for name, method in result.methods.items():
        click.echo(_method_line(name, method))
    figure = _plot_study(result, toy.name, truth_label="truth", references={})
    report = {"settings": settings, **result.as_dict(), "version": __version__}
    _write_study(targets, report, figure, study["overwrite"])
    click.echo(f"wrote {', '.join(str(path) for path in targets)}")


@main.command("stress")
@_study_options
@click.option(
    "--shape",
    type=click.Choice(["linear", "bump"]),
    default="linear",
    show_default=True,
    help="Reweighting of the truth: linear across the bins, or a Gaussian bump "
    "at their middle.",
)
@click.option(
    "--strength",
    default=0.5,
    show_default=True,
    type=float,
    help="Linear: weight from 1-A to 1+A across the bins; bump: 1+A at its peak.",
)
@click.option(
    "--out",
    type=click.Path(file_okay=False, path_type=Path),
    default=Path("bayesfold-stress"),
    show_default=True,
    help="Folder for stress.json, stress.png and stress.pdf.",
)
@click.pass_context
def stress_command(
    ctx: click.Context, shape: str, strength: float, out: Path, **study: Any
) -> None:
    """Unfold data from a reweighted truth; how much of the shape is recovered.

    The pseudo-data come from the toy's truth reweighted by a known function
    of the gen observable; the simulation is not reweighted. Writes, per
    method, the recovered fraction of the injected shape with its error and
    the comparison with the reweighted truth (stress.json), and a plot.
    """
    from bayesfold.studies import stress

    settings, toy = _study_settings(study)
    settings |= {"shape": shape, "strength": strength}
    targets = _study_targets(out, "stress", study["overwrite"])
    result = stress(
        toy,
        shape=shape,  # type: ignore[arg-type]  # click.Choice checked it
        strength=strength,
        **_study_arguments(settings, ctx.obj["progress"]),
    )

    comparison = result.comparison
    for name, method in comparison.methods.items():
        fraction = result.recovered_fraction[name]
        error = result.recovered_fraction_error[name]
        click.echo(
            f"{_method_line(name, method)}; recovered {fraction:.3f} +- {error:.3f}"
        )
    figure = _plot_study(
        comparison,
        toy.name,
        truth_label="reweighted truth",
        references={"truth before reweighting": result.unweighted_truth},
    )
    report = {"settings": settings, **result.as_dict(), "version": __version__}
    _write_study(targets, report, figure, study["overwrite"])
    click.echo(f"wrote {', '.join(str(path) for path in targets)}")


@main.command()
def methods() -> None:
    """List the unfolding methods."""
    from bayesfold.methods import METHODS

    for name, settings in METHODS.items():
        doc = (settings.__doc__ or "").strip().splitlines()
        click.echo(f"{name:12s} {doc[0] if doc else ''}")


@main.command("unfold")
@click.argument(
    "config_path", metavar="CONFIG", type=click.Path(dir_okay=False, path_type=Path)
)
@click.option(
    "--out",
    type=click.Path(file_okay=False, path_type=Path),
    default=None,
    help="Output folder (default: output.folder of the config).",
)
@click.option("--overwrite", is_flag=True, help="Replace existing outputs.")
@click.pass_context
def unfold_command(
    ctx: click.Context, config_path: Path, out: Path | None, overwrite: bool
) -> None:
    """Unfold the event files that CONFIG names and write every output.

    The config, the input files and branches, and the output folder are all
    checked before training: an error exits non-zero and writes nothing. An
    interrupt (Ctrl-C, SIGTERM) leaves no partial file behind.
    `bayesfold config --example` prints a commented config.
    """
    from bayesfold.config import load_config
    from bayesfold.job import run_job

    config = load_config(config_path)
    with _sigterm_as_exit():
        report = run_job(
            config,
            out=out,
            overwrite=True if overwrite else None,
            progress=ctx.obj["progress"],
        )
    result = report.result
    click.echo(
        f"{config.method.name}: {result.iterations} iterations, {result.n_draws} "
        f"draw(s) in {report.seconds:.1f} s; wrote {len(report.files)} files "
        f"to {out or config.output.folder}"
    )


@main.command("config")
@click.option("--example", is_flag=True, help="Print a commented example config.")
@click.option(
    "--check",
    "check_path",
    type=click.Path(dir_okay=False, path_type=Path),
    default=None,
    help="Check a config and read its inputs, without unfolding.",
)
def config_command(example: bool, check_path: Path | None) -> None:
    """Print a commented example config, or check one and its inputs."""
    from bayesfold.config import EXAMPLE_CONFIG, load_config
    from bayesfold.job import read_inputs

    if example == (check_path is not None):
        raise click.UsageError("give either --example or --check CONFIG.")
    if example:
        click.echo(EXAMPLE_CONFIG, nl=False)
        return
    assert check_path is not None
    simulation, data = read_inputs(load_config(check_path))
    click.echo(
        f"{check_path}: valid; {simulation.n_events} simulated events "
        f"({simulation.gen.shape[1]} gen, {simulation.reco.shape[1]} reco "
        f"features), {data.n_events} data events."
    )


@contextmanager
def _sigterm_as_exit() -> Iterator[None]:
    """Turn SIGTERM into SystemExit inside the block.

    Python turns SIGINT into KeyboardInterrupt; SIGTERM would end the process
    without unwinding. As an exception, both let the atomic writers remove
    their temporaries on the way out.
    """

    def terminate(signum: int, frame: Any) -> None:
        logger.warning("terminated by signal %d; no partial output is left", signum)
        raise SystemExit(128 + signum)

    previous = signal.signal(signal.SIGTERM, terminate)
    try:
        yield
    finally:
        signal.signal(signal.SIGTERM, previous)


def _study_settings(study: dict[str, Any]) -> tuple[dict[str, Any], Any]:
    """Checked settings of `compare` and `stress`, and the toy they name."""
    from bayesfold.methods import METHODS
    from bayesfold.toys import TOYS

    if study["toy_name"] not in TOYS:
        raise click.BadParameter(
            f"unknown toy {study['toy_name']!r}; choose one of {', '.join(TOYS)}.",
            param_hint="--toy",
        )
    names = [name.strip() for name in study["method_names"].split(",")]
    names = [name for name in names if name]
    unknown = [name for name in names if name not in METHODS]
    if unknown or not names:
        raise click.BadParameter(
            f"unknown method(s) {', '.join(unknown)}; choose from "
            f"{', '.join(METHODS)}.",
            param_hint="--methods",
        )
    try:
        edges = [float(edge) for edge in study["bins"].split(",")]
    except ValueError as error:
        raise click.BadParameter(str(error), param_hint="--bins") from error
    settings = {
        "toy": study["toy_name"],
        "methods": names,
        "events": study["events"],
        "data_events": (
            study["events"] if study["data_events"] is None else study["data_events"]
        ),
        "iterations": study["iterations"],
        "replicas": study["replicas"],
        "bins": edges,
        "workers": study["workers"],
        "seed": study["seed"],
    }
    return settings, TOYS[study["toy_name"]]()


def _study_arguments(settings: dict[str, Any], progress: bool) -> dict[str, Any]:
    """Keyword arguments of `studies.compare` from the checked settings."""
    return {
        "bins": settings["bins"],
        "methods": settings["methods"],
        "events": settings["events"],
        "data_events": settings["data_events"],
        "iterations": settings["iterations"],
        "replicas": settings["replicas"],
        "random_state": settings["seed"],
        "progress": progress,
        "workers": settings["workers"],
    }


def _study_targets(out: Path, name: str, overwrite: bool) -> list[Path]:
    """The JSON and plot files of a study, refused before it runs if they exist."""
    from bayesfold.io.atomic import check_new

    targets = [out / f"{name}.json", out / f"{name}.png", out / f"{name}.pdf"]
    check_new(targets, overwrite=overwrite)
    return targets


def _write_study(
    targets: list[Path], report: dict[str, Any], figure: Any, overwrite: bool
) -> None:
    """The JSON report and the plot, all three files or none."""
    from bayesfold.io.atomic import atomic_paths
    from bayesfold.plotting import DEFAULT_DPI

    json_path, *plots = targets
    json_path.parent.mkdir(parents=True, exist_ok=True)
    with atomic_paths(targets, overwrite=overwrite) as staged:
        staged[json_path].write_text(json.dumps(report, indent=2) + "\n")
        for plot in plots:
            figure.savefig(staged[plot], format=plot.suffix[1:], dpi=DEFAULT_DPI)


def _method_line(name: str, method: Any) -> str:
    width = method.mean_interval_width
    return (
        f"{name}: 10^3 x triangular {1000 * method.triangular_vs_truth:.2f}, chi2 "
        f"{method.chi2_vs_truth:.1f} / {method.ndf} ({method.chi2_covariance}), "
        f"68 % width {'n/a' if np.isnan(width) else f'{width:.1f}'}, "
        f"{method.seconds:.1f} s"
    )


def _plot_study(
    result: Any, toy_name: str, *, truth_label: str, references: dict[str, Any]
) -> Any:
    """One figure of every method's unfolded histogram of a study."""
    from bayesfold.plotting import Band, plot_compare

    methods = result.methods.values()
    return plot_compare(
        result.bins,
        truth=result.truth,
        unfolded={m.method: m.mean for m in methods},
        bands={
            m.method: Band(m.lower_68, m.upper_68, "68 %")
            for m in methods
            if m.draws > 1
        },
        references={"prior": result.prior, **references},
        truth_label=truth_label,
        xlabel="x (particle level)",
        title=f"{toy_name}: {result.n_data} detector-level events",
    )


def _write_demo_inputs(
    folder: Path,
    file_format: str,
    method: str,
    events: int,
    iterations: int,
    seed: int,
    overwrite: bool,
) -> None:
    from bayesfold.job import write_demo_inputs

    files = write_demo_inputs(
        folder,
        file_format=file_format,
        events=events,
        method=method,
        iterations=iterations,
        seed=seed,
        overwrite=overwrite,
    )
    click.echo(f"wrote {', '.join(map(str, files))}")
    click.echo(f"run: bayesfold unfold {files[-1]}")


def _run_demo(
    method: str, events: int, iterations: int, seed: int, progress: bool
) -> tuple[dict[str, Any], Any]:
    from bayesfold.methods import unfold
    from bayesfold.metrics import triangular_discriminator
    from bayesfold.plotting import Band, plot_unfolded
    from bayesfold.toys import ShiftedGaussianToy

    toy = ShiftedGaussianToy()
    rng = np.random.default_rng(seed)
    simulation = toy.simulate(events, rng)
    measured = toy.measure(events, rng)
    logger.info("unfolding %d simulated against %d measured events", events, events)

    start = time.perf_counter()
    result = unfold(
        simulation,
        measured.data,
        method=method,
        iterations=iterations,
        random_state=seed,
        progress=progress,
    )
    seconds = time.perf_counter() - start

    unfolded = np.asarray(result.histogram(0, DEMO_BINS).values(), dtype=float)
    prior = np.asarray(result.prior_histogram(0, DEMO_BINS).values(), dtype=float)
    truth = toy.expected_truth(DEMO_BINS, measured.n_generated)
    data_counts = np.histogram(measured.data.data[:, 0], DEMO_BINS)[0]
    summary: dict[str, Any] = {
        "method": result.method,
        "iterations": iterations,
        "n_sim": simulation.n_events,
        "n_data": measured.data.n_events,
        "seed": seed,
        "seconds": seconds,
        "bin_edges": DEMO_BINS.tolist(),
        "unfolded": unfolded.tolist(),
        "truth_expected": truth.tolist(),
        "prior": prior.tolist(),
        "data": data_counts.tolist(),
        "metrics": {
            "triangular_unfolded_vs_truth": 1000
            * triangular_discriminator(unfolded, truth),
            "triangular_prior_vs_truth": 1000 * triangular_discriminator(prior, truth),
        },
        "clipped": int(sum(result.clipped_counts().values())),
        "effective_size": float(np.mean(result.effective_size())),
        "version": __version__,
    }
    bands: tuple[Band, ...] = ()
    if result.n_draws > 1:
        posterior = result.posterior(0, DEMO_BINS)
        summary["n_draws"] = result.n_draws
        summary["draws"] = posterior.draws.tolist()
        for name in ("lower_68", "upper_68", "lower_95", "upper_95"):
            summary[name] = getattr(posterior, name).tolist()
        summary["covariance"] = posterior.covariance.tolist()
        bands = (
            Band(posterior.lower_68, posterior.upper_68, "68 % interval"),
            Band(posterior.lower_95, posterior.upper_95, "95 % interval"),
        )
    figure = plot_unfolded(
        DEMO_BINS,
        unfolded=unfolded,
        prior=prior,
        truth=truth,
        data=data_counts.astype(float),
        bands=bands,
        xlabel="x (particle level; data at detector level)",
        title=f"shifted-Gaussian toy, {result.method}",
    )
    return summary, figure


if __name__ == "__main__":
    main()
