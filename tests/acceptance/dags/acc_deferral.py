"""Deferral: sensors and an operator wait in the triggerer (no worker slot), resume at the same try number."""
import os
import tempfile
from datetime import datetime, timedelta

from dagflow import DAG
from dagflow.operators import PythonOperator
from dagflow.sdk.baseoperator import BaseOperator
from dagflow.sensors import DateTimeSensor, FileSensor, TimeDeltaSensor
from dagflow.triggers import TimeDeltaTrigger


class WaitThenAdd(BaseOperator):
    """Defers to a timer, resumes in ``add`` with the event and its own kwargs."""

    def execute(self, context):
        self.defer(trigger=TimeDeltaTrigger(timedelta(seconds=0.5)), method_name="add", kwargs={"a": 2, "b": 3})

    def add(self, context, event=None, a=0, b=0):
        if not isinstance(event, str):
            raise ValueError(f"expected the trigger's moment as the event, got {event!r}")
        return a + b


def make_file(run_id):
    path = os.path.join(tempfile.gettempdir(), "acc_deferral_" + "".join(c for c in run_id if c.isalnum()))
    with open(path, "w") as handle:
        handle.write("ready")
    return path


def check(ti):
    if ti.xcom_pull(task_ids="add") != 5:
        raise ValueError("the resumed method's return value was not pushed")


with DAG("acc_deferral", schedule=None, start_date=datetime(2024, 1, 1)):
    delta = TimeDeltaSensor(task_id="delta", delta=timedelta(seconds=0.5), deferrable=True)
    moment = DateTimeSensor(
        task_id="moment", target_time="{{ (data_interval_end + macros.timedelta(seconds=0.5)).isoformat() }}",
        deferrable=True,
    )
    add = WaitThenAdd(task_id="add")
    made = PythonOperator(task_id="make_file", python_callable=make_file)
    found = FileSensor(task_id="file", filepath="{{ ti.xcom_pull(task_ids='make_file') }}", deferrable=True,
                       poke_interval=0.5)
    never = FileSensor(task_id="never", filepath="/nonexistent/acc_deferral", deferrable=True, timeout=1,
                       soft_fail=True)
    [delta, moment, add] >> made >> found >> PythonOperator(task_id="check", python_callable=check)
