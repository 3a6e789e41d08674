"""``@task`` mapped with ``.partial(...).expand(...)``: each mapped try runs (it used to fail
``DuplicateTaskIdFound``: the unmapped operator joined the DAG through its XComArg argument)."""

from __future__ import annotations

from datetime import datetime
from pathlib import Path

from dagflow import dag, task
from dagflow.db import Database
from dagflow.testing import run_dag


@dag(schedule=None, start_date=datetime(2024, 1, 1))
def partial_then_expand() -> None:
    @task
    def extract() -> int:
        return 7

    @task
    def transform(data: int, region: str) -> str:
        return f"{data}-{region}"

    @task
    def load(rows: list[str], out: str) -> None:
        Path(out).write_text(",".join(rows))

    load(transform.partial(data=extract()).expand(region=["eu", "us", "ap"]), out=OUT)


OUT = ""


def test_partial_with_an_xcomarg_then_expand_runs_every_mapped_try(db: Database, tmp_path: Path) -> None:
    global OUT
    OUT = str(tmp_path / "loaded.txt")
    report = run_dag(partial_then_expand(), db=db)
    assert report.state == "success", report.document
    assert [ti["state"] for ti in report.document["task_instances"] if ti["task_id"] == "transform"] == ["success"] * 3
    assert Path(OUT).read_text() == "7-eu,7-us,7-ap"
