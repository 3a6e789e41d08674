"""``dagflow sla list`` and the reasons a person sees: ``tasks states-for-dag-run`` and ``tasks tries``."""

from __future__ import annotations

import pendulum
import sqlalchemy as sa

from dagflow.models import SlaMiss, TaskInstance, TaskInstanceHistory
from dagflow.state import TaskInstanceState

TI = TaskInstanceState
DAY = pendulum.datetime(2024, 1, 3, tz="UTC")
LOST = "worker lost: no heartbeat for 301s (host w1, pid 7); infra retry 1 of 2 (does not use a retry)"


def _add_misses(db) -> None:
    with db.transaction() as session:
        for dag_id, task_id, late, seen in (("cli_dag", "b", 1800.0, 1), ("other", "x", 5.5, 2)):
            session.add(
                SlaMiss(
                    dag_id=dag_id,
                    task_id=task_id,
                    run_id="scheduled__2024-01-03",
                    map_index=-1,
                    logical_date=DAY,
                    expected_by=DAY.add(days=1, hours=2),
                    detected_at=DAY.add(days=1, hours=2 + seen),
                    late_by_seconds=late,
                )
            )


def test_sla_list_json_filter_and_plain(run_cli, cli_db) -> None:
    assert run_cli("sla", "list", "-o", "json").json() == []
    _add_misses(cli_db)
    rows = run_cli("sla", "list", "--output", "json").json()
    assert [r["task_id"] for r in rows] == ["x", "b"]  # newest first
    assert rows[1] == {
        "id": 1,
        "dag_id": "cli_dag",
        "task_id": "b",
        "run_id": "scheduled__2024-01-03",
        "map_index": -1,
        "logical_date": "2024-01-03T00:00:00+00:00",
        "expected_by": "2024-01-04T02:00:00+00:00",
        "late_by_seconds": 1800.0,
        "detected_at": "2024-01-04T03:00:00+00:00",
        "callback_ran": False,
    }
    only = run_cli("sla", "list", "--dag-id", "cli_dag", "-o", "plain")
    assert only.exit_code == 0
    assert only.stdout.splitlines() == [
        "cli_dag\tb\tscheduled__2024-01-03\t-1\t2024-01-03T00:00:00+00:00\t"
        "2024-01-04T02:00:00+00:00\t1800.0\t2024-01-04T03:00:00+00:00\tFalse"
    ]
    table = run_cli("sla", "list")
    assert table.exit_code == 0 and "late_by_seconds" in table.stdout and "1800.0" in table.stdout


def test_states_for_dag_run_and_tries_show_why_each_try_ended(run_cli, cli_db) -> None:
    assert run_cli("dags", "trigger", "cli_dag", "--run-id", "r1").exit_code == 0
    with cli_db.transaction() as session:
        ti = session.scalars(
            sa.select(TaskInstance).where(TaskInstance.run_id == "r1", TaskInstance.task_id == "a")
        ).one()
        session.execute(
            sa.update(TaskInstance)
            .where(TaskInstance.id == ti.id)
            .values(try_number=1, max_tries=3, infra_tries=1, end_reason=LOST)
        )
        session.add(
            TaskInstanceHistory(
                ti_id=ti.id,
                dag_id="cli_dag",
                run_id="r1",
                task_id="a",
                map_index=-1,
                try_number=1,
                state=TI.UP_FOR_RETRY,
                hostname="w1",
                pid=7,
                reason=LOST,
                start_date=DAY,
                end_date=DAY.add(minutes=6),
            )
        )
    doc = run_cli("tasks", "states-for-dag-run", "cli_dag", "r1", "-o", "json").json()
    (row,) = [r for r in doc["task_instances"] if r["task_id"] == "a"]
    assert (row["end_reason"], row["infra_tries"], row["requeue_count"]) == (LOST, 1, 0)
    assert LOST in run_cli("tasks", "states-for-dag-run", "cli_dag", "r1", "-o", "plain").stdout
    (tried,) = run_cli("tasks", "tries", "cli_dag", "r1", "-o", "json").json()
    assert tried == {
        "task_id": "a",
        "map_index": -1,
        "try_number": 1,
        "state": "up_for_retry",
        "start_date": "2024-01-03T00:00:00+00:00",
        "end_date": "2024-01-03T00:06:00+00:00",
        "duration": None,
        "hostname": "w1",
        "pid": 7,
        "reason": LOST,
    }
    assert run_cli("tasks", "tries", "cli_dag", "r1", "--task-id", "b", "-o", "json").json() == []
    missing = run_cli("tasks", "tries", "cli_dag", "nope")
    assert missing.exit_code == 1 and missing.stderr.startswith("Error: DAG run 'nope'")
