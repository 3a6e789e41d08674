"""Deferral and rescheduling through ``dagflow.testing.run_dag`` (the ``dags test`` path: triggers run inline).

A deferred try ends ``deferred`` holding no slot, its trigger fires, and the task resumes
in the named method with the event and its kwargs, keeping its try number and the XComs
it pushed before deferring. A reschedule-mode sensor's pokes keep try number 1 too.
"""

from __future__ import annotations

from datetime import timedelta
from pathlib import Path
from typing import Any

import pendulum
import sqlalchemy as sa

from dagflow import DAG
from dagflow.db import Database
from dagflow.models import TaskInstanceHistory, Trigger
from dagflow.operators import PythonOperator
from dagflow.sdk.baseoperator import BaseOperator
from dagflow.sensors import DateTimeSensor, FileSensor, PythonSensor, TimeDeltaSensor
from dagflow.testing import FrozenClock, run_dag
from dagflow.triggers import TimeDeltaTrigger

START = pendulum.datetime(2024, 1, 1, tz="UTC")


class WaitThenFinish(BaseOperator):
    """Pushes an XCom, defers to a short timer, resumes in ``finish`` with the event and its kwargs."""

    def execute(self, context: Any) -> None:
        context["ti"].xcom_push("before", "kept")
        self.defer(trigger=TimeDeltaTrigger(timedelta(seconds=0.3)), method_name="finish", kwargs={"n": 3})

    def finish(self, context: Any, event: Any = None, n: int = 0) -> dict[str, Any]:
        return {"event_is_iso": isinstance(event, str), "n": n, "before": context["ti"].xcom_pull(key="before")}


def _tries(db: Database, dag_id: str) -> list[tuple[str, int, str]]:
    with db.transaction(readonly=True) as session:
        rows = session.execute(
            sa.select(TaskInstanceHistory.task_id, TaskInstanceHistory.try_number, TaskInstanceHistory.state)
            .where(TaskInstanceHistory.dag_id == dag_id)
            .order_by(TaskInstanceHistory.id)
        ).all()
    return [(t, n, s.value) for t, n, s in rows]


def test_deferred_tasks_resume_in_their_method_with_the_same_try(db: Database, tmp_path: Path) -> None:
    marker = tmp_path / "ready.txt"
    with DAG("deferring", schedule=None, start_date=START) as dag:
        op = WaitThenFinish(task_id="op")
        # waits long enough that a loaded machine still reaches them before their moment (they must defer)
        wait = TimeDeltaSensor(task_id="wait", delta=timedelta(seconds=2), deferrable=True)
        moment = DateTimeSensor(
            task_id="moment",
            target_time="{{ (data_interval_end + macros.timedelta(seconds=2)).isoformat() }}",
            deferrable=True,
        )

        def make_file() -> None:
            marker.write_text("x")

        touch = PythonOperator(task_id="touch", python_callable=make_file)
        file = FileSensor(task_id="file", filepath=str(marker), deferrable=True, poke_interval=0.1)
        done = PythonOperator(task_id="done", python_callable=lambda ti: ti.xcom_pull(task_ids="op"))
        [op, wait, moment] >> touch >> file >> done
    report = run_dag(dag, db=db)

    assert report.state == "success", report.document
    for task_id in ("op", "wait", "moment", "done"):
        assert report.ti(task_id)["state"] == "success"
        assert report.ti(task_id)["try_number"] == 1
    assert report.ti("file")["try_number"] == 1
    tries = _tries(db, "deferring")
    assert ("op", 1, "deferred") in tries and ("op", 1, "success") in tries
    assert ("wait", 1, "deferred") in tries and ("moment", 1, "deferred") in tries
    assert ("file", 1, "success") in tries and ("file", 1, "deferred") not in tries  # the file existed: no wait
    with db.transaction(readonly=True) as session:
        from dagflow.models import XCom

        value = session.scalar(sa.select(XCom.value).where(XCom.task_id == "done", XCom.key == "return_value"))
        assert session.scalar(sa.select(sa.func.count()).select_from(Trigger)) == 0
    assert value == {"event_is_iso": True, "n": 3, "before": "kept"}


def test_trigger_timeout_fails_a_sensor_without_retry_and_an_operator_with_retries(
    db: Database, tmp_path: Path
) -> None:
    class NeverFires(BaseOperator):
        def execute(self, context: Any) -> None:
            self.defer(trigger=TimeDeltaTrigger(timedelta(hours=1)), method_name="execute", timeout=0.2)

    with DAG("timing_out", schedule=None, start_date=START) as dag:
        FileSensor(task_id="never", filepath=str(tmp_path / "nope"), deferrable=True, timeout=0.3, retries=2)
        NeverFires(task_id="op", retries=1, retry_delay=0)
    report = run_dag(dag, db=db)
    assert report.state == "failed"
    assert report.ti("never")["state"] == "failed" and report.ti("never")["try_number"] == 1
    assert report.ti("op")["state"] == "failed" and report.ti("op")["try_number"] == 2
    assert "Trigger timeout" in report.ti("op")["end_reason"]
    assert "timed out while deferred" in report.ti("never")["end_reason"]


def test_reschedule_pokes_do_not_count_as_tries(db: Database, tmp_path: Path) -> None:
    counter = tmp_path / "pokes"

    def third_time(**_: Any) -> bool:
        pokes = int(counter.read_text()) + 1 if counter.exists() else 1
        counter.write_text(str(pokes))
        return pokes >= 3

    with DAG("rescheduling", schedule=None, start_date=START) as dag:
        PythonSensor(task_id="poke", python_callable=third_time, mode="reschedule", poke_interval=30, retries=0)
    report = run_dag(dag, db=db, clock=FrozenClock())
    assert report.state == "success"
    assert counter.read_text() == "3"
    assert report.ti("poke")["try_number"] == 1
    assert [n for _, n, _ in _tries(db, "rescheduling")] == [1, 1, 1]


def test_tasks_test_resumes_a_deferred_task_and_records_no_asset_event(
    db: Database, settings: Any, tmp_path: Path
) -> None:
    from dagflow.dag_processing.loader import load_file
    from dagflow.models import AssetEvent
    from dagflow.services.task_test import test_task as run_task_test

    dags = tmp_path / "dags"
    dags.mkdir()
    (dags / "tested.py").write_text(
        "from datetime import datetime, timedelta\n"
        "from dagflow import DAG, Asset\n"
        "from dagflow.sensors import TimeDeltaSensor\n"
        "with DAG('tested', schedule=None, start_date=datetime(2024, 1, 1)):\n"
        "    TimeDeltaSensor(task_id='wait', delta=timedelta(seconds=3), deferrable=True,\n"
        "                    outlets=[Asset('s3://x/y')])\n"
    )
    (dag,) = load_file(dags / "tested.py").dags
    settings = settings.replace(core={"dags_folder": dags})
    result = run_task_test(settings, db, dag, "wait")
    assert (result["state"], result["try_number"]) == ("success", 1), (result["reason"], result["log"][-1500:])
    assert "after deferral" in result["log"]
    with db.transaction(readonly=True) as session:
        assert session.scalar(sa.select(sa.func.count()).select_from(AssetEvent)) == 0
        assert session.scalar(sa.select(sa.func.count()).select_from(Trigger)) == 0
