"""The posterior of an unfolding as an xarray data tree, saved as netCDF.

:func:`to_datatree` lays an :class:`~bayesfold.result.UnfoldingResult` out as
an :class:`xarray.DataTree`; :func:`from_datatree` turns it back into a result
that is complete: every histogram, interval and diagnostic of the original can
be computed again from the loaded one. :func:`save_posterior` writes the tree as
netCDF (HDF5, through h5netcdf), atomically; :func:`load_posterior` reads it.
The file opens with plain ``xarray.open_datatree`` and so with ArviZ.

Layout of the tree (dimensions in brackets)::

    /                 attributes: format, method, seconds, random_state,
                      metadata and config (JSON), created, versions
    /posterior        pull_weights, push_weights [iteration, draw, event],
                      sim_weights [draw, event], data_weights [draw, data_event]
    /simulation       gen [event, gen_feature], reco [event, reco_feature],
                      pass_gen, pass_reco, sim_weights [event]
    /diagnostics      iteration, step, n_events, seconds [record],
                      n_clipped, effective_size [record, draw]
    /diagnostics/history/record_<k>/fold_<f>
                      the training curves of that step's classifier, e.g.
                      elbo or loss [training_step, draw]
    /diagnostics/<field>/record_<k>
                      further per-step records, e.g. the calibration curve

Weights are relative to ``sim_weights`` as in the result (ARCHITECTURE.md);
``event`` numbers the simulated events in their input order. ``random_state``
is stored as a decimal string, since seed entropy may exceed 64 bits.
"""

from __future__ import annotations

import dataclasses
import importlib
import json
import re
from collections.abc import Mapping
from datetime import UTC, datetime
from importlib import metadata as package_metadata
from pathlib import Path
from typing import Any, Literal

import numpy as np
import xarray as xr
from numpy.typing import NDArray

from bayesfold.exceptions import ConfigurationError, PosteriorFormatError
from bayesfold.io.atomic import atomic_path
from bayesfold.result import StepDiagnostics, UnfoldingResult
from bayesfold.samples import SimulationSample

__all__ = [
    "FORMAT",
    "FORMAT_VERSION",
    "from_datatree",
    "load_posterior",
    "read_provenance",
    "save_posterior",
    "to_datatree",
]

#: Value of the root attribute ``format`` that marks a bayesfold posterior.
FORMAT = "bayesfold-posterior"
#: Layout version; a reader refuses versions newer than its own.
FORMAT_VERSION = 1
#: netCDF engine: HDF5 through h5netcdf, which needs no netCDF C library.
ENGINE: Literal["h5netcdf"] = "h5netcdf"
#: Packages whose versions are recorded in the root attributes.
VERSIONED_PACKAGES = ("bayesfold", "numpy", "pymc", "pytensor", "xarray")

_STEP_FIELDS = {field.name for field in dataclasses.fields(StepDiagnostics)}
_CORE_STEP_FIELDS = {
    *("iteration", "step", "n_events", "n_clipped", "effective_size"),
    *("seconds", "history"),
}
_RECORD = re.compile(r"record_(\d+)$")
_FOLD = re.compile(r"fold_(\d+)$")


def to_datatree(
    result: UnfoldingResult, *, config: Mapping[str, Any] | None = None
) -> xr.DataTree:
    """Lay out an unfolding result as a data tree (module docstring).

    Parameters
    ----------
    result : UnfoldingResult
        The result to store; its arrays are referenced, not copied.
    config : mapping, optional
        The settings that produced it (for example the parsed config file),
        stored JSON-encoded in the root attribute ``config``.

    Returns
    -------
    xarray.DataTree
    """
    nodes: dict[str, xr.Dataset] = {
        "/": xr.Dataset(attrs=_root_attrs(result, config)),
        "/posterior": _posterior_dataset(result),
        "/simulation": _simulation_dataset(result.simulation),
        "/diagnostics": _diagnostics_dataset(result.diagnostics, result.n_draws),
    }
    for index, record in enumerate(result.diagnostics):
        for fold, history in enumerate(record.history):
            path = f"/diagnostics/history/{_record_name(index)}/fold_{fold}"
            nodes[path] = _history_dataset(history, result.n_draws)
        for name, value in _extra_fields(record).items():
            nodes[f"/diagnostics/{name}/{_record_name(index)}"] = _value_dataset(value)
    return xr.DataTree.from_dict(nodes)


def from_datatree(tree: xr.DataTree) -> UnfoldingResult:
    """Rebuild an :class:`~bayesfold.result.UnfoldingResult` from its tree.

    Raises
    ------
    PosteriorFormatError
        If the tree was not made by :func:`to_datatree` (no ``format``
        attribute, a newer layout version, or a missing group).
    """
    _check_format(tree)
    posterior = _node(tree, "posterior")
    attrs = tree.attrs
    return UnfoldingResult(
        simulation=_simulation(_node(tree, "simulation")),
        sim_weights=posterior["sim_weights"].values,
        data_weights=posterior["data_weights"].values,
        pull_weights=posterior["pull_weights"].values,
        push_weights=posterior["push_weights"].values,
        diagnostics=_diagnostics(tree),
        method=str(attrs["method"]),
        seconds=float(attrs["seconds"]),
        random_state=int(attrs["random_state"]),
        metadata=json.loads(attrs["metadata"]),
    )


def save_posterior(
    result: UnfoldingResult,
    path: Path | str,
    *,
    overwrite: bool = False,
    config: Mapping[str, Any] | None = None,
) -> Path:
    """Write the posterior as netCDF, atomically.

    Parameters
    ----------
    result : UnfoldingResult
    path : path
        The file to write (conventionally ``.nc``); its folder must exist.
    overwrite : bool
        Replace an existing file; otherwise it raises
        :class:`~bayesfold.exceptions.OutputExistsError`.
    config : mapping, optional
        Settings stored with the result (:func:`to_datatree`).

    Returns
    -------
    Path
        The file written.
    """
    target = Path(path)
    tree = to_datatree(result, config=config)
    with atomic_path(target, overwrite=overwrite) as temporary:
        write_datatree(tree, temporary)
    return target


def write_datatree(tree: xr.DataTree, path: Path) -> None:
    """Write a tree from :func:`to_datatree` to ``path`` as it is (not atomic)."""
    tree.to_netcdf(path, mode="w", engine=ENGINE)


def load_posterior(path: Path | str) -> UnfoldingResult:
    """Read a result written by :func:`save_posterior` into memory."""
    with _open(path) as tree:
        return from_datatree(tree)


def read_provenance(source: Path | str | xr.DataTree) -> dict[str, Any]:
    """The config, package versions and creation time stored with a posterior.

    ``source`` is a file written by :func:`save_posterior` or a tree. Returns
    ``{"config": ..., "versions": {...}, "created": ..., "format_version": ...}``;
    ``config`` is None when none was stored.
    """
    if not isinstance(source, xr.DataTree):
        with _open(source) as tree:
            return read_provenance(tree)
    _check_format(source)
    attrs = source.attrs
    return {
        "config": json.loads(attrs["config"]),
        "versions": json.loads(attrs["versions"]),
        "created": str(attrs["created"]),
        "format_version": int(attrs["format_version"]),
    }


# -- writing ------------------------------------------------------------------


def _root_attrs(
    result: UnfoldingResult, config: Mapping[str, Any] | None
) -> dict[str, Any]:
    config_dict = None if config is None else dict(config)
    return {
        "format": FORMAT,
        "format_version": FORMAT_VERSION,
        "method": result.method,
        "seconds": float(result.seconds),
        "random_state": str(int(result.random_state)),
        "metadata": _json(result.metadata, "the result's metadata"),
        "config": _json(config_dict, "config"),
        "versions": json.dumps(_versions()),
        "created": datetime.now(UTC).isoformat(timespec="seconds"),
    }


def _posterior_dataset(result: UnfoldingResult) -> xr.Dataset:
    weights = ("iteration", "draw", "event")
    return xr.Dataset(
        {
            "pull_weights": (weights, result.pull_weights),
            "push_weights": (weights, result.push_weights),
            "sim_weights": (("draw", "event"), result.sim_weights),
            "data_weights": (("draw", "data_event"), result.data_weights),
        },
        coords={
            "iteration": np.arange(result.iterations),
            "draw": np.arange(result.n_draws),
            "event": np.arange(result.simulation.n_events),
        },
        attrs={
            "description": "pull (omega_n) and push (nu_n) weights per "
            "iteration and draw, relative to sim_weights; input weights per draw"
        },
    )


def _simulation_dataset(simulation: SimulationSample) -> xr.Dataset:
    return xr.Dataset(
        {
            "gen": (("event", "gen_feature"), simulation.gen),
            "reco": (("event", "reco_feature"), simulation.reco),
            "sim_weights": ("event", simulation.sim_weights),
            "pass_gen": ("event", simulation.pass_gen),
            "pass_reco": ("event", simulation.pass_reco),
        },
        coords={"event": np.arange(simulation.n_events)},
        attrs={"description": "the simulated events the weights apply to"},
    )


def _diagnostics_dataset(records: list[StepDiagnostics], n_draws: int) -> xr.Dataset:
    recorded = [record.effective_size is not None for record in records]
    effective = [
        np.full(n_draws, np.nan)
        if record.effective_size is None
        else record.effective_size
        for record in records
    ]
    n_clipped = [np.asarray(record.n_clipped, dtype=np.int64) for record in records]
    per_draw = ("record", "draw")
    return xr.Dataset(
        {
            "iteration": ("record", [int(r.iteration) for r in records]),
            "step": ("record", np.array([r.step for r in records], dtype=str)),
            "n_events": ("record", [int(r.n_events) for r in records]),
            "seconds": ("record", [float(r.seconds) for r in records]),
            "n_clipped": (per_draw, np.reshape(n_clipped, (len(records), n_draws))),
            "effective_size": (
                per_draw,
                np.reshape(effective, (len(records), n_draws)),
            ),
            "effective_size_recorded": ("record", np.array(recorded, dtype=bool)),
        },
        coords={"record": np.arange(len(records))},
        attrs={"description": "one record per classifier step and iteration"},
    )


def _history_dataset(history: Mapping[str, Any], n_draws: int) -> xr.Dataset:
    """Training curves: (steps, draws) arrays get (training_step, draw)."""
    variables: dict[str, tuple[tuple[str, ...], NDArray[Any]]] = {}
    steps: int | None = None
    for key, value in history.items():
        array = _numeric(value, f"history entry {key!r}")
        dims = _history_dims(key, array, n_draws)
        if dims and dims[0] == "training_step":
            steps = array.shape[0] if steps is None else steps
            if array.shape[0] != steps:
                # Curves of another length get a step dimension of their own.
                dims = (f"{key}_step", *dims[1:])
        variables[key] = (dims, array)
    return xr.Dataset(variables)


def _history_dims(key: str, array: NDArray[Any], n_draws: int) -> tuple[str, ...]:
    # Inside the iteration classifiers fit 2-D weights, so curves are
    # (steps, replicas) and per-fit summaries (NUTS) are (replicas,).
    if array.ndim == 0:
        return ()
    if array.ndim == 1:
        return ("draw",) if len(array) == n_draws else ("training_step",)
    if array.ndim == 2:
        # Fits before the last step 1 of a run with final_draws have one curve
        # per replica, not per draw.
        return ("training_step", "draw" if array.shape[1] == n_draws else "replica")
    return tuple(f"{key}_dim_{axis}" for axis in range(array.ndim))


def _extra_fields(record: StepDiagnostics) -> dict[str, Any]:
    """Fields added to StepDiagnostics beyond the core ones, when set."""
    names = sorted(_STEP_FIELDS - _CORE_STEP_FIELDS)
    values = {name: getattr(record, name) for name in names}
    return {name: value for name, value in values.items() if value is not None}


def _value_dataset(value: Any) -> xr.Dataset:
    """A dataclass of arrays and numbers as variables, or one ``value``."""
    if dataclasses.is_dataclass(value) and not isinstance(value, type):
        kind = type(value)
        fields = {f.name: getattr(value, f.name) for f in dataclasses.fields(value)}
        attrs = {"type": f"{kind.__module__}.{kind.__qualname__}"}
    else:
        fields, attrs = {"value": value}, {}
    variables = {}
    for name, item in fields.items():
        array = _numeric(item, f"diagnostic {name!r}")
        dims = tuple(f"{name}_dim_{axis}" for axis in range(array.ndim))
        variables[name] = (dims, array)
    return xr.Dataset(variables, attrs=attrs)


def _numeric(value: Any, what: str) -> NDArray[Any]:
    array = np.asarray(value)
    if array.dtype.kind not in "biuf":
        raise PosteriorFormatError(
            f"{what} holds values of dtype {array.dtype}, which the posterior "
            "file cannot store; diagnostics must be numbers or arrays of numbers."
        )
    return array


def _versions() -> dict[str, str]:
    versions = {}
    for package in VERSIONED_PACKAGES:
        try:
            versions[package] = package_metadata.version(package)
        except package_metadata.PackageNotFoundError:
            versions[package] = "not installed"
    return versions


def _json(value: Any, what: str) -> str:
    try:
        return json.dumps(value, default=_json_default)
    except (TypeError, ValueError) as error:
        raise ConfigurationError(
            f"{what} must be JSON-serialisable (numbers, strings, lists, "
            f"mappings) to be stored with the posterior: {error}. Convert the "
            "offending entry, or leave it out."
        ) from error


def _json_default(value: Any) -> Any:
    if isinstance(value, np.generic):
        return value.item()
    if isinstance(value, np.ndarray):
        return value.tolist()
    if isinstance(value, Path):
        return str(value)
    raise TypeError(f"a {type(value).__name__} is not JSON-serialisable")


def _record_name(index: int) -> str:
    return f"record_{index:03d}"


# -- reading ------------------------------------------------------------------


def _open(path: Path | str) -> xr.DataTree:
    target = Path(path)
    if not target.is_file():
        raise FileNotFoundError(
            f"no posterior file at {target}; write one with save_posterior "
            "(or `bayesfold unfold`), or check the path."
        )
    try:
        return xr.open_datatree(target, engine=ENGINE)
    except (OSError, ValueError) as error:
        raise PosteriorFormatError(
            f"{target} is not a netCDF/HDF5 file that xarray can open ({error}); "
            "pass a file written by save_posterior."
        ) from error


def _check_format(tree: xr.DataTree) -> None:
    if tree.attrs.get("format") != FORMAT:
        raise PosteriorFormatError(
            f"this data tree is not a bayesfold posterior: its root attribute "
            f"'format' is {tree.attrs.get('format')!r}, not {FORMAT!r}. Pass a "
            "tree made by to_datatree or a file written by save_posterior."
        )
    version = int(tree.attrs.get("format_version", 0))
    if version > FORMAT_VERSION:
        raise PosteriorFormatError(
            f"the posterior has layout version {version}, newer than this "
            f"bayesfold reads ({FORMAT_VERSION}); upgrade bayesfold to load it."
        )


def _node(tree: xr.DataTree, name: str) -> xr.Dataset:
    if name not in tree.children:
        raise PosteriorFormatError(
            f"the posterior has no group {name!r} (groups: "
            f"{', '.join(tree.children) or 'none'}); the file is incomplete "
            "or damaged. Write it again with save_posterior."
        )
    return tree[name].to_dataset()


def _simulation(node: xr.Dataset) -> SimulationSample:
    return SimulationSample(
        node["gen"].values,
        node["reco"].values,
        sim_weights=node["sim_weights"].values,
        pass_gen=node["pass_gen"].values.astype(bool),
        pass_reco=node["pass_reco"].values.astype(bool),
    )


def _diagnostics(tree: xr.DataTree) -> list[StepDiagnostics]:
    table = _node(tree, "diagnostics")
    children = tree.children["diagnostics"].children
    histories = _records(children["history"]) if "history" in children else {}
    extras = {
        name: _records(child)
        for name, child in children.items()
        if name in _STEP_FIELDS - _CORE_STEP_FIELDS
    }
    records = []
    for index in range(table.sizes.get("record", 0)):
        extra = {
            name: _value(found[index])
            for name, found in extras.items()
            if index in found
        }
        folds = _folds(histories[index]) if index in histories else []
        records.append(_record(table.isel(record=index), folds, extra))
    return records


def _record(
    row: xr.Dataset, history: list[dict[str, NDArray[Any]]], extra: dict[str, Any]
) -> StepDiagnostics:
    recorded = bool(row["effective_size_recorded"])
    return StepDiagnostics(
        iteration=int(row["iteration"]),
        step=str(row["step"].values),
        n_events=int(row["n_events"]),
        n_clipped=row["n_clipped"].values.astype(np.int64),
        effective_size=row["effective_size"].values if recorded else None,
        seconds=float(row["seconds"]),
        history=history,
        **extra,
    )


def _records(node: xr.DataTree) -> dict[int, xr.DataTree]:
    out = {}
    for name, child in node.children.items():
        match = _RECORD.match(name)
        if match:
            out[int(match.group(1))] = child
    return out


def _folds(node: xr.DataTree) -> list[dict[str, NDArray[Any]]]:
    folds = {}
    for name, child in node.children.items():
        match = _FOLD.match(name)
        if match:
            dataset = child.to_dataset()
            folds[int(match.group(1))] = {
                str(key): dataset[key].values for key in dataset.data_vars
            }
    return [folds[index] for index in sorted(folds)]


def _value(node: xr.DataTree) -> Any:
    dataset = node.to_dataset()
    values = {
        str(key): _scalar_or_array(dataset[key].values) for key in dataset.data_vars
    }
    kind = node.attrs.get("type")
    if kind is None:
        return values.get("value")
    return _dataclass(str(kind))(**values)


def _dataclass(qualified: str) -> Any:
    module_name, _, class_name = qualified.rpartition(".")
    if not module_name.startswith("bayesfold."):
        raise PosteriorFormatError(
            f"a diagnostic names the type {qualified!r}, which is not part of "
            "bayesfold; only bayesfold's own record types are rebuilt."
        )
    return getattr(importlib.import_module(module_name), class_name)


def _scalar_or_array(array: NDArray[Any]) -> Any:
    return array.item() if array.ndim == 0 else array
