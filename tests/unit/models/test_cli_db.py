"""``dagflow db migrate | reset --yes | check`` through the real CLI entry point."""

from __future__ import annotations

import re
from pathlib import Path

import pytest

from dagflow.cli import main


def _run(capsys: pytest.CaptureFixture[str], *args: str) -> tuple[int, str, str]:
    code = main(["db", *args])
    out, err = capsys.readouterr()
    return code, out, err


@pytest.fixture(autouse=True)
def _home(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("DAGFLOW_HOME", str(tmp_path))
    monkeypatch.delenv("DAGFLOW__DATABASE__SQL_ALCHEMY_CONN", raising=False)


def test_migrate_check_reset(capsys: pytest.CaptureFixture[str]) -> None:
    code, _, err = _run(capsys, "check")
    assert code == 1 and "does not exist: run `dagflow db migrate`" in err and len(err.strip().splitlines()) == 1
    code, out, _ = _run(capsys, "migrate")
    assert code == 0 and re.fullmatch(r"Database migrated to revision \S+\.\n", out)
    code, out, _ = _run(capsys, "check")
    assert code == 0 and "(head)" in out
    code, out, _ = _run(capsys, "reset", "--yes")
    assert code == 0 and "reset" in out


def test_reset_refuses_without_yes(capsys: pytest.CaptureFixture[str]) -> None:
    code, _, err = _run(capsys, "reset")
    assert code == 2
    assert err.strip().splitlines() == ["Error: db reset drops every table and all their data; pass --yes to confirm"]


def test_bad_url_is_one_line(capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("DAGFLOW__DATABASE__SQL_ALCHEMY_CONN", "mysql://u@h/db")
    code, _, err = _run(capsys, "check")
    assert code == 1 and err.strip().splitlines() == [
        "Error: database.sql_alchemy_conn: unsupported database 'mysql' (use sqlite:/// or postgresql+psycopg://)"
    ]
