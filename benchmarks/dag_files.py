"""DAG files the API and UI benchmarks store: many small DAGs, and one wide fan-out."""

from __future__ import annotations

_MANY = """
from datetime import datetime

from dagflow import DAG
from dagflow.operators import EmptyOperator

for i in range({count}):
    with DAG(f"{prefix}_{{i:04d}}", schedule="@daily", start_date=datetime(2024, 1, 1), tags=["bench", f"t{{i % 10}}"],
             default_args={{"owner": f"team{{i % 7}}"}}):
        EmptyOperator(task_id="extract") >> EmptyOperator(task_id="load")
"""

_FANOUT = """
from datetime import datetime

from dagflow import DAG
from dagflow.operators import EmptyOperator

with DAG({dag_id!r}, schedule={schedule!r}, start_date=datetime(2024, 1, 1)):
    EmptyOperator(task_id="start") >> [EmptyOperator(task_id=f"t{{i:04d}}") for i in range({size})] >> EmptyOperator(
        task_id="end"
    )
"""


def many_dags_file(prefix: str, count: int) -> str:
    """One file defining ``count`` two-task DAGs ``PREFIX_0000``…, with ten tags and seven owners."""
    return _MANY.format(prefix=prefix, count=count)


def fanout_file(dag_id: str, size: int, schedule: str | None) -> str:
    """One file defining ``start >> [size tasks] >> end``."""
    return _FANOUT.format(dag_id=dag_id, size=size, schedule=schedule)
