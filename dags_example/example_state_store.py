"""Keep bookkeeping across runs in the state store: a lock with a TTL and a shared counter.

Shows:
- ``state_store.set(..., expected_version=0, ttl=...)``: take a lock that only one run can
  hold and that frees itself if the run dies before ``release_lock``; a second run of the
  same day skips instead of doing the work twice;
- compare-and-set in a retry loop (``get_versioned`` then ``set(..., expected_version=)``):
  the mapped ``count_rows`` tasks add to one counter from several workers without losing
  an update;
- ``state_store.list(prefix=...)`` and namespaces.

Values live in the metadata database, namespace ``example_state_store``; inspect them with
``dagflow state-store list --namespace example_state_store``.
"""

from __future__ import annotations

from datetime import datetime, timedelta

from dagflow import dag, task
from dagflow.exceptions import SkipTask, StateStoreConflict
from dagflow.state_store import state_store

NAMESPACE = "example_state_store"


def add_to(key: str, amount: int) -> int:
    """Add ``amount`` to the counter under ``key`` (compare-and-set, retried on a conflict); the new total."""
    while True:
        total, version = state_store.get_versioned(key, namespace=NAMESPACE)
        try:
            state_store.set(key, (total or 0) + amount, namespace=NAMESPACE, expected_version=version)
            return (total or 0) + amount
        except StateStoreConflict:
            continue


@dag(
    dag_id="example_state_store",
    schedule="@daily",
    start_date=datetime(2024, 1, 1),
    catchup=False,
    tags=["example", "state-store"],
    doc_md=__doc__,
)
def example_state_store():
    @task
    def claim_lock(**context) -> str:
        """Take the day's lock (1 hour TTL) and reset the day's counter; skip if another run holds the lock."""
        key = f"lock/{context['ds']}"
        try:
            state_store.set(key, context["run_id"], namespace=NAMESPACE, expected_version=0, ttl=timedelta(hours=1))
        except StateStoreConflict:
            holder = state_store.get(key, namespace=NAMESPACE)
            raise SkipTask(f"run {holder!r} holds {key}") from None
        state_store.set(f"rows/{context['ds']}", 0, namespace=NAMESPACE)  # a re-run of the day starts over
        return key

    @task
    def count_rows(partition: str, **context) -> int:
        """Count one partition's rows and add them to the day's total."""
        rows = 100 * (1 + ["north", "south", "east"].index(partition))
        return add_to(f"rows/{context['ds']}", rows)

    @task
    def report(lock: str, counted: list[int], **context) -> dict:
        """Read the day's total and list what the store holds."""
        total, version = state_store.get_versioned(f"rows/{context['ds']}", namespace=NAMESPACE)
        return {"total": total, "writes": version, "locks": state_store.list(prefix="lock/", namespace=NAMESPACE)}

    @task
    def release_lock(lock: str) -> None:
        """Free the lock so that a re-run of the day can take it."""
        state_store.delete(lock, namespace=NAMESPACE)

    lock = claim_lock()
    counted = count_rows.expand(partition=["north", "south", "east"])
    lock >> counted
    report(lock, counted) >> release_lock(lock)


example_state_store()
