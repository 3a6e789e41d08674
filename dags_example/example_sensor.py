"""Sensors: wait for a file an upstream task writes, then for a condition in Python.

Shows:
- ``FileSensor`` on a templated path, poking every half second;
- ``PythonSensor`` in ``mode="reschedule"``: between pokes the task gives its worker
  slot back and waits as ``up_for_reschedule``, instead of sleeping while it holds it.
  Here it waits until the delivered file has not changed for a second (an upload
  that has settled), so it pokes two or three times; its function returns a
  ``PokeReturnValue`` whose ``xcom_value`` (the row count) a later task reads;
- ``timeout`` on a sensor (here generous); with ``soft_fail=True`` a sensor that times
  out is ``skipped`` instead of ``failed``.
"""

from __future__ import annotations

import tempfile
import time
from datetime import datetime
from pathlib import Path

from dagflow import DAG
from dagflow.operators import BashOperator, PythonOperator
from dagflow.sensors import FileSensor, PokeReturnValue, PythonSensor

LANDING = str(Path(tempfile.gettempdir()) / "dagflow_examples" / "landing")


def deliver(ds_nodash: str) -> str:
    """Stand-in for a partner dropping a file: write data, then the _SUCCESS marker."""
    folder = Path(LANDING) / ds_nodash
    folder.mkdir(parents=True, exist_ok=True)
    (folder / "data.csv").write_text("id,value\n1,10\n2,20\n3,30\n")
    (folder / "_SUCCESS").write_text("")
    return str(folder)


def upload_settled(path: str, quiet_seconds: float) -> PokeReturnValue:
    """Done once ``path`` exists and has not been modified for ``quiet_seconds``."""
    data = Path(path)
    if not data.exists() or time.time() - data.stat().st_mtime < quiet_seconds:
        return PokeReturnValue(is_done=False)
    rows = len(data.read_text().splitlines()) - 1
    return PokeReturnValue(is_done=True, xcom_value=rows)


with DAG(
    dag_id="example_sensor",
    schedule="@daily",
    start_date=datetime(2024, 1, 1),
    catchup=False,
    tags=["example", "sensors"],
    doc_md=__doc__,
) as dag:
    deliver_task = PythonOperator(
        task_id="deliver", python_callable=deliver, op_kwargs={"ds_nodash": "{{ ds_nodash }}"}
    )

    wait_for_marker = FileSensor(
        task_id="wait_for_marker",
        filepath=LANDING + "/{{ ds_nodash }}/_SUCCESS",
        poke_interval=0.5,
        timeout=60,
    )

    wait_for_rows = PythonSensor(
        task_id="wait_for_rows",
        python_callable=upload_settled,
        op_kwargs={"path": LANDING + "/{{ ds_nodash }}/data.csv", "quiet_seconds": 1},
        mode="reschedule",
        poke_interval=0.5,
        timeout=60,
    )

    process = BashOperator(
        task_id="process",
        bash_command="echo \"processing {{ ti.xcom_pull(task_ids='wait_for_rows') }} rows\"",
    )
    cleanup = BashOperator(task_id="cleanup", bash_command="rm -rf " + LANDING + "/{{ ds_nodash }}")

    deliver_task >> wait_for_marker >> wait_for_rows >> process >> cleanup
