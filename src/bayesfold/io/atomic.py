"""Atomic outputs: write under a temporary name, then rename into place.

Every file bayesfold writes goes first to a hidden temporary beside its target
(``.name.<random>.part``, in the same folder, so that the final rename stays on
one file system) and is moved onto the target with :func:`os.replace` only when
the writing succeeded. A run that fails, or is interrupted by Ctrl-C, leaves no
half-written output and no temporary behind. An existing target is refused
unless ``overwrite`` is true.

:func:`atomic_path` does this for one file or folder; :func:`atomic_paths`
for several at once: all are written first, then all are moved into place, and
if any step fails the ones already moved are taken back (and, with
``overwrite``, the files they replaced are restored).

A process killed by SIGKILL, or by a SIGTERM that Python does not turn into an
exception, runs no cleanup: it leaves a ``.part`` temporary, never a partial
target.
"""

from __future__ import annotations

import logging
import os
import shutil
import tempfile
from collections.abc import Collection, Iterator, Sequence
from contextlib import contextmanager
from pathlib import Path

from bayesfold.exceptions import ConfigurationError, OutputExistsError

__all__ = ["atomic_path", "atomic_paths", "check_new"]

logger = logging.getLogger(__name__)

#: Suffix of the temporary files and folders, and of files set aside.
TEMPORARY_SUFFIX = ".part"
SET_ASIDE_SUFFIX = ".old"


def check_new(targets: Sequence[Path | str], *, overwrite: bool = False) -> None:
    """Raise :class:`OutputExistsError` if any target exists and not ``overwrite``.

    All existing targets are named in one message, so that one look at the
    error tells what would have been replaced.
    """
    if overwrite:
        return
    existing = [Path(target) for target in targets if os.path.lexists(target)]
    if existing:
        raise _exists_error(existing)


@contextmanager
def atomic_path(
    target: Path | str, *, overwrite: bool = False, directory: bool = False
) -> Iterator[Path]:
    """A temporary path beside ``target``, moved onto it only on success.

    Parameters
    ----------
    target : path
        The file (or folder) to write. Its parent folder must exist.
    overwrite : bool
        Replace an existing target; without it an existing target raises
        :class:`OutputExistsError` before anything is written.
    directory : bool
        Yield an empty temporary folder instead of an empty temporary file.

    Yields
    ------
    Path
        Where to write: an existing, empty, hidden file (or folder) named
        ``.<target name>.<random>.part`` in the target's folder.

    Examples
    --------
    >>> import tempfile
    >>> folder = Path(tempfile.mkdtemp())
    >>> with atomic_path(folder / "summary.json") as path:
    ...     _ = path.write_text("{}")
    >>> sorted(p.name for p in folder.iterdir())
    ['summary.json']
    """
    with atomic_paths(
        [target], directories=[target] if directory else (), overwrite=overwrite
    ) as staged:
        yield staged[Path(target)]


@contextmanager
def atomic_paths(
    targets: Sequence[Path | str],
    *,
    directories: Collection[Path | str] = (),
    overwrite: bool = False,
) -> Iterator[dict[Path, Path]]:
    """Temporary paths for several targets, all moved into place on success.

    Every target is checked first (:func:`check_new`), so a refused call
    writes nothing. After the block, the temporaries are moved onto their
    targets in order; if the block raises (``KeyboardInterrupt`` included),
    or a move fails, every temporary is removed, every target already moved
    is removed again and, with ``overwrite``, the files it replaced are put
    back. Targets in ``directories`` get temporary folders, the others
    temporary files.

    Yields
    ------
    dict
        Target path to the temporary path to write it at.
    """
    paths = [Path(target) for target in targets]
    folders = {Path(folder) for folder in directories}
    if len(set(paths)) != len(paths):
        raise ConfigurationError(
            f"each output must be named once; got {[str(p) for p in paths]}."
        )
    check_new(paths, overwrite=overwrite)

    staged: dict[Path, Path] = {}
    try:
        for target in paths:
            staged[target] = _temporary(target, directory=target in folders)
        yield staged
        _commit(staged, overwrite=overwrite)
    finally:
        for temporary in staged.values():
            _remove(temporary)


def _temporary(target: Path, *, directory: bool) -> Path:
    prefix = f".{target.name}."
    if directory:
        return Path(
            tempfile.mkdtemp(dir=target.parent, prefix=prefix, suffix=TEMPORARY_SUFFIX)
        )
    handle, name = tempfile.mkstemp(
        dir=target.parent, prefix=prefix, suffix=TEMPORARY_SUFFIX
    )
    os.close(handle)
    return Path(name)


def _commit(staged: dict[Path, Path], *, overwrite: bool) -> None:
    """Move every temporary onto its target, or none of them."""
    set_aside: dict[Path, Path] = {}
    placed: list[Path] = []
    try:
        for target, temporary in staged.items():
            _give_default_mode(temporary)
            if os.path.lexists(target):
                # Another process may have created it since the check.
                check_new([target], overwrite=overwrite)
                # A single file is replaced in one step (readers always see
                # the old or the new one); anything that may need putting
                # back, or a folder, which os.replace cannot replace, is
                # moved aside first.
                if len(staged) > 1 or target.is_dir():
                    set_aside[target] = _set_aside(target)
            os.replace(temporary, target)
            placed.append(target)
    except BaseException:
        for target in reversed(placed):
            _remove(target)
        for target, aside in set_aside.items():
            os.replace(aside, target)
        raise
    for aside in set_aside.values():
        _remove(aside)
    logger.debug("wrote %s", ", ".join(map(str, staged)))


def _give_default_mode(path: Path) -> None:
    """The permissions a plain ``open`` or ``mkdir`` would have given.

    Temporaries are created private (0o600, folders 0o700); the output should
    be readable as any other file the user writes.
    """
    umask = os.umask(0)
    os.umask(umask)
    mode = 0o777 if path.is_dir() else 0o666
    os.chmod(path, mode & ~umask)


def _set_aside(target: Path) -> Path:
    """Rename ``target`` to a fresh hidden name beside it and return that name."""
    aside = Path(
        tempfile.mkdtemp(
            dir=target.parent, prefix=f".{target.name}.", suffix=SET_ASIDE_SUFFIX
        )
    )
    # mkdtemp reserves a unique name; an empty folder can be renamed over.
    aside.rmdir()
    os.replace(target, aside)
    return aside


def _remove(path: Path) -> None:
    """Remove a file or a folder tree if it exists."""
    if path.is_dir() and not path.is_symlink():
        shutil.rmtree(path, ignore_errors=True)
    else:
        path.unlink(missing_ok=True)


def _exists_error(existing: list[Path]) -> OutputExistsError:
    names = ", ".join(str(path) for path in existing)
    noun = "output exists" if len(existing) == 1 else "outputs exist"
    return OutputExistsError(
        f"{noun} already: {names}. Choose another output folder, remove "
        "them, or pass --overwrite (overwrite=True) to replace them."
    )
