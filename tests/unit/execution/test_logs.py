"""Log file layout, reading the latest try, and level names."""

from __future__ import annotations

import logging
from pathlib import Path

from dagflow.execution.logs import capture_in_process, list_tries, log_path, read_log, resolve_level


def test_layout(tmp_path: Path) -> None:
    plain = log_path(tmp_path, dag_id="d", run_id="r", task_id="t", try_number=2)
    assert plain == tmp_path / "dag_id=d" / "run_id=r" / "task_id=t" / "attempt=2.log"
    mapped = log_path(tmp_path, dag_id="d", run_id="r", task_id="t", map_index=3, try_number=1)
    assert mapped.parent.name == "map_index=3"


def test_read_latest_and_specific_try(tmp_path: Path) -> None:
    for n in (1, 2, 10):
        path = log_path(tmp_path, dag_id="d", run_id="r", task_id="t", try_number=n)
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(f"try {n}")
    assert list_tries(tmp_path, dag_id="d", run_id="r", task_id="t") == [1, 2, 10]
    assert read_log(tmp_path, dag_id="d", run_id="r", task_id="t") == "try 10"
    assert read_log(tmp_path, dag_id="d", run_id="r", task_id="t", try_number=2) == "try 2"
    assert read_log(tmp_path, dag_id="d", run_id="r", task_id="nope") == ""
    assert read_log(tmp_path, dag_id="d", run_id="r", task_id="t", offset=4, max_bytes=1) == "1"


def test_resolve_level() -> None:
    assert resolve_level("debug") == logging.DEBUG
    assert resolve_level(None, "WARNING") == logging.WARNING
    assert resolve_level(logging.ERROR) == logging.ERROR
    assert resolve_level("nonsense") == logging.INFO


def test_capture_in_process_filters_by_level(tmp_path: Path) -> None:
    path = tmp_path / "x" / "attempt=1.log"
    with capture_in_process(path, logging.WARNING):
        print("printed")
        logging.getLogger("t").info("hidden")
        logging.getLogger("t").warning("shown")
    text = path.read_text()
    assert "printed" in text and "shown" in text and "hidden" not in text
