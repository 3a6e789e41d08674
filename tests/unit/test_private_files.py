"""Private files and folders: 0700/0600 whatever the process umask."""

from __future__ import annotations

import os
import stat
from collections.abc import Iterator
from pathlib import Path

import pytest

from dagflow.private_files import append_private_text, create_private_file, make_private_dirs, write_private_text


@pytest.fixture(autouse=True)
def _open_umask() -> Iterator[None]:
    """The most open umask: only the explicit modes can keep things private."""
    old = os.umask(0)
    yield
    os.umask(old)


def _mode(path: Path) -> int:
    return stat.S_IMODE(path.stat().st_mode)


def test_every_missing_folder_is_created_0700(tmp_path: Path) -> None:
    (tmp_path / "kept").mkdir(mode=0o755)
    make_private_dirs(tmp_path / "kept" / "a" / "b")
    assert _mode(tmp_path / "kept") == 0o755  # existing folders are left as they are
    assert _mode(tmp_path / "kept" / "a") == _mode(tmp_path / "kept" / "a" / "b") == 0o700
    make_private_dirs(tmp_path / "kept" / "a" / "b")  # idempotent


def test_files_are_created_0600(tmp_path: Path) -> None:
    assert create_private_file(tmp_path / "db") is True and create_private_file(tmp_path / "db") is False
    append_private_text(tmp_path / "logs" / "x.log", "one\n")
    append_private_text(tmp_path / "logs" / "x.log", "two\n")
    write_private_text(tmp_path / "key", "k1\n")
    write_private_text(tmp_path / "key", "k2\n")
    assert (tmp_path / "logs" / "x.log").read_text() == "one\ntwo\n" and (tmp_path / "key").read_text() == "k2\n"
    for path in ("db", "logs/x.log", "key"):
        assert _mode(tmp_path / path) == 0o600, path
    assert _mode(tmp_path / "logs") == 0o700
    assert sorted(p.name for p in tmp_path.iterdir()) == ["db", "key", "logs"]
