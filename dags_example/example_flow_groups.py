"""Flow groups: a task group with a concurrency limit, and a sequential group.

Shows:
- ``TaskGroup("download", max_active_tasks=2)``: ``fetch`` is mapped over six files, but
  at most two task instances of the group (mapped ones included) run at once in a run,
  so a slow vendor is never hit by more than two downloads (Kestra's Parallel with a
  concurrency limit);
- ``@task_group(sequential=True)``: ``publish``'s steps are chained in the order they are
  defined (``build >> upload >> announce``) without writing the arrows (Kestra's
  Sequential);
- switching a step off for one run, or for every run to come, without editing this file::

      dagflow tasks disable example_flow_groups publish.announce --reason "quiet week"
      dagflow tasks enable example_flow_groups publish.announce
"""

from __future__ import annotations

from datetime import datetime

from dagflow import DAG, TaskGroup, task, task_group


@task
def list_files() -> list[str]:
    """In real life: the vendor's listing for the day."""
    return [f"prices_{n}.csv" for n in range(6)]


@task
def fetch(name: str) -> int:
    """One task instance per file; the group lets two run at once."""
    return len(name)


@task
def build(sizes: list[int]) -> int:
    return sum(sizes)


@task
def upload() -> str:
    return "s3://reports/prices/latest"


@task
def announce() -> None:
    print("prices published")


@task_group(sequential=True)
def publish(sizes: list[int]) -> None:
    """Build, upload, announce: one after the other."""
    build(sizes)
    upload()
    announce()


with DAG(
    "example_flow_groups",
    schedule="@daily",
    start_date=datetime(2024, 1, 1),
    catchup=False,
    tags=["example", "flow"],
    doc_md=__doc__,
):
    files = list_files()
    with TaskGroup("download", max_active_tasks=2):
        sizes = fetch.expand(name=files)
    publish(sizes)
