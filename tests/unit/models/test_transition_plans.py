"""The compare-and-set of ``set_ti_state`` finds its rows by primary key (SQLite's query plan)."""

from __future__ import annotations

from typing import Any

import sqlalchemy as sa

from dagflow.db import Database
from dagflow.models.transitions import set_ti_state
from dagflow.state import TaskInstanceState as TI


def test_queueing_cas_searches_by_primary_key_not_the_state_index(db: Database) -> None:
    seen: list[tuple[str, Any]] = []

    def record(conn: Any, cursor: Any, statement: str, parameters: Any, context: Any, executemany: bool) -> None:
        if statement.lstrip().upper().startswith("UPDATE TASK_INSTANCE"):
            seen.append((statement, parameters))

    engine = db.engine
    sa.event.listen(engine, "before_cursor_execute", record)
    try:
        with db.transaction() as session:
            set_ti_state(session, [1, 2, 3], to=TI.QUEUED, expected=[TI.SCHEDULED], synchronize=False)
            statement, parameters = seen[-1]
            plan = session.connection().exec_driver_sql("EXPLAIN QUERY PLAN " + statement, parameters).all()
    finally:
        sa.event.remove(engine, "before_cursor_execute", record)
    details = " ".join(str(row[-1]) for row in plan)
    assert "PRIMARY KEY" in details
    assert "ix_task_instance_state" not in details
