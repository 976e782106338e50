"""The run configuration: a TOML file, checked completely before anything runs.

``bayesfold unfold CONFIG`` reads one file that names the inputs, the method,
the observables to report and the outputs (``bayesfold config --example``
prints a commented one, :data:`EXAMPLE_CONFIG`). It is parsed with the standard
library's :mod:`tomllib` and checked here with plain dataclasses:

- an unknown key is an error that suggests the closest valid key;
- every error names the key's dotted path (``simulation.gen.x``), the value
  found and the fix;
- paths are relative to the config file's folder;
- features, weights and selections are column expressions
  (:mod:`bayesfold.io.expressions`), parsed here and evaluated by the readers.

Whether the named files, trees and branches exist is checked by the readers
(:mod:`bayesfold.io.readers`), which the command line runs before it trains
or writes anything.
"""

from __future__ import annotations

import dataclasses
import difflib
import re
import tomllib
import typing
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
from numpy.typing import NDArray

from bayesfold.exceptions import (
    ConfigFileError,
    ExpressionError,
    UnknownConfigKeyError,
)
from bayesfold.io.expressions import Expression, parse_expression
from bayesfold.io.readers import DEFAULT_STEP_SIZE, FORMATS, SUFFIXES
from bayesfold.io.spec import ObservableSpec

__all__ = [
    "EXAMPLE_CONFIG",
    "Config",
    "MethodConfig",
    "ObservableConfig",
    "OutputConfig",
    "SourceConfig",
    "load_config",
    "parse_config",
]

#: Iterations of the OmniFold loop unless ``method.iterations`` is given.
DEFAULT_ITERATIONS = 4

#: Output folder, relative to the config file, unless ``output.folder`` is given.
DEFAULT_OUTPUT_FOLDER = "bayesfold-output"

#: File formats of the plots unless ``output.plots`` is given.
DEFAULT_PLOT_FORMATS = ("png", "pdf")

#: Plot styles that ``output.style`` accepts: mplhep's experiment styles
#: (:data:`bayesfold.plotting.EXPERIMENT_STYLES`), or "default" (matplotlib's).
STYLES = ("default", "ATLAS", "ALICE", "CMS", "LHCb")

#: File formats of plots that ``output.plots`` accepts.
PLOT_FORMATS = ("png", "pdf", "svg")

_NAME = re.compile(r"^[A-Za-z0-9_.\-]+$")

_SOURCE_KEYS = ("files", "format", "tree", "group", "step_size", "reco", "weight")
_DATA_KEYS = (*_SOURCE_KEYS, "pass_reco")
_SIMULATION_KEYS = (*_SOURCE_KEYS, "gen", "pass_gen", "pass_reco")
_TOP_KEYS = ("seed", "data", "simulation", "method", "observables", "output")
_METHOD_KEYS = ("name", "iterations", "classifier")
_OBSERVABLE_KEYS = ("name", "feature", "bins", "label")
_BINS_KEYS = ("start", "stop", "count")
_OUTPUT_KEYS = ("folder", "formats", "overwrite", "plots", "style")


@dataclass(frozen=True)
class SourceConfig:
    """Where the events of one sample are and how to read them.

    Attributes
    ----------
    key : str
        ``"data"`` or ``"simulation"``: the config table, used in messages.
    files : tuple of Path
        Input files or glob patterns, resolved against the config's folder.
    format : str
        ``"root"``, ``"parquet"``, ``"hdf5"`` or ``"npz"``.
    tree : str or None
        ROOT only: the TTree (or RNTuple); None reads a file's only tree.
    group : str or None
        HDF5 only: a group of one dataset per column, or a compound dataset;
        None is the file's root group.
    step_size : int or str
        ROOT only: entries (int) or memory (``"100 MB"``) per chunk read.
    reco, gen : dict of str to Expression
        Feature name to column expression, in the config's order; ``gen`` is
        empty for data.
    weight : Expression or None
        Per-event weight; 1 when None.
    pass_gen, pass_reco : Expression or None
        Boolean selections; every event passes when None. For data, events
        failing ``pass_reco`` are dropped.
    """

    key: str
    files: tuple[Path, ...]
    format: str
    reco: dict[str, Expression]
    gen: dict[str, Expression] = field(default_factory=dict)
    weight: Expression | None = None
    pass_gen: Expression | None = None
    pass_reco: Expression | None = None
    tree: str | None = None
    group: str | None = None
    step_size: int | str = DEFAULT_STEP_SIZE

    def expressions(self) -> dict[str, Expression]:
        """Every expression of the source, by its key path (``data.reco.x``)."""
        named = {f"{self.key}.reco.{name}": value for name, value in self.reco.items()}
        named |= {f"{self.key}.gen.{name}": value for name, value in self.gen.items()}
        for name in ("weight", "pass_gen", "pass_reco"):
            value = getattr(self, name)
            if value is not None:
                named[f"{self.key}.{name}"] = value
        return named

    def columns(self) -> dict[str, str]:
        """Every column the source reads, mapped to the first key that uses it."""
        used: dict[str, str] = {}
        for key, expression in self.expressions().items():
            for column in expression.columns:
                used.setdefault(column, key)
        return used

    def as_dict(self) -> dict[str, Any]:
        """The source as plain TOML-like values."""
        values: dict[str, Any] = {
            "files": [str(path) for path in self.files],
            "format": self.format,
            "reco": {name: value.text for name, value in self.reco.items()},
        }
        if self.gen:
            values["gen"] = {name: value.text for name, value in self.gen.items()}
        for name in ("weight", "pass_gen", "pass_reco"):
            value = getattr(self, name)
            if value is not None:
                values[name] = value.text
        for name in ("tree", "group"):
            if getattr(self, name) is not None:
                values[name] = getattr(self, name)
        if self.format == "root":
            values["step_size"] = self.step_size
        return values


@dataclass(frozen=True)
class MethodConfig:
    """The unfolding method and its settings.

    Attributes
    ----------
    name : str
        A key of :data:`bayesfold.methods.METHODS`.
    iterations : int
        OmniFold iterations.
    options : dict
        Further keyword arguments of :func:`bayesfold.omnifold.omnifold`
        (``replicas``, ``bootstrap``, ``folds``, ...).
    classifier : dict
        Parameters set on the method's classifier (``max_epochs``, ...).
    """

    name: str = "point"
    iterations: int = DEFAULT_ITERATIONS
    options: dict[str, Any] = field(default_factory=dict)
    classifier: dict[str, Any] = field(default_factory=dict)

    def unfold_options(self) -> dict[str, Any]:
        """Keyword arguments for :func:`bayesfold.methods.unfold`, seed excepted."""
        from bayesfold.methods import METHODS

        options: dict[str, Any] = {
            "method": self.name,
            "iterations": self.iterations,
            **self.options,
        }
        if self.classifier:
            template = METHODS[self.name]()["classifier"]
            options["classifier"] = template.set_params(**self.classifier)
        return options

    def as_dict(self) -> dict[str, Any]:
        values = {"name": self.name, "iterations": self.iterations, **self.options}
        if self.classifier:
            values["classifier"] = dict(self.classifier)
        return values


@dataclass(frozen=True)
class ObservableConfig:
    """An observable to report: a gen feature and its bins."""

    name: str
    feature: str
    edges: NDArray[np.float64]
    label: str

    def as_dict(self) -> dict[str, Any]:
        return {
            "name": self.name,
            "feature": self.feature,
            "bins": self.edges.tolist(),
            "label": self.label,
        }


@dataclass(frozen=True)
class OutputConfig:
    """Where and what to write.

    Attributes
    ----------
    folder : Path
        Output folder, resolved against the config's folder.
    formats : tuple of str or None
        Outputs for :func:`bayesfold.io.writers.write_outputs`; None: all.
    overwrite : bool
        Replace existing outputs.
    plots : tuple of str
        File formats of the plots; empty for no plots.
    style : str
        An mplhep style (``"ATLAS"``, ``"CMS"``, ...) or ``"default"``.
    """

    folder: Path
    formats: tuple[str, ...] | None = None
    overwrite: bool = False
    plots: tuple[str, ...] = DEFAULT_PLOT_FORMATS
    style: str = "default"

    def as_dict(self) -> dict[str, Any]:
        values: dict[str, Any] = {
            "folder": str(self.folder),
            "overwrite": self.overwrite,
            "plots": list(self.plots),
            "style": self.style,
        }
        if self.formats is not None:
            values["formats"] = list(self.formats)
        return values


@dataclass(frozen=True)
class Config:
    """A checked run configuration (see :func:`load_config`)."""

    data: SourceConfig
    simulation: SourceConfig
    method: MethodConfig
    observables: tuple[ObservableConfig, ...]
    output: OutputConfig
    seed: int = 0
    path: Path | None = None

    def observable_specs(self) -> list[ObservableSpec]:
        """The observables as :class:`ObservableSpec`, with gen column indices."""
        columns = list(self.simulation.gen)
        return [
            ObservableSpec(
                observable.name,
                columns.index(observable.feature),
                observable.edges,
                observable.label,
            )
            for observable in self.observables
        ]

    def as_dict(self) -> dict[str, Any]:
        """The whole configuration as plain values, defaults filled in."""
        return {
            "seed": self.seed,
            "data": self.data.as_dict(),
            "simulation": self.simulation.as_dict(),
            "method": self.method.as_dict(),
            "observables": [observable.as_dict() for observable in self.observables],
            "output": self.output.as_dict(),
        }


def load_config(path: Path | str) -> Config:
    """Read and check a TOML config file.

    Relative paths in it are taken from the file's folder.

    Raises
    ------
    ConfigFileError
        If the file is missing or not TOML, or a key is missing, unknown or
        has a bad value; ``error.key`` is the key's dotted path.
    """
    path = Path(path)
    try:
        text = path.read_text(encoding="utf-8")
    except FileNotFoundError:
        raise ConfigFileError(
            f"config file {path} does not exist. Check the path, or write an "
            "example with `bayesfold config --example > config.toml`."
        ) from None
    try:
        values = tomllib.loads(text)
    except tomllib.TOMLDecodeError as error:
        raise ConfigFileError(f"{path} is not valid TOML: {error}.") from None
    config = parse_config(values, base=path.resolve().parent, origin=str(path))
    return dataclasses.replace(config, path=path)


def parse_config(
    values: Mapping[str, Any], *, base: Path | str = ".", origin: str = "config"
) -> Config:
    """Check a config given as a mapping (a parsed TOML document).

    Parameters
    ----------
    values : mapping
        The parsed document.
    base : path
        Folder that relative paths are taken from.
    origin : str
        Name of the config in error messages (its file name).
    """
    top = _Table(values, "", origin)
    top.check_keys(_TOP_KEYS)
    base = Path(base)

    simulation = _source(top.table("simulation", required=True), base, simulation=True)
    data = _source(top.table("data", required=True), base, simulation=False)
    _check_reco_features(top, data, simulation)
    method = _method(top.table("method"))
    observables = _observables(top, simulation)
    output = _output(top.table("output"), base)
    seed = top.integer("seed", default=0, minimum=0)
    return Config(data, simulation, method, observables, output, seed)


class _Table:
    """One TOML table being checked: its values, key path and config name."""

    def __init__(self, values: Any, key: str, origin: str) -> None:
        if not isinstance(values, Mapping):
            raise ConfigFileError(
                f"{origin}: `{key}` must be a table; got {_shown(values)}. Write "
                f"it as a [{key}] section.",
                key,
            )
        self.values = values
        self.key = key
        self.origin = origin

    def path(self, name: str) -> str:
        return f"{self.key}.{name}" if self.key else name

    def error(self, name: str, message: str) -> ConfigFileError:
        return ConfigFileError(
            f"{self.origin}: `{self.path(name)}` {message}", self.path(name)
        )

    def check_keys(self, allowed: Iterable[str]) -> None:
        allowed = list(allowed)
        for name in self.values:
            if name not in allowed:
                raise UnknownConfigKeyError(
                    f"{self.origin}: unknown key `{self.path(name)}`."
                    f"{_suggestion(name, allowed)}{_misplaced(name, self.key)} "
                    "Valid keys"
                    f"{' in [' + self.key + ']' if self.key else ''}: "
                    f"{', '.join(allowed)}.",
                    self.path(name),
                )

    def table(self, name: str, *, required: bool = False) -> _Table:
        if name not in self.values and required:
            raise self.error(
                name,
                f"is missing. Add a [{self.path(name)}] section (see `bayesfold "
                "config --example`).",
            )
        return _Table(self.values.get(name, {}), self.path(name), self.origin)

    def string(self, name: str, default: str | None = None) -> str | None:
        value = self.values.get(name, default)
        if value is not None and (not isinstance(value, str) or not value):
            raise self.error(name, f"must be a non-empty string; got {_shown(value)}.")
        return value

    def integer(self, name: str, *, default: int, minimum: int) -> int:
        value = self.values.get(name, default)
        if isinstance(value, bool) or not isinstance(value, int) or value < minimum:
            raise self.error(
                name,
                f"must be an integer of at least {minimum}; got {_shown(value)}. "
                f"Write for example {name} = {max(minimum, default)}.",
            )
        return value

    def boolean(self, name: str, *, default: bool) -> bool:
        value = self.values.get(name, default)
        if not isinstance(value, bool):
            raise self.error(name, f"must be true or false; got {_shown(value)}.")
        return value

    def strings(self, name: str, *, choices: Iterable[str] | None = None) -> list[str]:
        """A string or a list of strings, each one of ``choices`` if given."""
        value = self.values.get(name, [])
        items = [value] if isinstance(value, str) else value
        if not isinstance(items, list) or not all(
            isinstance(item, str) and item for item in items
        ):
            raise self.error(
                name,
                f"must be a string or a list of strings; got {_shown(value)}.",
            )
        if choices is not None:
            choices = list(choices)
            for item in items:
                if item not in choices:
                    raise self.error(
                        name,
                        f"holds {item!r}, which is not one of {', '.join(choices)}."
                        f"{_suggestion(item, choices)}",
                    )
        return items

    def expression(self, name: str) -> Expression | None:
        text = self.string(name)
        if text is None:
            return None
        try:
            return parse_expression(text)
        except ExpressionError as error:
            raise self.error(name, f"= {text!r}: {error}") from None


def _source(table: _Table, base: Path, *, simulation: bool) -> SourceConfig:
    table.check_keys(_SIMULATION_KEYS if simulation else _DATA_KEYS)
    files = _files(table, base)
    file_format = _format(table, files)
    tree, group = table.string("tree"), table.string("group")
    for name, value, owner in (("tree", tree, "root"), ("group", group, "hdf5")):
        if value is not None and file_format != owner:
            raise table.error(
                name,
                f"applies to {owner} files only, but these are {file_format}. "
                f"Remove it{'; HDF5 files take `group`' if owner == 'root' else ''}.",
            )

    reco = _features(table, "reco")
    gen = _features(table, "gen") if simulation else {}
    return SourceConfig(
        key=table.key,
        files=files,
        format=file_format,
        reco=reco,
        gen=gen,
        weight=table.expression("weight"),
        pass_gen=table.expression("pass_gen") if simulation else None,
        pass_reco=table.expression("pass_reco"),
        tree=tree,
        group=group,
        step_size=_step_size(table),
    )


def _files(table: _Table, base: Path) -> tuple[Path, ...]:
    if "files" not in table.values:
        raise table.error(
            "files",
            'is missing. Name the input file(s): files = "events.root" or '
            'files = ["part1.root", "part2.root"].',
        )
    names = table.strings("files")
    if not names:
        raise table.error("files", "is empty. Name at least one input file.")
    return tuple(base / Path(name).expanduser() for name in names)


def _format(table: _Table, files: tuple[Path, ...]) -> str:
    explicit = table.string("format")
    if explicit is not None:
        table.strings("format", choices=FORMATS)
        return explicit
    formats = {SUFFIXES.get(path.suffix.lower()) for path in files}
    if None in formats:
        unknown = next(p for p in files if p.suffix.lower() not in SUFFIXES)
        raise table.error(
            "files",
            f"holds {unknown.name!r}, whose format cannot be told from its "
            f"extension (known: {', '.join(SUFFIXES)}). Rename it or set "
            f"`{table.path('format')}` to one of {', '.join(FORMATS)}.",
        )
    if len(formats) > 1:
        raise table.error(
            "files",
            f"mixes formats ({', '.join(sorted(f for f in formats if f))}). Give "
            "each sample files of one format.",
        )
    return str(formats.pop())


def _step_size(table: _Table) -> int | str:
    value = table.values.get("step_size", DEFAULT_STEP_SIZE)
    valid_int = isinstance(value, int) and not isinstance(value, bool) and value > 0
    valid_str = isinstance(value, str) and re.fullmatch(
        r"\s*\d+(\.\d+)?\s*[kKMG]i?B\s*", value
    )
    if not (valid_int or valid_str):
        raise table.error(
            "step_size",
            f"must be a positive number of entries or a size such as "
            f'"100 MB"; got {_shown(value)}.',
        )
    return value


def _features(table: _Table, name: str) -> dict[str, Expression]:
    if name not in table.values:
        raise table.error(
            name,
            f"is missing. Map each {name} feature to its column, e.g. "
            f'[{table.path(name)}] then x = "x_{name}".',
        )
    features = table.table(name)
    if not features.values:
        raise table.error(name, "is empty. Name at least one feature.")
    parsed = {}
    for feature in features.values:
        if feature in _TOP_KEYS and not isinstance(features.values[feature], str):
            raise features.error(
                feature, f"is not a feature.{_misplaced(feature, features.key)}"
            )
        expression = features.expression(feature)
        if expression is None:
            raise features.error(feature, "must name a column or an expression.")
        parsed[feature] = expression
    return parsed


def _check_reco_features(
    top: _Table, data: SourceConfig, simulation: SourceConfig
) -> None:
    missing = [name for name in simulation.reco if name not in data.reco]
    extra = [name for name in data.reco if name not in simulation.reco]
    if missing or extra:
        parts = [f"lacks {', '.join(missing)}"] if missing else []
        parts += [f"has {', '.join(extra)} in addition"] if extra else []
        raise top.error(
            "data.reco",
            f"{' and '.join(parts)} compared with simulation.reco. Step 1 "
            "compares data and simulation feature by feature: give both the "
            "same reco feature names.",
        )


def _method(table: _Table) -> MethodConfig:
    from bayesfold.methods import METHODS

    options = _method_options()
    table.check_keys([*_METHOD_KEYS, *options])
    name = table.string("name", default="point")
    assert name is not None
    table.strings("name", choices=METHODS)
    if "classifier" not in METHODS[name]():
        # TODO: run the binned methods once the config can give their bins.
        raise table.error(
            "name",
            f"= {name!r} is a binned method, which `bayesfold unfold` does not "
            "run yet. Choose an OmniFold method: point, gbdt, ensemble, "
            "bootstrap or bayesian.",
        )
    iterations = table.integer("iterations", default=DEFAULT_ITERATIONS, minimum=1)

    values = {}
    for option, kind in options.items():
        if option in table.values:
            values[option] = _method_option(table, option, kind)
    classifier = _classifier(table.table("classifier"), name)
    return MethodConfig(name, iterations, values, classifier)


def _method_options() -> dict[str, Any]:
    """Options of the iteration that a config may set, with their types."""
    from bayesfold.omnifold import (
        Bootstrap,
        BootstrapOn,
        Completion,
        DataTotal,
        Reference,
    )

    return {
        "replicas": int,
        "final_draws": int,
        "folds": int,
        "bootstrap": Bootstrap,
        "bootstrap_on": BootstrapOn,
        "reference": Reference,
        "data_total": DataTotal,
        "efficiency": Completion,
        "fakes": Completion,
        "max_logit": float,
    }


def _method_option(table: _Table, option: str, kind: Any) -> Any:
    if kind is int:
        return table.integer(option, default=1, minimum=1)
    value = table.values[option]
    if kind is float:
        if isinstance(value, bool) or not isinstance(value, int | float) or value <= 0:
            raise table.error(option, f"must be a positive number; got {value!r}.")
        return float(value)
    table.strings(option, choices=typing.get_args(kind))
    if not isinstance(value, str):
        raise table.error(option, f"must be one string; got {_shown(value)}.")
    return value


def _classifier(table: _Table, method: str) -> dict[str, Any]:
    if not table.values:
        return {}
    from bayesfold.methods import METHODS

    settings = METHODS[method]()
    template = settings["classifier"]
    table.check_keys(sorted(template.get_params(deep=False)))
    return dict(table.values)


def _observables(top: _Table, simulation: SourceConfig) -> tuple[ObservableConfig, ...]:
    entries = top.values.get("observables")
    if not isinstance(entries, list) or not entries:
        raise top.error(
            "observables",
            f"must name at least one observable to report; got "
            f"{_shown(entries)}. Add an [[observables]] section with name, "
            "feature and bins (see `bayesfold config --example`).",
        )
    observables = tuple(
        _observable(_Table(entry, f"observables[{i}]", top.origin), simulation)
        for i, entry in enumerate(entries)
    )
    names = [observable.name for observable in observables]
    for i, name in enumerate(names):
        if name in names[:i]:
            raise top.error(
                f"observables[{i}].name",
                f"repeats {name!r}; give each observable its own name.",
            )
    return observables


def _observable(table: _Table, simulation: SourceConfig) -> ObservableConfig:
    table.check_keys(_OBSERVABLE_KEYS)
    name = table.string("name")
    if name is None or not _NAME.match(name):
        raise table.error(
            "name",
            f"must be a name of letters, digits, '_', '.' or '-' (it names "
            f"files); got {_shown(name)}.",
        )
    feature = table.string("feature", default=name)
    assert feature is not None
    if feature not in simulation.gen:
        raise table.error(
            "feature",
            f"= {feature!r} is not a gen feature of the simulation."
            f"{_suggestion(feature, list(simulation.gen))} Gen features: "
            f"{', '.join(simulation.gen)}.",
        )
    edges = _bins(table)
    label = table.string("label", default=name)
    assert label is not None
    return ObservableConfig(name, feature, edges, label)


def _bins(table: _Table) -> NDArray[np.float64]:
    value = table.values.get("bins")
    if isinstance(value, Mapping):
        bins = _Table(value, table.path("bins"), table.origin)
        bins.check_keys(_BINS_KEYS)
        count = bins.integer("count", default=10, minimum=1)
        start, stop = (_number(bins, key) for key in ("start", "stop"))
        if not stop > start:
            raise bins.error("stop", f"must exceed start ({start}); got {stop}.")
        return np.linspace(start, stop, count + 1)
    numbers = isinstance(value, list) and all(
        isinstance(edge, int | float) and not isinstance(edge, bool) for edge in value
    )
    edges = np.asarray(value if numbers else [], dtype=np.float64)
    if edges.size < 2 or np.any(np.diff(edges) <= 0) or not np.all(np.isfinite(edges)):
        raise table.error(
            "bins",
            f"must be a list of at least two increasing bin edges, or a table "
            f"{{start = ..., stop = ..., count = ...}}; got {_shown(value)}.",
        )
    return edges


def _number(table: _Table, name: str) -> float:
    value = table.values.get(name)
    if isinstance(value, bool) or not isinstance(value, int | float):
        raise table.error(name, f"must be a number; got {_shown(value)}.")
    return float(value)


def _output(table: _Table, base: Path) -> OutputConfig:
    table.check_keys(_OUTPUT_KEYS)
    folder = table.string("folder", default=DEFAULT_OUTPUT_FOLDER)
    assert folder is not None
    formats = None
    if "formats" in table.values:
        from bayesfold.io.writers import FORMATS as OUTPUTS

        formats = tuple(table.strings("formats", choices=OUTPUTS))
    plots = (
        tuple(table.strings("plots", choices=PLOT_FORMATS))
        if "plots" in table.values
        else DEFAULT_PLOT_FORMATS
    )
    style = table.string("style", default="default")
    assert style is not None
    table.strings("style", choices=STYLES)
    return OutputConfig(
        folder=base / Path(folder).expanduser(),
        formats=formats,
        overwrite=table.boolean("overwrite", default=False),
        plots=plots,
        style=style,
    )


def _misplaced(name: str, section: str) -> str:
    """A hint for a top-level key that TOML has put into a section."""
    if not section or name not in _TOP_KEYS:
        return ""
    return (
        f" It looks like the top-level key `{name}`: TOML puts every key written "
        "after a [section] header into that section, so move "
        f"`{name} = ...` above the first [section]."
    )


def _suggestion(name: str, choices: list[str]) -> str:
    close = difflib.get_close_matches(name, choices, n=1, cutoff=0.6)
    return f" Did you mean {close[0]!r}?" if close else ""


def _shown(value: Any) -> str:
    return f"{value!r} ({type(value).__name__})"


#: A complete, commented config (``bayesfold config --example``); it parses.
EXAMPLE_CONFIG = """\
# bayesfold unfold config: `bayesfold unfold config.toml`.
# Paths are relative to this file's folder. Features, weights and selections
# are column expressions: a column (branch) name, or arithmetic, comparisons,
# and/or/not and functions such as sqrt, abs, log over columns, e.g.
#   "sqrt(px**2 + py**2)" or "pt > 20 and abs(eta) < 2.5".
# Column names with dots or spaces go in backticks: "`Jet.PT` > 20".

seed = 0                        # seed of every random step

[data]                          # the measured events (detector level)
files = ["data.root"]           # one file, a list, or glob patterns ("data_*.root")
# format = "root"               # root | parquet | hdf5 | npz; default: by extension
tree = "events"                 # ROOT: TTree name (default: the file's only tree)
# group = "/events"             # HDF5: group of column datasets, or compound dataset
# step_size = "100 MB"          # ROOT: chunk size, entries (int) or memory
# weight = "weight"             # per-event weight; default 1
# pass_reco = "x > -20"         # events failing the selection are dropped

[data.reco]                     # detector-level features: name = column expression
x = "x"

[simulation]                    # the simulated events, particle and detector level
files = ["simulation.root"]
tree = "events"
# weight = "weight"             # generator weights; default 1
# pass_gen = "pass_gen"         # fiducial selection: a boolean branch or a cut
# pass_reco = "pass_reco"       # detector selection; reco may be NaN where false

[simulation.reco]               # the same names as [data.reco]
x = "x_reco"

[simulation.gen]                # particle-level features
x = "x_gen"

[method]
name = "point"                  # point | gbdt | ensemble | bootstrap | bayesian
iterations = 4
# replicas = 20                 # draws of ensemble and bootstrap; chains of bayesian
# final_draws = 10              # bayesian: posterior draws per chain at the end
# bootstrap = "poisson"         # poisson | bayesian resampling per replica
# folds = 1                     # k-fold held-out prediction when >= 2
# reference = "prior"           # step 2 against the prior or the previous iteration
# efficiency = "learn"          # step 1b: learn | one
# fakes = "learn"               # step 2b: learn | one

# [method.classifier]           # parameters of the method's classifier
# max_epochs = 100

[[observables]]                 # what to histogram, report and plot
name = "x"
feature = "x"                   # a key of [simulation.gen]; default: the name
bins = {start = -10.0, stop = 12.0, count = 22}   # or a list of edges
label = "x (particle level)"

[output]
folder = "bayesfold-output"
overwrite = false               # replace existing outputs
plots = ["png", "pdf"]          # plot file formats; [] for none
style = "default"               # or an mplhep style: ATLAS, ALICE, CMS, LHCb
# formats = ["posterior", "weights-parquet", "weights-root", "histograms",
#            "summary", "hepdata"]      # which outputs to write; default: all
"""
