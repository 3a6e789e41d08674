"""Branching and short-circuiting on the run's logical date.

Shows:
- ``BranchPythonOperator``: the callable returns the task id(s) to follow; the other
  direct downstream paths, and everything below them, are ``skipped``;
- a join with ``trigger_rule="none_failed_min_one_success"``, which runs when one
  path succeeded and the other was skipped (the default ``all_success`` would be
  skipped too, because skips propagate);
- ``ShortCircuitOperator``: when its callable returns a falsy value every task
  downstream of it is skipped, whatever their trigger rules.

Try it on a weekday and on a Sunday that ends a month::

    dagflow dags test example_branching 2024-03-04   # Monday: weekday path, no monthly step
    dagflow dags test example_branching 2024-03-31   # Sunday, month end: the other way round
"""

from __future__ import annotations

from datetime import datetime, timedelta

from dagflow import DAG
from dagflow.operators import (
    BashOperator,
    BranchPythonOperator,
    EmptyOperator,
    PythonOperator,
    ShortCircuitOperator,
)


def choose_by_weekday(logical_date) -> str:
    """Monday to Friday get the full report, weekends a short digest."""
    return "weekday_report" if logical_date.weekday() < 5 else "weekend_digest"


def is_last_day_of_month(logical_date) -> bool:
    """True when the next day belongs to another month."""
    return (logical_date + timedelta(days=1)).month != logical_date.month


def build_report(ds: str) -> str:
    """Stand-in for the real report."""
    return f"full report for {ds}"


with DAG(
    dag_id="example_branching",
    schedule="0 6 * * *",
    start_date=datetime(2024, 1, 1),
    catchup=False,
    tags=["example", "branching"],
    doc_md=__doc__,
) as dag:
    start = EmptyOperator(task_id="start")

    choose = BranchPythonOperator(task_id="choose_by_weekday", python_callable=choose_by_weekday)

    weekday_report = PythonOperator(
        task_id="weekday_report", python_callable=build_report, op_kwargs={"ds": "{{ ds }}"}
    )
    notify_team = BashOperator(task_id="notify_team", bash_command="echo 'report for {{ ds }} is ready'")
    weekend_digest = BashOperator(task_id="weekend_digest", bash_command="echo 'quiet weekend digest'")

    join = EmptyOperator(task_id="join", trigger_rule="none_failed_min_one_success")

    month_end = ShortCircuitOperator(task_id="is_month_end", python_callable=is_last_day_of_month)
    monthly_summary = BashOperator(task_id="monthly_summary", bash_command="echo 'closing the books for {{ ds[:7] }}'")
    archive = EmptyOperator(task_id="archive_month")

    start >> choose >> [weekday_report, weekend_digest]
    weekday_report >> notify_team
    [notify_team, weekend_digest] >> join
    join >> month_end >> monthly_summary >> archive
