"""The inline executor runs each workload inside submit() and reports it at poll()."""

from __future__ import annotations

from dagflow.db import Database
from dagflow.executors.inline import InlineExecutor
from dagflow.state import TaskInstanceState as TI

from ._rows import add_dag_file, add_run, add_ti

DAG_SOURCE = """
from datetime import datetime
from dagflow import DAG
from dagflow.operators import PythonOperator
with DAG("d", schedule=None, start_date=datetime(2024, 1, 1)):
    PythonOperator(task_id="t", python_callable=lambda: 41 + 1)
"""


def test_submit_runs_and_poll_reports(db: Database) -> None:
    add_dag_file(db, DAG_SOURCE)
    add_run(db)
    workload = add_ti(db, "t")
    executor = InlineExecutor(db.settings, db=db, fork=False)
    assert executor.slots_free == 1
    executor.submit(workload)
    events = executor.poll()
    assert [(e.ti_id, e.try_number, e.state) for e in events] == [(workload.ti_id, 1, TI.SUCCESS)]
    assert executor.poll() == []
    executor.submit(workload)  # delivered twice: the second is not claimed
    (again,) = executor.poll()
    assert again.state is TI.SUCCESS and again.info is not None and again.info.startswith("not claimed")
    executor.shutdown()
