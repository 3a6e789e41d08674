"""``dagflow.state_store`` with versions and TTL, inside a task run by the real runner and from plain Python."""

from __future__ import annotations

from datetime import datetime, timedelta

import pendulum
import pytest

from dagflow import DAG, task
from dagflow.db import Database
from dagflow.exceptions import StateStoreConflict
from dagflow.models import StateStoreEntry
from dagflow.models.base import utcnow
from dagflow.sdk import runtime
from dagflow.state_store import state_store
from dagflow.storage.state_store import StateStore
from dagflow.testing import run_dag


@task
def claim() -> list[int]:
    from dagflow.exceptions import StateStoreConflict
    from dagflow.state_store import state_store

    first = state_store.set("lock", "claimed", namespace="jobs", expected_version=0, ttl=3600)
    try:
        state_store.set("lock", "again", namespace="jobs", expected_version=0)
        lost = 0
    except StateStoreConflict:
        lost = 1
    _, version = state_store.get_versioned("cursor", namespace="jobs")
    second = state_store.set("cursor", version + 10, namespace="jobs", expected_version=version)
    return [first, lost, second, len(state_store.list(prefix="c", namespace="jobs"))]


def test_compare_and_set_and_ttl_inside_a_task(db: Database) -> None:
    StateStore(db).set("cursor", 5, namespace="jobs")  # version 1
    with DAG("state_store_cas", schedule=None, start_date=datetime(2024, 1, 1)) as dag:
        claim()
    report = run_dag(dag, db=db, logical_date=pendulum.datetime(2024, 5, 1), fork=False)

    assert report.task_states == {"claim": "success"}
    store = StateStore(db)
    assert store.get_versioned("lock", namespace="jobs") == ("claimed", 1)
    assert store.get_versioned("cursor", namespace="jobs") == (11, 2)
    with db.transaction() as session:
        lock = session.get(StateStoreEntry, ("jobs", "lock"))
        assert lock is not None and lock.expires_at is not None
        assert timedelta(minutes=59) < lock.expires_at - utcnow() <= timedelta(hours=1)


def test_plain_python_uses_the_database_of_dagflow_home(db: Database, monkeypatch: pytest.MonkeyPatch) -> None:
    runtime.install(None)
    monkeypatch.setenv("DAGFLOW_HOME", str(db.settings.home))
    monkeypatch.delenv("DAGFLOW__DATABASE__SQL_ALCHEMY_CONN", raising=False)

    assert state_store.set("report/2024", {"rows": 3}, ttl=timedelta(minutes=5)) == 1
    assert state_store.set("report/2025", 1) == 1
    assert state_store.set("report/2025", 2, expected_version=1) == 2
    with pytest.raises(StateStoreConflict):
        state_store.set("report/2025", 3, expected_version=1)
    assert state_store.list(prefix="report/") == ["report/2024", "report/2025"]
    assert state_store.get("report/2024") == {"rows": 3}
    state_store.delete("report/2024")
    assert state_store.get_versioned("report/2024") == (None, 0)
    assert StateStore(db).get_versioned("report/2025") == (2, 2)  # the same database
    with pytest.raises(ValueError, match="non-empty"):
        state_store.list(namespace="")
