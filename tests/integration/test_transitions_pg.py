"""Two real writers on PostgreSQL race the worker's claim (queued → running): exactly one wins."""

from __future__ import annotations

import threading
import time
from collections.abc import Iterator
from pathlib import Path

import pendulum
import pytest

from dagflow.config import load_settings
from dagflow.db import Database
from dagflow.models import DagRun, TaskInstance
from dagflow.models.transitions import set_ti_state
from dagflow.state import TaskInstanceState

pytestmark = pytest.mark.postgres

ROUNDS = 50
TI = TaskInstanceState


@pytest.fixture
def writers(pg_db: Database, tmp_path: Path) -> Iterator[list[Database]]:
    """Two independent ``Database`` objects (own engines, own connections) on the same DB."""
    url = pg_db.url.render_as_string(hide_password=False)
    settings = load_settings({"DAGFLOW_HOME": str(tmp_path), "DAGFLOW__DATABASE__SQL_ALCHEMY_CONN": url})
    pair = [Database(settings), Database(settings)]
    yield pair
    for database in pair:
        database.dispose()


def _claim(database: Database, ti_id: int, name: str, barrier: threading.Barrier) -> int:
    """The worker's claim: the try is ours only if the CAS moved the row."""
    with database.transaction() as session:
        barrier.wait(timeout=10)
        moved = set_ti_state(
            session,
            [ti_id],
            to=TI.RUNNING,
            expected=[TI.QUEUED],
            values={"try_number": TaskInstance.try_number + 1, "hostname": name},
            extra_where=TaskInstance.try_number == 0,
        )
        time.sleep(0.005)  # hold the row lock so the other writer really waits on it
        return moved


def test_exactly_one_of_two_concurrent_claims_wins(pg_db: Database, writers: list[Database]) -> None:
    with pg_db.transaction() as session:
        run = DagRun(dag_id="race", run_id="r", logical_date=pendulum.now("UTC"))
        session.add(run)
        session.flush()
        tis = [TaskInstance(dag_id="race", run_id="r", task_id=f"t{i}", state=TI.QUEUED) for i in range(ROUNDS)]
        session.add_all(tis)
    for ti in tis:
        barrier = threading.Barrier(2)
        results: dict[str, int] = {}

        def attempt(
            name: str,
            database: Database,
            ti_id: int = ti.id,
            results: dict[str, int] = results,
            barrier: threading.Barrier = barrier,
        ) -> None:
            results[name] = _claim(database, ti_id, name, barrier)

        threads = [threading.Thread(target=attempt, args=(f"w{n}", database)) for n, database in enumerate(writers)]
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join(timeout=30)
        assert sorted(results.values()) == [0, 1], (ti.task_id, results)
        winner = next(name for name, moved in results.items() if moved)
        with pg_db.transaction() as session:
            row = session.get_one(TaskInstance, ti.id)
            assert (row.state, row.try_number, row.hostname) == (TI.RUNNING, 1, winner)
