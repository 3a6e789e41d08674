"""Change detection: what the DAG processor re-parses, driven by a fake clock."""

from __future__ import annotations

import os
from datetime import UTC, datetime, timedelta
from pathlib import Path

from dagflow.dag_processing.file_tracker import FileTracker

T0 = datetime(2024, 1, 1, tzinfo=UTC)
DAG_TEXT = "# a dag file\nx = 1\n"


def tracker_for(folder: Path, *, list_interval: float = 60, reparse_interval: float = 30) -> FileTracker:
    return FileTracker([folder], list_interval=list_interval, reparse_interval=reparse_interval)


def parse_all(tracker: FileTracker, now: datetime) -> list[str]:
    """Simulate a pass: everything due is 'parsed' and recorded; the parsed names."""
    changes = tracker.changes(now)
    for path, stamp in changes.to_parse.items():
        tracker.record(path, stamp, now)
    for path in changes.removed:
        tracker.forget(path)
    return sorted(Path(p).name for p in changes.to_parse)


def test_new_files_are_parsed_once_then_not_again(tmp_path: Path) -> None:
    (tmp_path / "a.py").write_text(DAG_TEXT)
    (tmp_path / "b.py").write_text(DAG_TEXT)
    tracker = tracker_for(tmp_path)
    tracker.relist_if_due(T0)

    assert parse_all(tracker, T0) == ["a.py", "b.py"]
    assert parse_all(tracker, T0 + timedelta(seconds=1)) == []


def test_content_change_is_parsed_touch_alone_is_not(tmp_path: Path) -> None:
    path = tmp_path / "a.py"
    path.write_text(DAG_TEXT)
    tracker = tracker_for(tmp_path)
    tracker.relist_if_due(T0)
    parse_all(tracker, T0)

    stat = path.stat()
    os.utime(path, ns=(stat.st_atime_ns, stat.st_mtime_ns + 5_000_000_000))
    assert parse_all(tracker, T0 + timedelta(seconds=1)) == []

    path.write_text(DAG_TEXT + "y = 2\n")
    assert parse_all(tracker, T0 + timedelta(seconds=2)) == ["a.py"]


def test_same_size_edit_with_new_mtime_is_parsed(tmp_path: Path) -> None:
    path = tmp_path / "a.py"
    path.write_text(DAG_TEXT)
    tracker = tracker_for(tmp_path)
    tracker.relist_if_due(T0)
    parse_all(tracker, T0)

    stat = path.stat()
    path.write_text(DAG_TEXT.replace("1", "2"))
    os.utime(path, ns=(stat.st_atime_ns, stat.st_mtime_ns + 1_000_000))
    assert parse_all(tracker, T0 + timedelta(seconds=1)) == ["a.py"]


def test_unchanged_file_is_reparsed_after_min_file_process_interval(tmp_path: Path) -> None:
    (tmp_path / "a.py").write_text(DAG_TEXT)
    tracker = tracker_for(tmp_path, reparse_interval=30)
    tracker.relist_if_due(T0)
    parse_all(tracker, T0)

    assert parse_all(tracker, T0 + timedelta(seconds=29)) == []
    assert parse_all(tracker, T0 + timedelta(seconds=30)) == ["a.py"]


def test_deleted_file_is_removed_at_once_new_file_waits_for_the_listing(tmp_path: Path) -> None:
    (tmp_path / "a.py").write_text(DAG_TEXT)
    tracker = tracker_for(tmp_path, list_interval=60)
    tracker.relist_if_due(T0)
    parse_all(tracker, T0)

    (tmp_path / "a.py").unlink()
    (tmp_path / "b.py").write_text(DAG_TEXT)
    changes = tracker.changes(T0 + timedelta(seconds=1))
    assert [Path(p).name for p in changes.removed] == ["a.py"]
    assert changes.to_parse == {}

    assert tracker.relist_if_due(T0 + timedelta(seconds=30)) is False
    assert tracker.relist_if_due(T0 + timedelta(seconds=60)) is True
    assert parse_all(tracker, T0 + timedelta(seconds=60)) == ["b.py"]


def test_file_dropped_from_the_listing_is_removed(tmp_path: Path) -> None:
    (tmp_path / "a.py").write_text(DAG_TEXT)
    tracker = tracker_for(tmp_path)
    tracker.relist_if_due(T0)
    parse_all(tracker, T0)

    (tmp_path / ".dagflowignore").write_text("a.py\n")
    tracker.relist_if_due(T0, force=True)
    assert [Path(p).name for p in tracker.changes(T0).removed] == ["a.py"]
