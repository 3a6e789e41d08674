"""Dynamic task mapping: one task instance per element of a list known only at run time.

Shows:
- ``.expand()`` over an upstream task's result: ``count_rows`` gets one task instance
  per partition that ``list_partitions`` returns (``map_index`` 0, 1, 2, ...);
- ``.partial(...).expand(...)`` over a literal list: ``convert`` keeps ``rate`` fixed
  and maps over the amounts;
- mapping a classic operator: ``BashOperator.partial(task_id=...).expand(bash_command=[...])``;
- a reduce step: ``summarize`` receives every mapped result as one list, in map-index
  order.
"""

from __future__ import annotations

from datetime import datetime

from dagflow import dag, task
from dagflow.operators import BashOperator


@dag(
    dag_id="example_mapping",
    schedule="@hourly",
    start_date=datetime(2024, 1, 1),
    catchup=False,
    tags=["example", "mapping"],
    doc_md=__doc__,
)
def example_mapping():
    @task
    def list_partitions() -> list[str]:
        """In real life: list the files that arrived in the last hour."""
        return ["region=north", "region=south", "region=east", "region=west"]

    @task
    def count_rows(partition: str) -> int:
        """One task instance per partition."""
        return 10 * len(partition)

    @task
    def convert(amount: float, rate: float) -> float:
        """``rate`` is the same for every instance, ``amount`` is mapped."""
        return round(amount * rate, 2)

    @task
    def summarize(row_counts: list[int], converted: list[float]) -> dict:
        """Reduce: all mapped results arrive as lists ordered by map index."""
        row_counts, converted = list(row_counts), list(converted)
        summary = {"partitions": len(row_counts), "rows": sum(row_counts), "converted": converted}
        print(summary)
        return summary

    echo = BashOperator.partial(task_id="echo_stage").expand(bash_command=["echo stage one", "echo stage two"])

    counts = count_rows.expand(partition=list_partitions())
    converted = convert.partial(rate=1.1).expand(amount=[10.0, 20.0, 30.0])
    summarize(counts, converted) >> echo


example_mapping()
