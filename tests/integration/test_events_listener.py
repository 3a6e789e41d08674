"""``EventListener`` on a real PostgreSQL: delivery at commit only, reconnect after a kill, stop."""

from __future__ import annotations

import queue
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest
import sqlalchemy as sa
from sqlalchemy.orm import Session

from dagflow.config import Settings, load_settings
from dagflow.db import Database
from dagflow.execution.events import APPLICATION_NAME, RUN_QUEUED, TI_DONE, EventListener, publish
from dagflow.execution.try_end import Move, TryRecord, end_try
from dagflow.state import TaskInstanceState as TI
from tests.unit.execution._rows import add_run, add_ti

pytestmark = pytest.mark.postgres
WAIT = 30.0  # generous: the machine is shared


@pytest.fixture(scope="module")
def pg_events_url(make_pg_database: Callable[[], str]) -> str:
    """An empty database of our own (NOTIFY channels are per database)."""
    return make_pg_database()


@pytest.fixture
def pg_settings(pg_events_url: str, tmp_path: Path) -> Settings:
    return load_settings({"DAGFLOW_HOME": str(tmp_path), "DAGFLOW__DATABASE__SQL_ALCHEMY_CONN": pg_events_url})


@pytest.fixture
def session_factory(pg_events_url: str) -> Iterator[Callable[[], Session]]:
    engine = sa.create_engine(pg_events_url)
    yield lambda: Session(engine)
    engine.dispose()


@pytest.fixture
def listening(pg_settings: Settings) -> Iterator[tuple[EventListener, queue.Queue[tuple[str, dict[str, Any]]]]]:
    events: queue.Queue[tuple[str, dict[str, Any]]] = queue.Queue()
    listener = EventListener(pg_settings, lambda kind, fields: events.put((kind, fields)))
    listener.backoff_s = (0.05, 0.5)
    listener.start()
    assert listener.wait_connected(WAIT)
    yield listener, events
    listener.stop()


def _get(events: queue.Queue[tuple[str, dict[str, Any]]]) -> tuple[str, dict[str, Any]]:
    return events.get(timeout=WAIT)


def test_an_event_arrives_at_commit_and_a_rolled_back_one_never(
    listening: tuple[EventListener, queue.Queue[Any]],
    session_factory: Callable[[], Session],
) -> None:
    listener, events = listening
    with session_factory() as session:
        publish(session, TI_DONE, ti_id=1, try_number=1, state="success", dag_id="d", run_id="r")
        session.flush()
        time.sleep(0.3)
        assert events.empty()  # not before the commit
        session.commit()
    assert _get(events) == (TI_DONE, {"ti_id": 1, "try_number": 1, "state": "success", "dag_id": "d", "run_id": "r"})
    with session_factory() as session:
        publish(session, RUN_QUEUED, dag_id="d", run_id="lost")
        session.rollback()
    with session_factory() as session:
        publish(session, RUN_QUEUED, dag_id="d", run_id="kept")
        session.commit()
    assert _get(events) == (RUN_QUEUED, {"dag_id": "d", "run_id": "kept"})  # "lost" never came
    assert listener.received == 2


def test_the_listener_survives_a_killed_connection_and_resumes(
    listening: tuple[EventListener, queue.Queue[Any]],
    session_factory: Callable[[], Session],
) -> None:
    listener, events = listening
    for round_ in range(2):
        connects = listener.connects
        with session_factory() as session:
            killed = session.execute(
                sa.text(
                    "SELECT pg_terminate_backend(pid) FROM pg_stat_activity "
                    "WHERE application_name = :name AND datname = current_database()"
                ),
                {"name": APPLICATION_NAME},
            ).all()
            session.commit()
        assert killed == [(True,)]
        deadline = time.monotonic() + WAIT
        while listener.connects == connects and time.monotonic() < deadline:
            time.sleep(0.05)
        assert listener.connects == connects + 1 and listener.wait_connected(WAIT)
        with session_factory() as session:
            publish(session, RUN_QUEUED, dag_id="d", run_id=f"after-kill-{round_}")
            session.commit()
        assert _get(events) == (RUN_QUEUED, {"dag_id": "d", "run_id": f"after-kill-{round_}"})


def test_a_failing_callback_does_not_stop_the_listener(
    pg_settings: Settings,
    session_factory: Callable[[], Session],
) -> None:
    seen: queue.Queue[str] = queue.Queue()

    def callback(kind: str, fields: dict[str, Any]) -> None:
        seen.put(fields["run_id"])
        raise RuntimeError("consumer bug")

    listener = EventListener(pg_settings, callback)
    listener.start()
    try:
        assert listener.wait_connected(WAIT)
        for run_id in ("a", "b"):
            with session_factory() as session:
                publish(session, RUN_QUEUED, dag_id="d", run_id=run_id)
                session.commit()
        assert [seen.get(timeout=WAIT), seen.get(timeout=WAIT)] == ["a", "b"]
    finally:
        listener.stop()
    assert listener._thread is None


def test_stop_ends_the_thread_and_closes_the_connection(
    pg_settings: Settings,
    session_factory: Callable[[], Session],
) -> None:
    connected: list[bool] = []
    listener = EventListener(pg_settings, lambda kind, fields: None, on_connect=lambda: connected.append(True))
    listener.start()
    assert listener.wait_connected(WAIT) and connected == [True]
    thread = listener._thread
    listener.stop()
    assert thread is not None and not thread.is_alive()
    deadline = time.monotonic() + WAIT
    while time.monotonic() < deadline:  # the backend exits just after the client closes
        with session_factory() as session:
            left = session.scalar(
                sa.text(
                    "SELECT count(*) FROM pg_stat_activity WHERE application_name = :name "
                    "AND datname = current_database()"
                ),
                {"name": APPLICATION_NAME},
            )
        if left == 0:
            break
        time.sleep(0.05)
    assert left == 0


def test_the_end_of_a_try_notifies_from_its_history_insert_without_a_statement_of_its_own(
    listening: tuple[EventListener, queue.Queue[Any]], pg_settings: Settings
) -> None:
    """``end_try`` writes the move and the history row; the ``ti_done`` event rides in the
    history insert (``RETURNING pg_notify``) and arrives at commit, and only then."""
    _, events = listening
    db = Database(pg_settings)
    try:
        db.migrate()
        add_run(db)
        ti_id = add_ti(db, "t", state=TI.RUNNING).ti_id
        statements: list[str] = []
        sa.event.listen(db.engine, "before_cursor_execute", lambda c, cur, statement, *a: statements.append(statement))
        with db.transaction() as session:
            row = end_try(session, ti_id, TryRecord(TI.SUCCESS, None, try_number=1), Move(TI.SUCCESS, TI.RUNNING))
            assert row is not None
            session.flush()
            time.sleep(0.3)
            assert events.empty()  # not before the commit
        writes = [s for s in statements if not s.lstrip().upper().startswith(("BEGIN", "COMMIT"))]
        assert len(writes) == 2, writes  # the move, the history row (with the event)
        assert not any(s.lstrip().upper().startswith("SELECT") and "pg_notify" in s for s in writes)
        kind, fields = _get(events)
        assert (kind, fields["ti_id"], fields["try_number"], fields["state"]) == (TI_DONE, ti_id, 1, "success")
    finally:
        db.dispose()
