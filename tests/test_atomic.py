"""Atomic outputs: nothing half-written, nothing replaced without overwrite."""

from __future__ import annotations

import pytest

from bayesfold.exceptions import OutputExistsError
from bayesfold.io.atomic import atomic_path, atomic_paths


def _names(folder):
    return sorted(path.name for path in folder.iterdir())


def _write_then_fail(targets, error, **options):
    """Write every target's temporary, then raise ``error`` inside the block."""
    with atomic_paths(targets, **options) as staged:
        for temporary in staged.values():
            temporary.write_text("new")
        raise error


def test_success_moves_the_temporary_into_place(tmp_path):
    target = tmp_path / "out.txt"
    with atomic_path(target) as path:
        assert path.parent == tmp_path
        assert path.name.startswith(".out.txt.")
        assert path.name.endswith(".part")
        path.write_text("done")
        assert not target.exists()
    assert target.read_text() == "done"
    assert _names(tmp_path) == ["out.txt"]


@pytest.mark.parametrize("error", [RuntimeError, KeyboardInterrupt])
def test_an_exception_leaves_neither_target_nor_temporary(tmp_path, error):
    with pytest.raises(error):
        _write_then_fail([tmp_path / "out.txt"], error)
    assert _names(tmp_path) == []


def test_existing_target_is_refused_and_left_unchanged(tmp_path):
    target = tmp_path / "out.txt"
    target.write_text("old")
    with (
        pytest.raises(OutputExistsError, match="--overwrite"),
        atomic_path(target) as path,
    ):
        path.write_text("new")
    assert target.read_text() == "old"
    assert _names(tmp_path) == ["out.txt"]


def test_overwrite_replaces_and_failure_keeps_the_old_file(tmp_path):
    target = tmp_path / "out.txt"
    target.write_text("old")
    with pytest.raises(RuntimeError):
        _write_then_fail([target], RuntimeError, overwrite=True)
    assert target.read_text() == "old"

    with atomic_path(target, overwrite=True) as path:
        path.write_text("new")
    assert target.read_text() == "new"
    assert _names(tmp_path) == ["out.txt"]


def test_a_folder_is_replaced_as_a_whole(tmp_path):
    target = tmp_path / "tables"
    target.mkdir()
    (target / "stale.yaml").write_text("old")
    with atomic_path(target, directory=True, overwrite=True) as path:
        assert path.is_dir()
        (path / "fresh.yaml").write_text("new")
    assert _names(target) == ["fresh.yaml"]
    assert _names(tmp_path) == ["tables"]


def test_batch_is_all_or_nothing(tmp_path):
    first, second = tmp_path / "a.txt", tmp_path / "b.txt"
    second.write_text("old")
    with pytest.raises(OutputExistsError, match=r"b\.txt"):
        _write_then_fail([first, second], RuntimeError)
    assert _names(tmp_path) == ["b.txt"]

    with pytest.raises(KeyboardInterrupt):
        _write_then_fail([first, second], KeyboardInterrupt, overwrite=True)
    assert _names(tmp_path) == ["b.txt"]
    assert second.read_text() == "old"


def test_batch_puts_back_what_a_failed_move_replaced(tmp_path):
    first, blocked = tmp_path / "a.txt", tmp_path / "b"
    first.write_text("old a")
    with pytest.raises(FileNotFoundError):
        _lose_second_temporary([first, blocked])
    assert first.read_text() == "old a"
    assert _names(tmp_path) == ["a.txt"]


def _lose_second_temporary(targets):
    """A real failure of the second move: its temporary vanishes before it."""
    with atomic_paths(targets, overwrite=True) as staged:
        for temporary in staged.values():
            temporary.write_text("new")
        staged[targets[1]].unlink()


def test_outputs_get_the_permissions_of_ordinary_files(tmp_path):
    reference_file = tmp_path / "plain.txt"
    reference_file.write_text("x")
    reference_folder = tmp_path / "plain"
    reference_folder.mkdir()
    with atomic_paths(
        [tmp_path / "out.txt", tmp_path / "tables"], directories=[tmp_path / "tables"]
    ) as staged:
        staged[tmp_path / "out.txt"].write_text("x")
    mode = (tmp_path / "out.txt").stat().st_mode
    assert mode == reference_file.stat().st_mode
    assert (tmp_path / "tables").stat().st_mode == reference_folder.stat().st_mode
