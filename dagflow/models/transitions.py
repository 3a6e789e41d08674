"""The one place that changes ``task_instance.state`` and ``dag_run.state``.

Every change is a compare-and-set: ``UPDATE … SET state = :to WHERE … AND state IN
(:expected)``. The expected→to pairs are checked against ``dagflow.state.ALLOWED`` (or
``DAGRUN_ALLOWED``) before the database is touched; a pair missing there raises
``InvalidTransition``. The return value says how many rows actually moved, so a caller
that lost a race sees 0 / False and backs off. These functions never commit and never
run callbacks or notifications: callers do that after the transaction.
"""

from __future__ import annotations

import functools
from collections.abc import Iterable, Mapping, Sequence
from typing import Any

import sqlalchemy as sa
from sqlalchemy.orm import Session

from dagflow.exceptions import InvalidTransition
from dagflow.models import plan_marker
from dagflow.models.base import utcnow
from dagflow.models.dagrun import DagRun
from dagflow.models.taskinstance import TaskInstance
from dagflow.state import (
    FINISHED,
    DagRunState,
    TaskInstanceState,
    is_allowed,
    is_dagrun_allowed,
)

#: Ids per UPDATE statement (well below SQLite's bound-parameter limit).
CHUNK_SIZE = 500

_PROTECTED_COLUMNS = frozenset({"id", "state", "dag_id", "run_id", "task_id", "map_index"})

WhereClause = sa.ColumnElement[bool] | Sequence[sa.ColumnElement[bool]]

#: A task instance leaving one of these states may make a plan read before it stale (``plan_marker``).
_PLAN_RELIES_ON = FINISHED | {TaskInstanceState.NONE}


def _bump_if_plans_rely_on(session: Session, states: Iterable[TaskInstanceState]) -> None:
    """A move out of ``none`` or a finished state changes the plan marker (``plan_marker``)."""
    if not _PLAN_RELIES_ON.isdisjoint(states):
        plan_marker.bump(session)


def _as_ti_states(expected: TaskInstanceState | Iterable[TaskInstanceState]) -> list[TaskInstanceState]:
    if isinstance(expected, (str, TaskInstanceState)):
        return [TaskInstanceState(expected)]
    states = [TaskInstanceState(s) for s in expected]
    if not states:
        raise InvalidTransition("no expected state given")
    return list(dict.fromkeys(states))


def check_ti_transition(
    expected: TaskInstanceState | Iterable[TaskInstanceState], to: TaskInstanceState
) -> list[TaskInstanceState]:
    """The expected states as a list; raises ``InvalidTransition`` for any pair not allowed."""
    to = TaskInstanceState(to)
    states = _as_ti_states(expected)
    bad = [s for s in states if not is_allowed(s, to)]
    if bad:
        pairs = ", ".join(f"{s.value} -> {to.value}" for s in bad)
        raise InvalidTransition(f"task instance transition not allowed: {pairs}")
    return states


def _values(values: Mapping[str, Any] | None, *, table: str) -> dict[str, Any]:
    extra = dict(values or {})
    protected = _PROTECTED_COLUMNS & extra.keys()
    if protected:
        raise ValueError(f"{table}: cannot set {sorted(protected)} through values")
    return extra


def _where_list(where: WhereClause | None) -> list[sa.ColumnElement[bool]]:
    if where is None:
        return []
    if isinstance(where, sa.ColumnElement):
        return [where]
    return list(where)


def set_ti_state(
    session: Session,
    ti_ids: Iterable[int],
    *,
    to: TaskInstanceState,
    expected: TaskInstanceState | Iterable[TaskInstanceState],
    values: Mapping[str, Any] | None = None,
    extra_where: WhereClause | None = None,
    synchronize: bool = True,
) -> int:
    """Move the given task instances to ``to`` if their state is in ``expected``; rows moved.

    ``values`` sets other columns in the same UPDATE (column name → value or SQL
    expression, e.g. ``{"try_number": TaskInstance.try_number + 1}``). ``extra_where``
    adds conditions, e.g. ``TaskInstance.try_number == n`` for the worker's claim.
    ``synchronize=False`` (callers that hold no ``TaskInstance`` objects in the session,
    like the scheduler's queueing) skips the ORM bookkeeping: a plain UPDATE on the
    session's connection, several times cheaper.
    """
    states = check_ti_transition(expected, to)
    ids = list(dict.fromkeys(ti_ids))
    extra = _values(values, table="task_instance")
    conditions = _where_list(extra_where)
    if ids:
        _bump_if_plans_rely_on(session, states)
    moved = 0
    for start in range(0, len(ids), CHUNK_SIZE):
        chunk = ids[start : start + CHUNK_SIZE]
        moved += _update_tis(
            session, [TaskInstance.id.in_(chunk), *conditions], to, states, extra, synchronize=synchronize
        )
    return moved


def set_ti_state_where(
    session: Session,
    *,
    to: TaskInstanceState,
    expected: TaskInstanceState | Iterable[TaskInstanceState],
    where: WhereClause,
    values: Mapping[str, Any] | None = None,
) -> int:
    """Set-based ``set_ti_state``: every task instance matching ``where`` (e.g. one run's)."""
    states = check_ti_transition(expected, to)
    conditions = _where_list(where)
    if not conditions:
        raise ValueError("set_ti_state_where needs a where clause")
    _bump_if_plans_rely_on(session, states)
    return _update_tis(session, conditions, to, states, _values(values, table="task_instance"))


def _update_tis(
    session: Session,
    conditions: list[sa.ColumnElement[bool]],
    to: TaskInstanceState,
    states: list[TaskInstanceState],
    extra: dict[str, Any],
    *,
    synchronize: bool = True,
) -> int:
    extra = {**extra}
    extra.setdefault("updated_at", utcnow())
    if not synchronize:  # only ``set_ti_state``: the rows are named by id
        plain = sa.update(TaskInstance.__table__).where(*conditions, _not_indexed(TaskInstance.state).in_(states))
        return int(session.connection().execute(plain.values(state=to, **extra)).rowcount)
    stmt = (
        sa.update(TaskInstance)
        .where(*conditions, TaskInstance.state.in_(states))
        .values(state=to, **extra)
        .execution_options(synchronize_session="fetch")
    )
    result = session.execute(stmt)
    return int(result.rowcount)  # type: ignore[attr-defined]


def _not_indexed(column: Any) -> Any:
    """``column`` in an expression no index covers, so the update finds its rows by primary key.

    Without ANALYZE statistics SQLite otherwise walks the state index (every scheduled
    row of a 10 000-task run) to check ``state IN (…)`` for a handful of ids.
    """
    return sa.func.coalesce(column, column)


@functools.lru_cache(maxsize=64)
def _move_statement(
    to: TaskInstanceState,
    expected: tuple[TaskInstanceState, ...],
    columns: tuple[str, ...],
    guards: tuple[str, ...],
    returning: tuple[str, ...],
) -> Any:
    """The prepared single-row compare-and-set of ``move_ti`` (one per shape, built once)."""
    table = TaskInstance.__table__
    state = table.c.state
    stmt = (
        sa.update(table)
        .where(
            table.c.id == sa.bindparam("_id"),
            *(table.c[name] == sa.bindparam(f"_guard_{name}") for name in guards),
            state == expected[0] if len(expected) == 1 else state.in_(list(expected)),
        )
        .values(state=to, **{name: sa.bindparam(f"_set_{name}", type_=table.c[name].type) for name in columns})
    )
    return stmt.returning(*(table.c[name] for name in returning)) if returning else stmt


def move_ti(
    session: Session,
    ti_id: int,
    *,
    to: TaskInstanceState,
    expected: TaskInstanceState | Iterable[TaskInstanceState],
    values: Mapping[str, Any],
    guards: Mapping[str, Any] | None = None,
    returning: Sequence[str] = (),
) -> Any:
    """``set_ti_state`` for ONE task instance, on the workers' hot path (claim, outcome).

    ``values`` holds plain values only (no SQL expressions), ``guards`` more equality
    conditions (``{"try_token": token}``). The statement is prepared once per shape and
    runs on the session's connection without ORM bookkeeping, so it costs a fraction of
    ``set_ti_state``. Returns the ``returning`` columns of the moved row (a ``Row``), or
    True when none were asked; None if the row did not move.
    """
    states = tuple(check_ti_transition(expected, to))
    _bump_if_plans_rely_on(session, states)
    extra = _values(values, table="task_instance")
    extra.setdefault("updated_at", utcnow())
    where = dict(guards or {})
    stmt = _move_statement(
        TaskInstanceState(to),
        states,
        tuple(sorted(extra)),
        tuple(sorted(where)),
        tuple(returning) if _returns_rows(session) else (),
    )
    params = {
        "_id": ti_id,
        **{f"_set_{k}": v for k, v in extra.items()},
        **{f"_guard_{k}": v for k, v in where.items()},
    }
    connection = session.connection()
    result = connection.execute(stmt, params)
    if returning and _returns_rows(session):
        return result.first()
    if int(result.rowcount) != 1:
        return None
    if not returning:
        return True
    table = TaskInstance.__table__
    return connection.execute(sa.select(*(table.c[name] for name in returning)).where(table.c.id == ti_id)).first()


def _returns_rows(session: Session) -> bool:
    return bool(session.get_bind().dialect.update_returning)


def _dagrun_move(
    session: Session,
    to: DagRunState,
    expected: DagRunState | Iterable[DagRunState],
    values: Mapping[str, Any] | None,
) -> tuple[DagRunState, list[DagRunState], dict[str, Any]]:
    """What a DAG run move sets, checked: ``to``, the expected states, the other columns.

    Every pair must be in ``DAGRUN_ALLOWED``; ``updated_at`` is set; a move out of
    ``running`` bumps the plan marker (plans of the run are stale: ``plan_marker``).
    """
    to = DagRunState(to)
    states = (
        [DagRunState(expected)]
        if isinstance(expected, (str, DagRunState))
        else list(dict.fromkeys(DagRunState(s) for s in expected))
    )
    if not states:
        raise InvalidTransition("no expected state given")
    bad = [s for s in states if not is_dagrun_allowed(s, to)]
    if bad:
        pairs = ", ".join(f"{s.value} -> {to.value}" for s in bad)
        raise InvalidTransition(f"dag run transition not allowed: {pairs}")
    extra = _values(values, table="dag_run")
    extra.setdefault("updated_at", utcnow())
    if DagRunState.RUNNING in states:
        plan_marker.bump(session)
    return to, states, extra


def set_dagrun_state(
    session: Session,
    dag_run_pk: int,
    *,
    to: DagRunState,
    expected: DagRunState | Iterable[DagRunState],
    values: Mapping[str, Any] | None = None,
) -> bool:
    """Move one DAG run (by its integer id) to ``to`` if its state is in ``expected``."""
    to, states, extra = _dagrun_move(session, to, expected, values)
    stmt = (
        sa.update(DagRun)
        .where(DagRun.id == dag_run_pk, DagRun.state.in_(states))
        .values(state=to, **extra)
        .execution_options(synchronize_session="fetch")
    )
    return int(session.execute(stmt).rowcount) == 1  # type: ignore[attr-defined]


def set_dagrun_states(
    session: Session,
    dag_run_pks: Sequence[int],
    *,
    to: DagRunState,
    expected: DagRunState | Iterable[DagRunState],
    values: Mapping[str, Any] | None = None,
) -> set[int]:
    """``set_dagrun_state`` for many runs: one ``UPDATE`` per ``CHUNK_SIZE`` ids; the ids that moved.

    The ids are matched by primary key (``_not_indexed`` state), and the rows that moved
    come back with ``RETURNING`` (where the database has no ``UPDATE … RETURNING``: read
    first, under the single writer's lock).
    """
    to, states, extra = _dagrun_move(session, to, expected, values)
    moved: set[int] = set()
    for start in range(0, len(dag_run_pks), CHUNK_SIZE):
        chunk = list(dag_run_pks[start : start + CHUNK_SIZE])
        where = (DagRun.id.in_(chunk), _not_indexed(DagRun.state).in_(states))
        if _returns_rows(session):
            stmt = (
                sa.update(DagRun)
                .where(*where)
                .values(state=to, **extra)
                .returning(DagRun.id)
                .execution_options(synchronize_session="fetch")
            )
            moved.update(session.scalars(stmt))
            continue
        found = list(session.scalars(sa.select(DagRun.id).where(*where)))
        if found:
            update = sa.update(DagRun).where(DagRun.id.in_(found), *where[1:]).values(state=to, **extra)
            session.execute(update.execution_options(synchronize_session="fetch"))
        moved.update(found)
    return moved


__all__ = [
    "CHUNK_SIZE",
    "check_ti_transition",
    "move_ti",
    "set_dagrun_state",
    "set_dagrun_states",
    "set_ti_state",
    "set_ti_state_where",
]
