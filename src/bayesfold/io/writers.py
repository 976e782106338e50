"""Result files: weight columns, histograms, summaries and HEPData tables.

Each writer takes an :class:`~bayesfold.result.UnfoldingResult` and writes one
output atomically (:mod:`bayesfold.io.atomic`): to a hidden temporary first,
moved into place only when complete, and never over an existing file unless
``overwrite`` is true. :func:`write_outputs` writes several at once, all or
nothing. The file layouts:

``weights.parquet`` and ``weights.root`` (TTree ``weights``)
    One row per simulated event, in input order: ``event`` (the row index),
    any identifier columns passed along, ``weight_nominal`` (the mean over
    draws; the only draw of a point estimate) and one column per draw,
    ``weight_draw_000``, ... Each weight is the event's unfolded weight,
    :meth:`~bayesfold.result.UnfoldingResult.weights`: ``sim_weights``
    included, normalised to the data, zero outside ``pass_gen``. A histogram of
    any gen-level quantity filled with a column is that draw's unfolded
    distribution.
``histograms.json``
    :class:`hist.Hist` objects in the UHI JSON format (``uhi.io.json``): for
    each observable ``<name>``, the posterior mean with its variance over draws
    (Weight storage), and ``<name>/draws``, one row per draw.
``summary.json``
    Per observable: bin edges, posterior mean, median and standard deviation,
    68 % and 95 % central credible intervals, bin covariance and correlation.
``hepdata/`` and ``hepdata.tar.gz``
    HEPData tables made with hepdata_lib and checked with the HEPData
    validator: per observable the posterior mean with its 68 % interval as an
    asymmetric uncertainty, and the bin covariance.
``posterior.nc``
    The full result (:mod:`bayesfold.io.posterior`).
"""

from __future__ import annotations

import difflib
import json
import logging
import re
import tarfile
import warnings
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import hist
import numpy as np
from numpy.typing import ArrayLike, NDArray

from bayesfold._version import __version__
from bayesfold.exceptions import (
    ConfigurationError,
    HEPDataValidationError,
    ShapeMismatchError,
)
from bayesfold.io.atomic import atomic_path, atomic_paths, check_new
from bayesfold.io.spec import ObservableSpec
from bayesfold.result import PosteriorSummary, UnfoldingResult

__all__ = [
    "FORMATS",
    "OUTPUT_NAMES",
    "hepdata_submission",
    "output_paths",
    "posterior_histograms",
    "posterior_summary",
    "read_histograms",
    "validate_hepdata",
    "weight_columns",
    "write_hepdata",
    "write_histograms",
    "write_outputs",
    "write_summary",
    "write_weights_parquet",
    "write_weights_root",
]

logger = logging.getLogger(__name__)

#: Every output :func:`write_outputs` knows, in the order it writes them.
FORMATS = (
    "posterior",
    "weights-parquet",
    "weights-root",
    "histograms",
    "summary",
    "hepdata",
)
#: File (or folder) names of each output inside the output folder.
OUTPUT_NAMES: dict[str, tuple[str, ...]] = {
    "posterior": ("posterior.nc",),
    "weights-parquet": ("weights.parquet",),
    "weights-root": ("weights.root",),
    "histograms": ("histograms.json",),
    "summary": ("summary.json",),
    "hepdata": ("hepdata", "hepdata.tar.gz"),
}
#: Key of the HEPData archive in the mapping :func:`write_outputs` returns.
HEPDATA_ARCHIVE = "hepdata-archive"
#: Outputs that report observables and so need at least one.
_BINNED_FORMATS = ("histograms", "summary", "hepdata")

#: Name of the TTree of per-event weights in the ROOT file.
WEIGHTS_TREE = "weights"
TREE_TITLE = "bayesfold unfolded weights per simulated event"
#: Events per TTree basket: a few MB per weight column.
ROOT_BASKET_EVENTS = 500_000
EVENT_COLUMN = "event"
NOMINAL_COLUMN = "weight_nominal"
DRAW_COLUMN_PREFIX = "weight_draw_"
#: Draw columns are numbered with at least this many digits.
DRAW_DIGITS = 3

#: Suffix of the per-draw histogram's key in ``histograms.json``.
DRAWS_KEY = "/draws"
#: Observable names appear in file keys and HEPData table names (64 characters
#: at most, with " covariance" appended).
_NAME = re.compile(r"[A-Za-z0-9_.+-]{1,48}")
HEPDATA_INTERVAL_LABEL = "68% credible interval"
HEPDATA_LOCATION = "bayesfold output"


@dataclass(frozen=True)
class _Options:
    observables: tuple[ObservableSpec, ...]
    iteration: int
    config: Mapping[str, Any] | None
    identifiers: Mapping[str, ArrayLike] | None


# -- per-event weight columns --------------------------------------------------


def weight_columns(
    result: UnfoldingResult,
    *,
    iteration: int = -1,
    identifiers: Mapping[str, ArrayLike] | None = None,
) -> dict[str, NDArray[Any]]:
    """Per-event columns: event index, identifiers, nominal and per-draw weights.

    Parameters
    ----------
    result : UnfoldingResult
    iteration : int
        Iteration whose weights to write; the last by default.
    identifiers : mapping of str to array_like, optional
        Further per-event columns aligned with the simulation's rows (run and
        event numbers from the input file, say), written after ``event``.

    Returns
    -------
    dict of str to ndarray
        Columns of length n_sim, in order (module docstring).
    """
    weights = result.weights(iteration)
    n_events = result.simulation.n_events
    columns: dict[str, NDArray[Any]] = {EVENT_COLUMN: np.arange(n_events)}
    columns.update(_identifier_columns(identifiers, n_events))

    columns[NOMINAL_COLUMN] = weights.mean(axis=0)
    width = max(DRAW_DIGITS, len(str(len(weights) - 1)))
    for draw, values in enumerate(weights):
        columns[f"{DRAW_COLUMN_PREFIX}{draw:0{width}d}"] = values
    return columns


def write_weights_parquet(
    result: UnfoldingResult,
    path: Path | str,
    *,
    overwrite: bool = False,
    iteration: int = -1,
    identifiers: Mapping[str, ArrayLike] | None = None,
) -> Path:
    """Write :func:`weight_columns` as a Parquet file, atomically."""
    options = _Options((), iteration, None, identifiers)
    return _write_one(_write_parquet, result, Path(path), overwrite, options)


def write_weights_root(
    result: UnfoldingResult,
    path: Path | str,
    *,
    overwrite: bool = False,
    iteration: int = -1,
    identifiers: Mapping[str, ArrayLike] | None = None,
) -> Path:
    """Write :func:`weight_columns` as the TTree ``weights`` of a ROOT file."""
    options = _Options((), iteration, None, identifiers)
    return _write_one(_write_root, result, Path(path), overwrite, options)


def _identifier_columns(
    identifiers: Mapping[str, ArrayLike] | None, n_events: int
) -> dict[str, NDArray[Any]]:
    columns = {}
    for name, values in (identifiers or {}).items():
        if name == EVENT_COLUMN or name.startswith("weight_"):
            raise ConfigurationError(
                f"identifier column {name!r} clashes with a weight file column; "
                f"rename it (names other than {EVENT_COLUMN!r} and weight_*)."
            )
        array = np.asarray(values)
        if array.shape != (n_events,) or array.dtype.kind not in "biuf":
            raise ShapeMismatchError(
                f"identifier column {name!r} must hold one number per simulated "
                f"event, shape ({n_events},); got shape {array.shape} of dtype "
                f"{array.dtype}. Pass the column read with the simulation."
            )
        columns[name] = array
    return columns


def _write_parquet(result: UnfoldingResult, path: Path, options: _Options) -> None:
    import pyarrow as pa
    import pyarrow.parquet as pq

    columns = weight_columns(
        result, iteration=options.iteration, identifiers=options.identifiers
    )
    table = pa.table(columns)
    about = json.dumps(_provenance(result, options.iteration))
    table = table.replace_schema_metadata({"bayesfold": about})
    pq.write_table(table, path)


def _write_root(result: UnfoldingResult, path: Path, options: _Options) -> None:
    import uproot

    columns = weight_columns(
        result, iteration=options.iteration, identifiers=options.identifiers
    )
    types = {name: column.dtype for name, column in columns.items()}
    n_events = result.simulation.n_events
    with uproot.recreate(path) as file:
        # mktree, not assignment: assignment writes an RNTuple since uproot 5.7.
        tree = file.mktree(WEIGHTS_TREE, types, title=TREE_TITLE)
        for start in range(0, n_events, ROOT_BASKET_EVENTS):
            rows = slice(start, start + ROOT_BASKET_EVENTS)
            tree.extend({name: column[rows] for name, column in columns.items()})


# -- histograms and summaries --------------------------------------------------


def posterior_histograms(
    result: UnfoldingResult,
    observables: Sequence[ObservableSpec],
    *,
    iteration: int = -1,
) -> dict[str, hist.Hist]:
    """Histograms of each observable: the posterior mean and every draw.

    Returns ``{name: mean, name + "/draws": draws}``. ``mean`` has Weight
    storage: the mean over draws and, as variance, the variance over draws
    (for a single draw, the sum of squared weights); ``draws`` has an Integer
    ``draw`` axis before the observable's. Neither has flow bins: events
    outside the edges are not counted.
    """
    out = {}
    for spec in _checked_observables(observables):
        axis = hist.axis.Variable(
            spec.edges, name=spec.name, label=spec.label, flow=False
        )
        unfolded = result.histogram(spec.values, spec.edges, iteration=iteration)
        mean = hist.Hist(axis, storage=hist.storage.Weight())
        mean.view()[...] = unfolded.view()
        out[spec.name] = mean
        out[spec.name + DRAWS_KEY] = _draws_histogram(result, spec, axis, iteration)
    return out


def _draws_histogram(
    result: UnfoldingResult,
    spec: ObservableSpec,
    axis: hist.axis.Variable,
    iteration: int,
) -> hist.Hist:
    draws = result.histogram_draws(spec.values, spec.edges, iteration=iteration)
    draw_axis = hist.axis.Integer(
        0, len(draws), name="draw", label="posterior draw", flow=False
    )
    histogram = hist.Hist(draw_axis, axis, storage=hist.storage.Double())
    histogram.view()[...] = draws
    return histogram


def write_histograms(
    result: UnfoldingResult,
    path: Path | str,
    *,
    observables: Sequence[ObservableSpec],
    overwrite: bool = False,
    iteration: int = -1,
) -> Path:
    """Write :func:`posterior_histograms` as UHI JSON, atomically."""
    options = _Options(tuple(observables), iteration, None, None)
    return _write_one(_write_histograms, result, Path(path), overwrite, options)


def read_histograms(path: Path | str) -> dict[str, hist.Hist]:
    """Read a file written by :func:`write_histograms` back into hist objects."""
    import uhi.io.json

    text = Path(path).read_text()
    stored = json.loads(text, object_hook=uhi.io.json.object_hook)
    return {name: hist.Hist(value) for name, value in stored.items()}


def _write_histograms(result: UnfoldingResult, path: Path, options: _Options) -> None:
    import uhi.io.json

    histograms = posterior_histograms(
        result, options.observables, iteration=options.iteration
    )
    path.write_text(json.dumps(histograms, default=uhi.io.json.default) + "\n")


def posterior_summary(
    result: UnfoldingResult,
    observables: Sequence[ObservableSpec],
    *,
    iteration: int = -1,
) -> dict[str, Any]:
    """JSON-ready summary: provenance, and per observable its posterior.

    Each observable holds ``label`` and the lists of
    :meth:`~bayesfold.result.PosteriorSummary.as_dict`: ``bin_edges``,
    ``mean``, ``median``, ``std``, ``lower_68``, ``upper_68``, ``lower_95``,
    ``upper_95``, ``covariance`` and ``correlation``.
    """
    observed = {}
    for spec in _checked_observables(observables):
        summary = result.posterior(spec.values, spec.edges, iteration=iteration)
        observed[spec.name] = {"label": spec.label, **summary.as_dict()}
    return {**_provenance(result, iteration), "observables": observed}


def write_summary(
    result: UnfoldingResult,
    path: Path | str,
    *,
    observables: Sequence[ObservableSpec],
    overwrite: bool = False,
    iteration: int = -1,
) -> Path:
    """Write :func:`posterior_summary` as JSON, atomically."""
    options = _Options(tuple(observables), iteration, None, None)
    return _write_one(_write_summary, result, Path(path), overwrite, options)


def _write_summary(result: UnfoldingResult, path: Path, options: _Options) -> None:
    summary = posterior_summary(
        result, options.observables, iteration=options.iteration
    )
    path.write_text(json.dumps(summary, indent=2) + "\n")


# -- HEPData -------------------------------------------------------------------


def hepdata_submission(
    result: UnfoldingResult,
    observables: Sequence[ObservableSpec],
    *,
    iteration: int = -1,
) -> Any:
    """A :class:`hepdata_lib.Submission` with two tables per observable.

    Table ``<name>``: the bins, the posterior mean of the unfolded counts and
    the central 68 % credible interval as an asymmetric uncertainty (bins
    whose interval has zero width carry none). Table ``<name> covariance``:
    the covariance of the counts over draws, bin by bin.
    """
    submission = _hepdata_lib().Submission()
    submission.comment = (
        f"Unfolded with bayesfold {__version__}, method {result.method}, "
        f"{result.n_draws} draws."
    )
    for spec in _checked_observables(observables):
        summary = result.posterior(spec.values, spec.edges, iteration=iteration)
        submission.add_table(_distribution_table(spec, summary))
        submission.add_table(_covariance_table(spec, summary))
    return submission


def _distribution_table(spec: ObservableSpec, summary: PosteriorSummary) -> Any:
    hepdata_lib = _hepdata_lib()
    table = hepdata_lib.Table(spec.name)
    table.description = (
        f"Unfolded distribution of {spec.label}: posterior mean of the counts "
        f"over {len(summary.draws)} draws, normalised to the data; the uncertainty "
        "is the central 68 % credible interval of the draws."
    )
    table.location = HEPDATA_LOCATION
    table.add_variable(_bins_variable(spec.label, spec.edges))

    counts = hepdata_lib.Variable(
        "Events",
        is_independent=False,
        is_binned=False,
        zero_uncertainties_warning=False,
    )
    counts.values = summary.mean.tolist()
    interval = hepdata_lib.Uncertainty(HEPDATA_INTERVAL_LABEL, is_symmetric=False)
    interval.set_values_from_intervals(
        list(zip(summary.lower_68, summary.upper_68, strict=True)), summary.mean
    )
    counts.add_uncertainty(interval)
    table.add_variable(counts)
    return table


def _covariance_table(spec: ObservableSpec, summary: PosteriorSummary) -> Any:
    hepdata_lib = _hepdata_lib()
    table = hepdata_lib.Table(f"{spec.name} covariance")
    table.description = (
        f"Covariance over the posterior draws of the unfolded counts of "
        f"{spec.label}, between the bins of the two axes."
    )
    table.location = HEPDATA_LOCATION
    n_bins = len(spec.edges) - 1
    first, second = np.meshgrid(np.arange(n_bins), np.arange(n_bins), indexing="ij")
    for index, suffix in ((first, "first bin"), (second, "second bin")):
        table.add_variable(_bins_variable(f"{spec.label}, {suffix}", spec.edges, index))

    covariance = hepdata_lib.Variable(
        "Covariance", is_independent=False, is_binned=False
    )
    covariance.values = summary.covariance.ravel().tolist()
    table.add_variable(covariance)
    return table


def _bins_variable(
    name: str, edges: NDArray[np.float64], index: NDArray[np.int_] | None = None
) -> Any:
    bins = np.arange(len(edges) - 1) if index is None else index.ravel()
    variable = _hepdata_lib().Variable(name, is_independent=True, is_binned=True)
    variable.values = [(float(edges[i]), float(edges[i + 1])) for i in bins]
    return variable


def write_hepdata(
    result: UnfoldingResult,
    folder: Path | str,
    *,
    observables: Sequence[ObservableSpec],
    overwrite: bool = False,
    iteration: int = -1,
    archive: Path | str | None = None,
) -> Path:
    """Write the HEPData tables into ``folder``, validated, atomically.

    ``folder`` receives ``submission.yaml`` and one YAML file per table;
    with ``archive``, the same files also go into that ``.tar.gz`` (the form
    HEPData uploads take). Raises :class:`HEPDataValidationError` if the
    HEPData validator rejects the tables.
    """
    targets = [Path(folder)] + ([] if archive is None else [Path(archive)])
    options = _Options(tuple(observables), iteration, None, None)
    with atomic_paths(targets, directories=targets[:1], overwrite=overwrite) as s:
        _write_hepdata(result, [s[target] for target in targets], options)
    return Path(folder)


def validate_hepdata(folder: Path | str) -> None:
    """Check a HEPData submission folder with the HEPData validator.

    Raises
    ------
    HEPDataValidationError
        With the validator's messages, if the submission is invalid.
    """
    _hepdata_lib()
    from hepdata_validator.full_submission_validator import (
        FullSubmissionValidator,
    )

    validator = FullSubmissionValidator()
    with warnings.catch_warnings():
        # hepdata_validator 0.3 leaves the YAML files it reads to the garbage
        # collector, which warns about each one.
        warnings.filterwarnings("ignore", "unclosed file", ResourceWarning)
        valid = validator.validate(directory=str(folder))
    if valid:
        return
    messages = [
        f"{Path(name).name}: {message.message}"
        for name, found in validator.get_messages().items()
        for message in found
    ]
    raise HEPDataValidationError(
        "the HEPData tables fail validation: " + "; ".join(messages) + ". This "
        "is a bug in bayesfold's HEPData writer; please report it."
    )


def _hepdata_lib() -> Any:
    """hepdata_lib, imported without the deprecation its validator triggers."""
    with warnings.catch_warnings():
        # hepdata_validator 0.3 imports jsonschema's RefResolver API,
        # deprecated in jsonschema 4.18: their code, not the caller's.
        warnings.filterwarnings("ignore", r"jsonschema\.", DeprecationWarning)
        import hepdata_lib
    return hepdata_lib


def _write_hepdata(
    result: UnfoldingResult, paths: list[Path], options: _Options
) -> None:
    import yaml

    folder = paths[0]
    submission = hepdata_submission(
        result, options.observables, iteration=options.iteration
    )
    # Submission.create_files would also write submission.tar.gz into the
    # working directory; the header is written here and each table by itself.
    header = {
        "data_license": submission.get_license(),
        "comment": submission.comment,
        "additional_resources": submission.additional_resources,
    }
    with (folder / "submission.yaml").open("w") as stream:
        yaml.safe_dump(header, stream, default_flow_style=False, explicit_start=True)
    for table in submission.tables:
        table.write_output(str(folder))
    validate_hepdata(folder)

    if len(paths) > 1:
        with tarfile.open(paths[1], "w:gz") as tar:
            for file in sorted(folder.iterdir()):
                tar.add(file, arcname=file.name)


# -- all outputs ---------------------------------------------------------------


def output_paths(
    out_dir: Path | str, formats: Sequence[str] = FORMATS
) -> dict[str, Path]:
    """Where :func:`write_outputs` puts each output, by format name.

    The HEPData folder is under ``"hepdata"`` and its archive under
    ``"hepdata-archive"``.
    """
    out = Path(out_dir)
    paths = {}
    for name in _checked_formats(formats):
        main, *extra = OUTPUT_NAMES[name]
        paths[name] = out / main
        if extra:
            paths[HEPDATA_ARCHIVE] = out / extra[0]
    return paths


def write_outputs(
    result: UnfoldingResult,
    out_dir: Path | str,
    *,
    observables: Sequence[ObservableSpec],
    overwrite: bool = False,
    config: Mapping[str, Any] | None = None,
    formats: Sequence[str] = FORMATS,
    iteration: int = -1,
    identifiers: Mapping[str, ArrayLike] | None = None,
) -> dict[str, Path]:
    """Write every requested output of a result into ``out_dir``, all or nothing.

    Parameters
    ----------
    result : UnfoldingResult
    out_dir : path
        Output folder; created (with its parents) if missing.
    observables : sequence of ObservableSpec
        What the histograms, summary and HEPData tables report.
    overwrite : bool
        Replace existing outputs. Without it, if any output exists, nothing
        is written and :class:`~bayesfold.exceptions.OutputExistsError` names
        them all.
    config : mapping, optional
        The settings of the run, stored in the posterior file.
    formats : sequence of str
        Which of :data:`FORMATS` to write; all by default.
    iteration : int
        Iteration whose weights to report; the last by default.
    identifiers : mapping of str to array_like, optional
        Extra per-event columns for the weight files (:func:`weight_columns`).

    Returns
    -------
    dict of str to Path
        :func:`output_paths` of the formats written.

    Notes
    -----
    Every output is written to a temporary first; only when all are complete
    are they moved into place. If anything fails or is interrupted (Ctrl-C
    included) before that, no output appears, no temporary is left, and an
    output folder this call created is removed again if empty. Existing files
    are touched only with ``overwrite``, and are put back if the call fails.
    """
    targets = output_paths(out_dir, formats)
    chosen = [name for name in targets if name in FORMATS]
    if any(name in _BINNED_FORMATS for name in chosen):
        _checked_observables(observables, required=True)
    _checked_iteration(result, iteration)
    check_new(list(targets.values()), overwrite=overwrite)
    options = _Options(tuple(observables), iteration, config, identifiers)

    created = _make_folder(Path(out_dir))
    try:
        _write_all(result, targets, chosen, overwrite, options)
    except BaseException:
        if created:
            _remove_empty_folders(Path(out_dir), created)
        raise
    logger.info("wrote %s", ", ".join(str(path) for path in targets.values()))
    return targets


def _write_all(
    result: UnfoldingResult,
    targets: dict[str, Path],
    chosen: list[str],
    overwrite: bool,
    options: _Options,
) -> None:
    folders = [targets["hepdata"]] if "hepdata" in targets else []
    paths = list(targets.values())
    with atomic_paths(paths, directories=folders, overwrite=overwrite) as staged:
        for name in chosen:
            own = [staged[targets[name]]]
            if name == "hepdata":
                own.append(staged[targets[HEPDATA_ARCHIVE]])
            logger.debug("writing %s", name)
            _WRITERS[name](result, own, options)


def _posterior(result: UnfoldingResult, paths: list[Path], options: _Options) -> None:
    from bayesfold.io.posterior import to_datatree, write_datatree

    write_datatree(to_datatree(result, config=options.config), paths[0])


def _single(
    writer: Callable[[UnfoldingResult, Path, _Options], None],
) -> Callable[[UnfoldingResult, list[Path], _Options], None]:
    def write(result: UnfoldingResult, paths: list[Path], options: _Options) -> None:
        writer(result, paths[0], options)

    return write


_WRITERS: dict[str, Callable[[UnfoldingResult, list[Path], _Options], None]] = {
    "posterior": _posterior,
    "weights-parquet": _single(_write_parquet),
    "weights-root": _single(_write_root),
    "histograms": _single(_write_histograms),
    "summary": _single(_write_summary),
    "hepdata": _write_hepdata,
}


def _write_one(
    writer: Callable[[UnfoldingResult, Path, _Options], None],
    result: UnfoldingResult,
    path: Path,
    overwrite: bool,
    options: _Options,
) -> Path:
    with atomic_path(path, overwrite=overwrite) as temporary:
        writer(result, temporary, options)
    return path


def _checked_formats(formats: Sequence[str]) -> list[str]:
    if isinstance(formats, str):
        formats = [formats]
    for name in formats:
        if name not in FORMATS:
            close = difflib.get_close_matches(name, FORMATS, n=1)
            hint = f" Did you mean {close[0]!r}?" if close else ""
            raise ConfigurationError(
                f"unknown output format {name!r}; choose from "
                f"{', '.join(FORMATS)}.{hint}"
            )
    if len(set(formats)) != len(formats):
        raise ConfigurationError(
            f"each output format must be named once; got {list(formats)}."
        )
    return [name for name in FORMATS if name in formats]


def _checked_observables(
    observables: Sequence[ObservableSpec], *, required: bool = False
) -> tuple[ObservableSpec, ...]:
    specs = tuple(observables)
    if required and not specs:
        raise ConfigurationError(
            "histograms, summary and HEPData tables need at least one observable; "
            "pass observables=[ObservableSpec(...)], or leave those formats out."
        )
    for spec in specs:
        if not isinstance(spec, ObservableSpec):
            raise ConfigurationError(
                f"observables must be ObservableSpec objects; got {spec!r}."
            )
        if not _NAME.fullmatch(spec.name):
            raise ConfigurationError(
                f"observable name {spec.name!r} cannot name files and tables: "
                "use 1 to 48 letters, digits, '_', '.', '+' or '-'."
            )
    names = [spec.name.lower() for spec in specs]
    if len(set(names)) != len(names):
        raise ConfigurationError(
            f"observable names must differ (ignoring case, as HEPData file names "
            f"do); got {[spec.name for spec in specs]}."
        )
    return specs


def _provenance(result: UnfoldingResult, iteration: int) -> dict[str, Any]:
    return {
        "method": result.method,
        "iterations": result.iterations,
        "iteration": _checked_iteration(result, iteration),
        "draws": result.n_draws,
        "normalize": "data",
        "random_state": str(result.random_state),
        "bayesfold_version": __version__,
    }


def _checked_iteration(result: UnfoldingResult, iteration: int) -> int:
    """The 0-based index of ``iteration`` (negative counts from the end)."""
    if not -result.iterations <= iteration < result.iterations:
        raise ConfigurationError(
            f"iteration {iteration} is out of range: the result has "
            f"{result.iterations} iterations (0 to {result.iterations - 1}, or "
            "negative from the end)."
        )
    return range(result.iterations)[iteration]


def _make_folder(folder: Path) -> list[Path]:
    """Create ``folder`` and missing parents; return those created, deepest last."""
    missing = [path for path in (folder, *folder.parents) if not path.exists()]
    folder.mkdir(parents=True, exist_ok=True)
    return missing[::-1]


def _remove_empty_folders(folder: Path, created: list[Path]) -> None:
    for path in reversed(created):
        try:
            path.rmdir()
        except OSError:
            break
