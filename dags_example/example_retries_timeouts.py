"""Retries, timeouts and the knobs that let a run go on when a step is optional.

Shows:
- a flaky task that fails its first try and succeeds on its second (``ti.try_number``
  starts at 1 and counts tries actually started);
- ``retry_delay`` as an ISO-8601 duration (``"PT1S"``), with exponential backoff
  (``retry_exponential_backoff=True``: the delay doubles after each try) capped by
  ``max_retry_delay``;
- ``execution_timeout``: a try that runs longer is killed, with its whole process
  tree, and counts as a failure (retries apply);
- ``allow_failure=True``: the optional step times out and is recorded ``failed``, but
  its downstream treats it as a success and the run ends ``success`` (with a warning);
- ``on_failure_callback``: called once a task has failed for good;
- ``disabled=True``: the task never runs, is recorded ``skipped`` (note "disabled")
  and counts as a success for its downstream.
"""

from __future__ import annotations

from datetime import datetime, timedelta

from dagflow import DAG
from dagflow.operators import BashOperator, EmptyOperator, PythonOperator

default_args = {
    "owner": "platform",
    "retries": 2,
    "retry_delay": "PT1S",  # 1 second; a timedelta works too
    "retry_exponential_backoff": True,  # 1 s, then 2 s, then 4 s ...
    "max_retry_delay": "PT10S",  # ... but never more than 10 s
}


def download(ti) -> str:
    """Fails on its first try, as a flaky network call would."""
    if ti.try_number < 2:
        raise ConnectionError(f"connection reset (try {ti.try_number}); will be retried")
    return f"downloaded on try {ti.try_number}"


def parse(ti) -> int:
    """Reads what ``download`` returned."""
    payload = ti.xcom_pull(task_ids="download")
    return len(payload)


def report_failure(context) -> None:
    """Runs when a task fails for good; a real one would page or post to chat."""
    ti = context["ti"]
    print(f"ALERT: {ti.dag_id}.{ti.task_id} failed in run {ti.run_id}: {context.get('exception')}")


with DAG(
    dag_id="example_retries_timeouts",
    schedule="*/30 * * * *",
    start_date=datetime(2024, 1, 1),
    catchup=False,
    default_args=default_args,
    dagrun_timeout=timedelta(minutes=10),
    tags=["example", "retries"],
    doc_md=__doc__,
) as dag:
    download_task = PythonOperator(task_id="download", python_callable=download)

    parse_task = PythonOperator(task_id="parse", python_callable=parse, execution_timeout="PT30S")

    enrich = BashOperator(
        task_id="enrich_optional",
        bash_command="sleep 5",  # takes longer than its timeout allows
        execution_timeout="PT1S",
        retries=0,
        allow_failure=True,
        on_failure_callback=report_failure,
    )

    publish = EmptyOperator(task_id="publish")

    legacy_export = BashOperator(task_id="legacy_export", bash_command="exit 1", disabled=True)
    cleanup = EmptyOperator(task_id="cleanup")

    download_task >> parse_task >> enrich >> publish
    parse_task >> legacy_export >> cleanup
