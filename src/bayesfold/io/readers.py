"""Event files into NumPy columns, and a config's sources into samples.

:func:`read_columns` reads named columns of one or several files into one
array per column, one row per event, files in the order given:

============ =============================================================
format       what is read
============ =============================================================
``root``     branches of a TTree (or fields of an RNTuple) through uproot,
             in chunks of ``step_size`` (:func:`uproot.iterate`)
``parquet``  columns, in record batches, through pyarrow
``hdf5``     one-dimensional datasets of a group, or the fields of a
             compound (structured) dataset, through h5py
``npz``      the arrays of a NumPy ``.npz`` archive
============ =============================================================

Every file is checked before anything is read: that it exists and opens, that
the tree or group is there and is one, that every column is there (else the
closest names are suggested) and holds one number per event. Boolean columns
stay boolean (they are selections); every other column becomes ``float64``.
Missing Parquet values become NaN.

:func:`read_simulation` and :func:`read_data` turn the ``[simulation]`` and
``[data]`` tables of a config (:class:`bayesfold.config.SourceConfig`) into a
:class:`~bayesfold.samples.SimulationSample` and a
:class:`~bayesfold.samples.DataSample`: they read the columns, evaluate the
feature, weight and selection expressions, and check that no feature of a
selected event and no weight is NaN or infinite, naming the file, the row and
the key of the config if one is.
"""

from __future__ import annotations

import difflib
import glob
import logging
import zipfile
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np
from numpy.typing import NDArray

from bayesfold.exceptions import (
    BranchNotFoundError,
    BranchTypeError,
    ConfigFileError,
    ExpressionError,
    InputFileFormatError,
    InputFileNotFoundError,
    NonFiniteColumnError,
    NotATreeError,
    RaggedBranchError,
    ShapeMismatchError,
    TreeNotFoundError,
)
from bayesfold.samples import DataSample, SimulationSample

if TYPE_CHECKING:
    from bayesfold.config import SourceConfig
    from bayesfold.io.expressions import Expression

__all__ = [
    "FORMATS",
    "SUFFIXES",
    "Columns",
    "expand_files",
    "list_columns",
    "read_columns",
    "read_data",
    "read_simulation",
]

logger = logging.getLogger(__name__)

#: Formats that :func:`read_columns` reads.
FORMATS = ("root", "parquet", "hdf5", "npz")

#: File name extensions from which a format is inferred.
SUFFIXES = {
    ".root": "root",
    ".parquet": "parquet",
    ".pq": "parquet",
    ".h5": "hdf5",
    ".hdf5": "hdf5",
    ".hdf": "hdf5",
    ".npz": "npz",
}

#: ROOT chunk size of :func:`uproot.iterate` unless one is given: bounds the
#: memory of one chunk, whatever the number of branches.
DEFAULT_STEP_SIZE = "100 MB"

#: Rows per Parquet record batch and per HDF5 slice.
DEFAULT_BATCH_ROWS = 1_000_000

#: How many close names a "did you mean" lists.
SUGGESTIONS = 3

# What a column holds: "ok" (one number per event), "ragged" (a variable or
# fixed number of values per event) or "type" (no numbers), with a description.
_Kind = tuple[str, str]
_OK: _Kind = ("ok", "")


@dataclass(frozen=True)
class Columns:
    """Columns read from one or several files, one row per event.

    Attributes
    ----------
    values : dict of str to ndarray
        One 1-D array per column: ``bool`` for boolean columns, else
        ``float64``.
    files : tuple of Path
        The files read, in order.
    rows : tuple of int
        Rows read from each file.
    """

    values: dict[str, NDArray[Any]]
    files: tuple[Path, ...]
    rows: tuple[int, ...]

    @property
    def n_rows(self) -> int:
        return sum(self.rows)

    def origin(self, index: int) -> tuple[Path, int]:
        """The file of row ``index`` and its row number within that file."""
        ends = np.cumsum(self.rows)
        position = int(np.searchsorted(ends, index, side="right"))
        start = int(ends[position - 1]) if position else 0
        return self.files[position], index - start


def infer_format(path: Path | str) -> str:
    """The format of ``path`` from its extension (see :data:`SUFFIXES`)."""
    suffix = Path(path).suffix.lower()
    if suffix not in SUFFIXES:
        raise InputFileFormatError(
            f"{path}: cannot tell the format from the extension {suffix!r} "
            f"(known: {', '.join(SUFFIXES)}). Name the format explicitly: one "
            f"of {', '.join(FORMATS)}."
        )
    return SUFFIXES[suffix]


def expand_files(files: Iterable[Path | str]) -> tuple[Path, ...]:
    """Paths with glob patterns expanded (sorted); each must exist."""
    paths: list[Path] = []
    for name in files:
        pattern = str(name)
        if glob.has_magic(pattern):
            matches = sorted(glob.glob(pattern))
            if not matches:
                raise InputFileNotFoundError(
                    f"no file matches {pattern}. Check the folder and the pattern."
                )
            paths.extend(Path(match) for match in matches)
        elif not Path(pattern).is_file():
            raise InputFileNotFoundError(
                f"input file {pattern} does not exist"
                f"{' (it is a folder)' if Path(pattern).is_dir() else ''}. Check "
                "the path; relative paths in a config start at the config's folder."
            )
        else:
            paths.append(Path(pattern))
    return tuple(paths)


def list_columns(
    path: Path | str, *, format: str | None = None, tree: str | None = None
) -> list[str]:
    """Names of the columns of one file (branches of the tree, datasets, ...).

    ``tree`` is the ROOT TTree or RNTuple, or the HDF5 group or compound
    dataset; a ROOT file with one tree and an HDF5 file's root group need none.
    """
    (path,) = expand_files([path])
    return list(_schema(path, format or infer_format(path), tree))


def read_columns(
    files: Sequence[Path | str] | Path | str,
    columns: Iterable[str],
    *,
    format: str | None = None,
    tree: str | None = None,
    step_size: int | str = DEFAULT_STEP_SIZE,
    used_by: Mapping[str, str] | None = None,
) -> Columns:
    """Read ``columns`` of every file into one array each.

    Parameters
    ----------
    files : path or sequence of paths
        Input files, or glob patterns; all of one format.
    columns : iterable of str
        Column (branch) names.
    format : {"root", "parquet", "hdf5", "npz"}, optional
        Inferred from the first file's extension when None.
    tree : str, optional
        ROOT: the TTree or RNTuple (default: the file's only one). HDF5: the
        group of column datasets or the compound dataset (default: ``"/"``).
    step_size : int or str
        ROOT: entries or memory (``"100 MB"``) per chunk.
    used_by : mapping, optional
        Column to the config key that uses it, named in error messages.

    Raises
    ------
    InputFileNotFoundError, InputFileFormatError, TreeNotFoundError,
    NotATreeError, BranchNotFoundError, RaggedBranchError, BranchTypeError
        When a file, tree or column is missing or unsuitable; each message
        names the file, the tree and the column.
    """
    paths = expand_files([files] if isinstance(files, str | Path) else files)
    names = list(dict.fromkeys(columns))
    file_format = format or infer_format(paths[0])
    if file_format not in FORMATS:
        raise InputFileFormatError(
            f"unknown format {file_format!r}; choose one of {', '.join(FORMATS)}."
        )

    noun = "branch" if file_format == "root" else "column"
    for path in paths:
        schema = _schema(path, file_format, tree)
        _check_columns(path, tree, names, schema, used_by or {}, noun)

    chunks, rows = _READERS[file_format](paths, names, tree, step_size)
    values = {name: _as_column(chunks[name]) for name in names}
    logger.info(
        "read %d columns of %d events from %d %s file(s)",
        len(names),
        sum(rows),
        len(paths),
        file_format,
    )
    return Columns(values, paths, tuple(rows))


def read_simulation(source: SourceConfig) -> SimulationSample:
    """Read the simulated events of a config's ``[simulation]`` table.

    Features of events failing ``pass_gen`` (gen) or ``pass_reco`` (reco)
    may be NaN; those of passing events and every weight must be finite.
    """
    columns = _read_source(source)
    everywhere = np.ones(columns.n_rows, dtype=bool)
    pass_gen = _selection(source, "pass_gen", columns)
    pass_reco = _selection(source, "pass_reco", columns)
    gen = _features(source, source.gen, "gen", columns, pass_gen)
    reco = _features(source, source.reco, "reco", columns, pass_reco)
    weights = _weights(source, columns, everywhere)
    return SimulationSample(gen, reco, weights, pass_gen, pass_reco)


def read_data(source: SourceConfig, reco: Sequence[str] | None = None) -> DataSample:
    """Read the measured events of a config's ``[data]`` table.

    Events failing ``pass_reco`` are dropped. ``reco`` orders the features
    (the simulation's order, so that step 1 compares like with like); the
    config's order by default.
    """
    columns = _read_source(source)
    selected = _selection(source, "pass_reco", columns)
    order = list(reco) if reco is not None else list(source.reco)
    features = {name: source.reco[name] for name in order}
    data = _features(source, features, "reco", columns, selected)
    weights = _weights(source, columns, selected)
    return DataSample(data[selected], None if weights is None else weights[selected])


def _read_source(source: SourceConfig) -> Columns:
    tree = source.tree if source.format == "root" else source.group
    return read_columns(
        source.files,
        source.columns(),
        format=source.format,
        tree=tree,
        step_size=source.step_size,
        used_by=source.columns(),
    )


def _evaluate(expression: Expression, key: str, columns: Columns) -> NDArray[Any]:
    try:
        value = expression.evaluate(columns.values)
    except ExpressionError as error:
        raise ConfigFileError(f"`{key}`: {error}", key) from None
    return np.broadcast_to(value, (columns.n_rows,))


def _selection(source: SourceConfig, name: str, columns: Columns) -> NDArray[np.bool_]:
    expression = getattr(source, name)
    key = f"{source.key}.{name}"
    if expression is None:
        return np.ones(columns.n_rows, dtype=bool)
    mask = _evaluate(expression, key, columns)
    if mask.dtype != bool:
        hint = (
            f"write a comparison such as '{expression.text} != 0'"
            if expression.is_column
            else "write a comparison or a combination of comparisons"
        )
        raise ConfigFileError(
            f"`{key}` = {expression.text!r} gives {mask.dtype} values, not "
            f"true/false; {hint}.",
            key,
        )
    return np.array(mask)


def _features(
    source: SourceConfig,
    features: Mapping[str, Expression],
    level: str,
    columns: Columns,
    selected: NDArray[np.bool_],
) -> NDArray[np.float64]:
    values = []
    for name, expression in features.items():
        key = f"{source.key}.{level}.{name}"
        value = _numbers(_evaluate(expression, key, columns), expression, key)
        _check_finite(value, selected, expression, key, columns)
        values.append(value)
    return np.column_stack(values)


def _weights(
    source: SourceConfig, columns: Columns, selected: NDArray[np.bool_]
) -> NDArray[np.float64] | None:
    if source.weight is None:
        return None
    key = f"{source.key}.weight"
    weights = _numbers(_evaluate(source.weight, key, columns), source.weight, key)
    _check_finite(weights, selected, source.weight, key, columns)
    return weights


def _numbers(value: NDArray[Any], expression: Expression, key: str) -> NDArray[Any]:
    if value.dtype == bool:
        raise ConfigFileError(
            f"`{key}` = {expression.text!r} gives true/false values, not numbers. "
            "Selections belong in pass_gen or pass_reco.",
            key,
        )
    return np.asarray(value, dtype=np.float64)


def _check_finite(
    values: NDArray[np.float64],
    selected: NDArray[np.bool_],
    expression: Expression,
    key: str,
    columns: Columns,
) -> None:
    bad = selected & ~np.isfinite(values)
    if not np.any(bad):
        return
    first = int(np.flatnonzero(bad)[0])
    path, row = columns.origin(first)
    what = (
        f"branch {expression.text!r}"
        if expression.is_column
        else f"expression {expression.text!r}"
    )
    raise NonFiniteColumnError(
        f"{path}: {what} (`{key}`) is NaN or infinite for {int(bad.sum())} "
        f"selected events (first at row {row} of that file, value "
        f"{values[first]}). Fix the values, or mark those events as failing "
        "the selection (pass_gen for gen features, pass_reco for reco)."
    )


def _check_columns(
    path: Path,
    tree: str | None,
    names: list[str],
    schema: dict[str, _Kind],
    used_by: Mapping[str, str],
    noun: str,
) -> None:
    where = f"{path}" + (f", {tree!r}" if tree else "")
    for name in names:
        use = f" (used by `{used_by[name]}`)" if name in used_by else ""
        if name not in schema:
            close = difflib.get_close_matches(name, list(schema), n=SUGGESTIONS)
            hint = (
                f"Did you mean {' or '.join(repr(c) for c in close)}?"
                if close
                else f"It has {len(schema)} columns: "
                f"{', '.join(list(schema)[:10])}{', ...' if len(schema) > 10 else ''}."
            )
            raise BranchNotFoundError(f"{where} has no {noun} {name!r}{use}. {hint}")
        status, description = schema[name]
        if status == "ragged":
            raise RaggedBranchError(
                f"{where}: {noun} {name!r}{use} holds {description}, but a "
                "feature needs one number per event. Flatten it first (one "
                "element or a sum per event) and store that as its own column."
            )
        if status == "type":
            raise BranchTypeError(
                f"{where}: {noun} {name!r}{use} holds {description}, not "
                f"numbers. Use a numeric or boolean {noun}."
            )


def _as_column(chunks: list[NDArray[Any]]) -> NDArray[Any]:
    column = np.concatenate(chunks) if chunks else np.empty(0)
    return column if column.dtype == bool else column.astype(np.float64)


def _open_error(path: Path, file_format: str, error: Exception) -> InputFileFormatError:
    return InputFileFormatError(
        f"{path} cannot be read as a {file_format} file ({type(error).__name__}: "
        f"{error}). Check that the file is complete and of that format, or set "
        "the format explicitly."
    )


def _close_names(name: str, names: Iterable[str]) -> str:
    close = difflib.get_close_matches(name, list(names), n=SUGGESTIONS)
    return f" Did you mean {' or '.join(repr(c) for c in close)}?" if close else ""


def _schema(path: Path, file_format: str, tree: str | None) -> dict[str, _Kind]:
    return _SCHEMAS[file_format](path, tree)


# ROOT ---------------------------------------------------------------------

_ROOT_TREES = ("TTree", "ROOT::RNTuple")


def _root_schema(path: Path, tree: str | None) -> dict[str, _Kind]:
    import uproot

    try:
        file = uproot.open(path)
    except Exception as error:  # uproot raises many types on a bad file
        raise _open_error(path, "ROOT", error) from error
    with file:
        classes = {key.rsplit(";", 1)[0]: cls for key, cls in file.classnames().items()}
        name = tree if tree is not None else _only_tree(path, classes)
        if name not in classes:
            trees = [key for key, cls in classes.items() if cls in _ROOT_TREES]
            raise TreeNotFoundError(
                f"{path} has no tree {name!r}.{_close_names(name, trees)} Its "
                f"trees: {', '.join(trees) or 'none'}."
            )
        if classes[name] not in _ROOT_TREES:
            raise NotATreeError(
                f"{path}: {name!r} is a {classes[name]}, not a TTree. Name the "
                "tree that holds the events (one branch per column)."
            )
        events = file[name]
        names = events.keys()  # every branch, nested ones included
        return {key: _root_kind(events[key]) for key in names}


def _only_tree(path: Path, classes: dict[str, str]) -> str:
    trees = [key for key, cls in classes.items() if cls in _ROOT_TREES]
    if len(trees) != 1:
        raise TreeNotFoundError(
            f"{path} holds {len(trees)} trees ({', '.join(trees) or 'none'}); "
            "name the one to read (`tree` in the config)."
        )
    return trees[0]


def _root_kind(branch: Any) -> _Kind:
    import awkward as ak

    typename = getattr(branch, "typename", "unknown")
    try:
        if hasattr(branch, "to_akform"):
            # An RNTuple field: a one-field record around the field's form.
            record, _ = branch.to_akform()
            form = record.contents[0]
        else:
            form = branch.interpretation.awkward_form(None)
    except Exception:  # uproot cannot interpret the branch at all
        return ("type", f"objects of type {typename}")
    if isinstance(form, ak.forms.NumpyForm):
        if form.inner_shape:
            return ("ragged", f"a fixed-size array per event ({typename})")
        return _dtype_kind(np.dtype(form.primitive), typename)
    if form.parameter("__array__") in ("string", "bytestring", "char", "byte"):
        return ("type", f"strings ({typename})")
    if isinstance(form, ak.forms.ListOffsetForm | ak.forms.ListForm):
        return ("ragged", f"a variable number of values per event ({typename})")
    if isinstance(form, ak.forms.RegularForm):
        return ("ragged", f"a fixed-size array per event ({typename})")
    return ("type", f"values of type {typename}")


def _read_root(
    paths: Sequence[Path], names: list[str], tree: str | None, step_size: int | str
) -> tuple[dict[str, list[NDArray[Any]]], list[int]]:
    import uproot

    trees = {}
    for path in paths:
        if tree is None:
            with uproot.open(path) as file:
                classes = {
                    key.rsplit(";", 1)[0]: cls for key, cls in file.classnames().items()
                }
            trees[str(path)] = _only_tree(path, classes)
        else:
            trees[str(path)] = tree

    wanted = set(names)
    chunks: dict[str, list[NDArray[Any]]] = {name: [] for name in names}
    rows = dict.fromkeys(trees, 0)
    for arrays, report in uproot.iterate(
        trees,
        filter_name=lambda name: name in wanted,
        step_size=step_size,
        library="np",
        report=True,
    ):
        for name in names:
            chunks[name].append(arrays[name])
        rows[report.file_path] += report.tree_entry_stop - report.tree_entry_start
    return chunks, list(rows.values())


# Parquet ------------------------------------------------------------------


def _parquet_schema(path: Path, tree: str | None) -> dict[str, _Kind]:
    import pyarrow.parquet as pq

    try:
        schema = pq.read_schema(path)
    except Exception as error:  # pyarrow raises ArrowInvalid, OSError, ...
        raise _open_error(path, "Parquet", error) from error
    return {field.name: _arrow_kind(field.type) for field in schema}


def _arrow_kind(kind: Any) -> _Kind:
    import pyarrow as pa

    if pa.types.is_integer(kind) or pa.types.is_floating(kind):
        return _OK
    if pa.types.is_boolean(kind):
        return _OK
    if pa.types.is_list(kind) or pa.types.is_large_list(kind):
        return ("ragged", f"a variable number of values per event ({kind})")
    if pa.types.is_fixed_size_list(kind):
        return ("ragged", f"a fixed-size array per event ({kind})")
    if pa.types.is_string(kind) or pa.types.is_large_string(kind):
        return ("type", f"strings ({kind})")
    return ("type", f"values of type {kind}")


def _read_parquet(
    paths: Sequence[Path], names: list[str], tree: str | None, step_size: int | str
) -> tuple[dict[str, list[NDArray[Any]]], list[int]]:
    import pyarrow as pa
    import pyarrow.compute as pc
    import pyarrow.parquet as pq

    chunks: dict[str, list[NDArray[Any]]] = {name: [] for name in names}
    rows = []
    for path in paths:
        count = 0
        with pq.ParquetFile(path) as file:
            for batch in file.iter_batches(
                batch_size=DEFAULT_BATCH_ROWS, columns=names
            ):
                for name in names:
                    column = batch.column(name)
                    if column.null_count:
                        column = pc.fill_null(column.cast(pa.float64()), np.nan)
                    chunks[name].append(column.to_numpy(zero_copy_only=False))
                count += batch.num_rows
        rows.append(count)
    return chunks, rows


# HDF5 ---------------------------------------------------------------------


def _hdf5_schema(path: Path, tree: str | None) -> dict[str, _Kind]:
    import h5py

    try:
        file = h5py.File(path, "r")
    except Exception as error:  # h5py raises OSError on a non-HDF5 file
        raise _open_error(path, "HDF5", error) from error
    with file:
        name = tree or "/"
        if name not in file:
            tables = _hdf5_tables(file)
            raise TreeNotFoundError(
                f"{path} has no group or dataset {name!r}."
                f"{_close_names(name, tables)} Its groups and compound datasets: "
                f"{', '.join(tables) or 'none'}."
            )
        table = file[name]
        if isinstance(table, h5py.Group):
            return {
                key: _hdf5_kind(value)
                for key, value in table.items()
                if isinstance(value, h5py.Dataset)
            }
        if table.dtype.names is None or table.ndim != 1:
            raise NotATreeError(
                f"{path}: {name!r} is a dataset of dtype {table.dtype} and shape "
                f"{table.shape}, not a group of column datasets or a 1-D compound "
                "dataset. Name the group that holds one dataset per column."
            )
        return {
            field: _dtype_kind(table.dtype[field], str(table.dtype[field]))
            for field in table.dtype.names
        }


def _hdf5_tables(file: Any) -> list[str]:
    import h5py

    tables = ["/"]

    def visit(name: str, value: Any) -> None:
        compound = isinstance(value, h5py.Dataset) and value.dtype.names
        if isinstance(value, h5py.Group) or compound:
            tables.append(name)

    file.visititems(visit)
    return tables


def _hdf5_kind(dataset: Any) -> _Kind:
    import h5py

    if h5py.check_vlen_dtype(dataset.dtype) is not None:
        if h5py.check_string_dtype(dataset.dtype) is not None:
            return ("type", "strings")
        return ("ragged", "a variable number of values per event")
    if dataset.ndim != 1:
        return ("ragged", f"a fixed-size array per event (shape {dataset.shape})")
    return _dtype_kind(dataset.dtype, str(dataset.dtype))


def _read_hdf5(
    paths: Sequence[Path], names: list[str], tree: str | None, step_size: int | str
) -> tuple[dict[str, list[NDArray[Any]]], list[int]]:
    import h5py

    chunks: dict[str, list[NDArray[Any]]] = {name: [] for name in names}
    rows = []
    for path in paths:
        with h5py.File(path, "r") as file:
            table = file[tree or "/"]
            lengths = {name: len(_hdf5_column(table, name)) for name in names}
            if len(set(lengths.values())) > 1:
                raise ShapeMismatchError(
                    f"{path}: the columns hold different numbers of events "
                    f"({lengths}). Every column of a sample needs one row per event."
                )
            count = next(iter(lengths.values()), 0)
            for start in range(0, count, DEFAULT_BATCH_ROWS):
                stop = start + DEFAULT_BATCH_ROWS
                for name in names:
                    chunks[name].append(_hdf5_column(table, name)[start:stop])
        rows.append(count)
    return chunks, rows


def _hdf5_column(table: Any, name: str) -> Any:
    import h5py

    return table[name] if isinstance(table, h5py.Group) else table.fields(name)


# NumPy .npz ---------------------------------------------------------------


def _npz_schema(path: Path, tree: str | None) -> dict[str, _Kind]:
    schema = {}
    try:
        with zipfile.ZipFile(path) as archive:
            for member in archive.namelist():
                with archive.open(member) as stream:
                    shape, dtype = _npy_header(stream)
                schema[member.removesuffix(".npy")] = _array_kind(shape, dtype)
    except (zipfile.BadZipFile, ValueError, OSError) as error:
        raise _open_error(path, "NumPy .npz", error) from error
    return schema


def _npy_header(stream: Any) -> tuple[tuple[int, ...], np.dtype[Any]]:
    version = np.lib.format.read_magic(stream)
    read_header = (
        np.lib.format.read_array_header_1_0
        if version == (1, 0)
        else np.lib.format.read_array_header_2_0
    )
    shape, _, dtype = read_header(stream)
    return shape, dtype


def _array_kind(shape: tuple[int, ...], dtype: np.dtype[Any]) -> _Kind:
    if dtype.hasobject:
        return ("type", "Python objects (ragged lists or strings)")
    if len(shape) != 1:
        return ("ragged", f"an array of shape {shape}, several values per event")
    return _dtype_kind(dtype, str(dtype))


def _read_npz(
    paths: Sequence[Path], names: list[str], tree: str | None, step_size: int | str
) -> tuple[dict[str, list[NDArray[Any]]], list[int]]:
    chunks: dict[str, list[NDArray[Any]]] = {name: [] for name in names}
    rows = []
    for path in paths:
        with np.load(path, allow_pickle=False) as archive:
            arrays = {name: archive[name] for name in names}
        lengths = {name: len(array) for name, array in arrays.items()}
        if len(set(lengths.values())) > 1:
            raise ShapeMismatchError(
                f"{path}: the arrays hold different numbers of events ({lengths}). "
                "Every column of a sample needs one row per event."
            )
        for name, array in arrays.items():
            chunks[name].append(array)
        rows.append(next(iter(lengths.values()), 0))
    return chunks, rows


def _dtype_kind(dtype: np.dtype[Any], description: str) -> _Kind:
    if dtype.subdtype is not None:
        return ("ragged", f"a fixed-size array per event ({description})")
    if dtype.kind in "biuf":
        return _OK
    if dtype.kind in "SUa":
        return ("type", f"strings ({description})")
    return ("type", f"values of type {description}")


_Reader = Callable[
    [Sequence[Path], list[str], str | None, int | str],
    tuple[dict[str, list[NDArray[Any]]], list[int]],
]

_SCHEMAS: dict[str, Callable[[Path, str | None], dict[str, _Kind]]] = {
    "root": _root_schema,
    "parquet": _parquet_schema,
    "hdf5": _hdf5_schema,
    "npz": _npz_schema,
}

_READERS: dict[str, _Reader] = {
    "root": _read_root,
    "parquet": _read_parquet,
    "hdf5": _read_hdf5,
    "npz": _read_npz,
}
