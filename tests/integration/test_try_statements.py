"""How many database statements and transactions one no-op try costs its worker (issue 17).

Counted by SQLAlchemy event listeners around ``run_workload`` of a task that does
nothing, after a first try warmed the worker's caches. The bounds are the costs this
path is meant to have; a change that adds a statement or a transaction to every try
fails here.
"""

from __future__ import annotations

import os
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import pytest
import sqlalchemy as sa

from dagflow.db import Database
from dagflow.execution.claim import claim_try
from dagflow.execution.logs import read_log
from dagflow.execution.runner import retire_task_process
from dagflow.execution.xcom import write_task_map, write_xcom
from dagflow.models.taskinstance import TaskInstance
from dagflow.models.xcom import TaskMap, XCom
from dagflow.services.variables import set_variable
from dagflow.state import TaskInstanceState as TI
from tests.integration.test_runner import Harness

QUIET = 'Fn(task_id="quiet", fn=ok, arg="x", log_level="WARNING")'
#: What the ``leak`` task prints.
LEAKED = f"leaked-{uuid.uuid4().hex}"


class NoopHarness(Harness):
    """The runner's test DAG with one more task, an ``EmptyOperator`` (a no-op try, as in fanout1000)."""

    def __init__(self, db: Database, tmp_path: Path) -> None:
        super().__init__(db, tmp_path)
        text = self.fileloc.read_text()
        text = "from dagflow.operators import EmptyOperator\n" + text.replace(
            QUIET, f'{QUIET}\n    EmptyOperator(task_id="noop")\n    Fn(task_id="leak", fn=ok, arg="{LEAKED}")'
        )
        self.fileloc.write_text(text)


@pytest.fixture
def harness(db_any: Database, tmp_path: Path) -> NoopHarness:
    return NoopHarness(db_any, tmp_path)


class Trace:
    """The statements a process ran (BEGIN included) and the transactions it committed."""

    def __init__(self) -> None:
        self.statements: list[str] = []
        self.commits = 0

    def texts(self) -> list[str]:
        return [" ".join(text.split())[:50] for text in self.statements]


@contextmanager
def traced() -> Iterator[Trace]:
    trace = Trace()
    me = os.getpid()

    def note(conn: Any, cursor: Any, statement: str, *args: Any) -> None:
        if os.getpid() == me:
            trace.statements.append(statement)

    def committed(conn: Any) -> None:
        if os.getpid() == me:
            trace.commits += 1

    sa.event.listen(sa.engine.Engine, "before_cursor_execute", note)
    sa.event.listen(sa.engine.Engine, "commit", committed)
    try:
        yield trace
    finally:
        sa.event.remove(sa.engine.Engine, "before_cursor_execute", note)
        sa.event.remove(sa.engine.Engine, "commit", committed)


def test_a_no_op_try_costs_its_worker_two_write_transactions_and_few_statements(harness: Harness) -> None:
    """The claim reads the run (with the previous success) and the stored secrets in one go,
    then compare-and-sets; a first try has no earlier outputs to remove; the record writes
    the end, its history row (on PostgreSQL with the ``ti_done`` notification in its
    ``RETURNING``) and the rendered fields. Before issue 17 a no-op try cost 9 statements on
    SQLite and 10 on PostgreSQL, in 3 transactions."""
    assert harness.run(harness.queue("noop")).state is TI.SUCCESS  # warms the pool and the DAG cache
    harness.add_run("second", day=1)
    workload = harness.queue("noop", run_id="second")
    with traced() as trace:
        assert harness.run(workload).state is TI.SUCCESS
    texts = trace.texts()
    sqlite = harness.db.dialect == "sqlite"
    # SQLite: the claim's reads (deferred), the claim's write, the record; PostgreSQL: the claim, the record
    assert trace.commits == (3 if sqlite else 2), texts
    assert sum(text.startswith("BEGIN IMMEDIATE") for text in texts) == (2 if sqlite else 0), texts
    assert sum(text.startswith("UPDATE task_instance") for text in texts) == 2, texts
    assert not [text for text in texts if text.startswith("DELETE")], texts  # a first try: nothing to remove
    work = [text for text in texts if not text.startswith("BEGIN")]
    assert len(work) <= 6, texts  # PostgreSQL's pg_notify rides in the history insert (RETURNING)
    assert not [text for text in texts if text.startswith("SELECT pg_notify")], texts


def test_a_secret_stored_between_two_tries_is_masked_in_the_second(harness: Harness) -> None:
    """The stored secrets are read with every claim: nothing a worker kept from its
    previous try hides a secret stored since (two tries in one worker and one reused
    task process)."""

    def run_and_read(run_id: str, day: int) -> str:
        harness.add_run(run_id, day=day)
        assert harness.run(harness.queue("leak", run_id=run_id), reuse_process=True).state is TI.SUCCESS
        base = harness.settings.logging.base_log_folder
        return read_log(base, dag_id="runner_it", run_id=run_id, task_id="leak", try_number=1)

    try:
        assert f"printed {LEAKED}" in run_and_read("before", 1)
        set_variable(harness.db, "leak_password", LEAKED)
        second = run_and_read("after", 2)
    finally:
        retire_task_process()
    assert LEAKED not in second
    assert "printed ***" in second


@pytest.mark.parametrize(
    ("try_number", "first_poke"),
    [
        (1, False),  # a retry: the first try's outputs go
        (0, True),  # a rescheduled sensor poking again at try 1: the last poke's go
    ],
)
def test_a_claim_removes_what_an_earlier_try_left_but_keeps_approvals(
    harness: Harness, try_number: int, first_poke: bool
) -> None:
    workload = harness.queue("noop", try_number=try_number)
    ident = {"dag_id": "runner_it", "run_id": harness.run_id, "task_id": "noop", "map_index": -1}
    with harness.db.transaction() as session:
        write_xcom(session, key="return_value", stored=1, **ident)
        write_xcom(session, key="__approval", stored={"by": "someone"}, **ident)
        write_task_map(session, length=2, keys=None, **ident)
        if first_poke:
            ti = session.get(TaskInstance, workload.ti_id)
            assert ti is not None
            ti.first_poke_at = ti.updated_at
    assert claim_try(harness.db, workload) is not None
    with harness.db.transaction() as session:
        keys = set(session.scalars(sa.select(XCom.key).where(XCom.task_id == "noop")))
        maps = session.scalars(sa.select(TaskMap.length).where(TaskMap.task_id == "noop")).all()
    assert keys == {"__approval"}
    assert maps == []
