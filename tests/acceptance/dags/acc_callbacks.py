"""Task callbacks run for each outcome (execute, success, retry, failure, skipped), notifiers too;
a callback that raises is logged and changes no state. Each callback leaves a mark in the
state store; the sensor at the end waits until every mark is there (callbacks run just
after the outcome is recorded, so they may land a moment after downstream starts)."""
from datetime import datetime, timedelta

from dagflow import DAG
from dagflow.exceptions import FailTask, SkipTask
from dagflow.notifications import BaseNotifier, WebhookNotifier
from dagflow.operators import PythonOperator
from dagflow.sensors import PythonSensor
from dagflow.state_store import state_store

NS = "acc_callbacks"
EXPECTED_MARKS = {
    "execute.ok": "running",
    "success.ok": "success",
    "retry.flaky": "up_for_retry",
    "success.flaky": "success",
    "failure.fails": "failed",
    "skipped.skips": "skipped",
    "success.bad_callback": "success",
    "notifier.notified": "notified ok on 2024-05-01",
}


def mark(kind):
    def callback(context):
        ti = context["ti"]
        state_store.set(f"{context['run_id']}:{kind}.{ti.task_id}", ti.state, namespace=NS)
    return callback


def explode(context):
    raise RuntimeError("this callback is broken on purpose")


class StoreNotifier(BaseNotifier):
    template_fields = ("text",)

    def __init__(self, text):
        self.text = text

    def notify(self, context):
        state_store.set(f"{context['run_id']}:notifier.{context['ti'].task_id}", self.text, namespace=NS)


def flaky(ti):
    if ti.try_number == 1:
        raise ValueError("first try fails")


def fail():
    raise FailTask("fails for good")


def skip():
    raise SkipTask("nothing to do")


def all_marks(run_id):
    found = {key: state_store.get(f"{run_id}:{key}", namespace=NS) for key in EXPECTED_MARKS}
    if found == EXPECTED_MARKS:
        return True
    print("waiting for callbacks:", {k: v for k, v in found.items() if v != EXPECTED_MARKS[k]})
    return False


with DAG("acc_callbacks", schedule=None, start_date=datetime(2024, 1, 1)) as dag:
    ok = PythonOperator(task_id="ok", python_callable=lambda: None,
                        on_execute_callback=mark("execute"), on_success_callback=mark("success"))
    flaky_task = PythonOperator(task_id="flaky", python_callable=flaky, retries=1, retry_delay=timedelta(0),
                                on_retry_callback=mark("retry"), on_success_callback=mark("success"))
    fails = PythonOperator(task_id="fails", python_callable=fail,
                           on_failure_callback=[explode, mark("failure")])
    skips = PythonOperator(task_id="skips", python_callable=skip, on_skipped_callback=mark("skipped"))
    bad_callback = PythonOperator(task_id="bad_callback", python_callable=lambda: None,
                                  on_success_callback=[explode, mark("success")])
    notified = PythonOperator(
        task_id="notified", python_callable=lambda: None,
        on_success_callback=[
            WebhookNotifier("http://127.0.0.1:9/unreachable", timeout=1),  # refused: logged, ignored
            StoreNotifier("{{ ti.task_id }} ok on {{ ds }}"),
        ],
    )
    check = PythonSensor(task_id="check", python_callable=all_marks, op_kwargs={"run_id": "{{ run_id }}"},
                         poke_interval=0.3, timeout=40, trigger_rule="all_done")
    [ok, flaky_task, fails, skips, bad_callback, notified] >> check
