"""Bulk actions on rows picked across DAGs: clear, mark success / failed / skipped, delete runs.

What the web UI's ``/runs`` and ``/task-instances`` lists do with the selected rows ("what
failed since midnight; clear those 40"). Each action first runs as a dry run that lists
exactly what would change (``dry_run=True`` writes nothing), then for real. Task-instance
actions and run clears and deletes happen in one transaction; marking runs goes run by run
through ``dag_runs.mark_run`` (each run's task instances with it). Every change is recorded
in the audit event log.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from enum import StrEnum

import sqlalchemy as sa
from sqlalchemy.orm import Session

from dagflow.config import Settings
from dagflow.db import Database
from dagflow.exceptions import InvalidInput
from dagflow.execution.events import RUN_CHANGED, RUN_QUEUED, publish
from dagflow.models import DagRun, TaskInstance
from dagflow.scheduler.clearing import clear_task_instance
from dagflow.scheduler.dagruns import delete_run
from dagflow.sdk.ids import check_key, check_run_id
from dagflow.serialization import SerializedDag
from dagflow.services import events
from dagflow.services.clearing import mark_one, record_clear, requeue_runs
from dagflow.services.dag_runs import mark_run, serialized_dag
from dagflow.services.database import ensure_schema
from dagflow.state import ALLOWED, CLEARABLE, FAILED_LIKE, DagRunState, TaskInstanceState

TI = TaskInstanceState

#: Most rows one bulk action takes.
BULK_LIMIT = 1000
#: Separates the parts of a key in its text form (no id may contain it).
SEPARATOR = "|"


class BulkAction(StrEnum):
    """What to do with the selected rows."""

    CLEAR = "clear"
    MARK_SUCCESS = "mark_success"
    MARK_FAILED = "mark_failed"
    MARK_SKIPPED = "mark_skipped"  # task instances only
    DELETE = "delete"  # runs only

    @property
    def target(self) -> TaskInstanceState | None:
        """The state a mark action sets; None for clear and delete."""
        return {"mark_success": TI.SUCCESS, "mark_failed": TI.FAILED, "mark_skipped": TI.SKIPPED}.get(self.value)


#: The actions each list offers, in the order its menu shows them.
TASK_INSTANCE_ACTIONS = (BulkAction.CLEAR, BulkAction.MARK_SUCCESS, BulkAction.MARK_FAILED, BulkAction.MARK_SKIPPED)
RUN_ACTIONS = (BulkAction.CLEAR, BulkAction.MARK_SUCCESS, BulkAction.MARK_FAILED, BulkAction.DELETE)


@dataclass(frozen=True, order=True)
class RunKey:
    """One DAG run."""

    dag_id: str
    run_id: str

    @property
    def text(self) -> str:
        """``dag_id|run_id`` (the value of a row's checkbox)."""
        return f"{self.dag_id}{SEPARATOR}{self.run_id}"

    @classmethod
    def parse(cls, text: str) -> RunKey:
        """From ``dag_id|run_id``; ``InvalidInput`` for anything else."""
        parts = text.split(SEPARATOR)
        if len(parts) != 2:
            raise InvalidInput(f"not a run key (dag_id{SEPARATOR}run_id): {text[:300]!r}")
        return cls(check_key("dag_id", parts[0]), check_run_id(parts[1]))


@dataclass(frozen=True, order=True)
class TaskInstanceKey:
    """One task instance."""

    dag_id: str
    run_id: str
    task_id: str
    map_index: int = -1

    @property
    def text(self) -> str:
        """``dag_id|run_id|task_id|map_index`` (the value of a row's checkbox)."""
        return SEPARATOR.join((self.dag_id, self.run_id, self.task_id, str(self.map_index)))

    @classmethod
    def parse(cls, text: str) -> TaskInstanceKey:
        """From ``dag_id|run_id|task_id|map_index``; ``InvalidInput`` for anything else."""
        parts = text.split(SEPARATOR)
        if len(parts) != 4 or not parts[3].lstrip("-").isdigit():
            raise InvalidInput(
                f"not a task instance key (dag_id{SEPARATOR}run_id{SEPARATOR}task_id{SEPARATOR}map_index)"
            )
        return cls(check_key("dag_id", parts[0]), check_run_id(parts[1]), check_key("task_id", parts[2]), int(parts[3]))


@dataclass(frozen=True)
class BulkChange:
    """One row an action changes (or would change): a task instance, or a whole run (``task_id`` None)."""

    dag_id: str
    run_id: str
    task_id: str | None
    map_index: int | None
    state: str | None
    new_state: str | None


@dataclass(frozen=True)
class BulkResult:
    """What an action changed (or, in a dry run, would change), and how many selected rows it leaves alone."""

    action: BulkAction
    dry_run: bool
    selected: int
    changes: tuple[BulkChange, ...]
    #: Selected rows the action leaves alone (already in that state, not in a state it applies to, gone).
    unchanged: int


def _checked(keys: Sequence[object], action: BulkAction, allowed: Sequence[BulkAction]) -> None:
    if action not in allowed:
        raise InvalidInput(f"{action.value!r} is not an action here: use one of {', '.join(a.value for a in allowed)}")
    if not keys:
        raise InvalidInput("select at least one row")
    if len(keys) > BULK_LIMIT:
        raise InvalidInput(f"at most {BULK_LIMIT} rows at a time, {len(keys)} selected")


# --- task instances -------------------------------------------------------------------------
def bulk_task_instances(
    settings: Settings, db: Database, keys: Sequence[TaskInstanceKey], action: BulkAction, *, dry_run: bool
) -> BulkResult:
    """Clear or mark the task instances ``keys`` (across DAGs and runs) in one transaction."""
    _checked(keys, action, TASK_INSTANCE_ACTIONS)
    ensure_schema(db)
    with db.transaction(readonly=dry_run) as session:
        tis = _load_tis(session, sorted(set(keys)))
        if action is BulkAction.CLEAR:
            chosen = [ti for ti in tis if ti.state in CLEARABLE | {TI.RUNNING}]
            changes = [_change(ti, TI.RESTARTING if ti.state is TI.RUNNING else TI.NONE) for ti in chosen]
            if not dry_run:
                _clear(session, chosen)
        else:
            target = action.target
            assert target is not None
            chosen = [ti for ti in tis if ti.state is not target and target in ALLOWED[ti.state]]
            changes = [_change(ti, target) for ti in chosen]
            if not dry_run:
                _mark(session, chosen, target)
        selected = len(set(keys))
        return BulkResult(action, dry_run, selected, tuple(changes), selected - len(changes))


def _load_tis(session: Session, keys: Sequence[TaskInstanceKey]) -> list[TaskInstance]:
    wanted = [(k.dag_id, k.run_id, k.task_id, k.map_index) for k in keys]
    columns = sa.tuple_(TaskInstance.dag_id, TaskInstance.run_id, TaskInstance.task_id, TaskInstance.map_index)
    order = (TaskInstance.dag_id, TaskInstance.run_id, TaskInstance.task_id, TaskInstance.map_index)
    return list(session.scalars(sa.select(TaskInstance).where(columns.in_(wanted)).order_by(*order)))


def _change(ti: TaskInstance, new_state: TaskInstanceState) -> BulkChange:
    return BulkChange(ti.dag_id, ti.run_id, ti.task_id, ti.map_index, _value(ti.state), _value(new_state))


def _value(state: TaskInstanceState | None) -> str | None:
    return None if state is None or state is TI.NONE else state.value


def _clear(session: Session, tis: Iterable[TaskInstance]) -> None:
    dags: dict[str, SerializedDag] = {}
    by_dag: dict[str, list[TaskInstance]] = {}
    for ti in tis:
        by_dag.setdefault(ti.dag_id, []).append(ti)
    for dag_id, group in sorted(by_dag.items()):
        sdag = dags.setdefault(dag_id, serialized_dag(session, dag_id))
        cleared = [ti for ti in group if clear_task_instance(session, sdag, ti)]
        run_ids = {ti.run_id for ti in cleared}
        requeue_runs(session, dag_id, run_ids)
        for run_id in sorted(run_ids):
            publish(session, RUN_QUEUED, dag_id=dag_id, run_id=run_id)
        record_clear(session, cleared, bulk=True)


def _mark(session: Session, tis: Iterable[TaskInstance], target: TaskInstanceState) -> None:
    runs: set[tuple[str, str]] = set()
    for ti in tis:
        previous, try_number = _value(ti.state), ti.try_number
        if not mark_one(session, ti, target):
            continue
        runs.add((ti.dag_id, ti.run_id))
        events.record(
            session,
            "mark_task_instance",
            dag_id=ti.dag_id,
            run_id=ti.run_id,
            task_id=ti.task_id,
            map_index=ti.map_index,
            try_number=try_number,
            extra={"state": target.value, "previous_state": previous, "bulk": True},
        )
    for dag_id, run_id in sorted(runs):
        publish(session, RUN_CHANGED, dag_id=dag_id, run_id=run_id)


# --- runs -----------------------------------------------------------------------------------
def bulk_runs(
    settings: Settings,
    db: Database,
    keys: Sequence[RunKey],
    action: BulkAction,
    *,
    dry_run: bool,
    only_failed: bool = False,
) -> BulkResult:
    """Clear (every task instance, or ``only_failed``), mark or delete the runs ``keys``.

    A clear lists the task instances it resets; mark and delete list the runs.
    """
    _checked(keys, action, RUN_ACTIONS)
    ensure_schema(db)
    wanted = sorted(set(keys))
    if action in (BulkAction.MARK_SUCCESS, BulkAction.MARK_FAILED):
        return _mark_runs(db, wanted, action, dry_run=dry_run)
    with db.transaction(readonly=dry_run) as session:
        runs = _load_runs(session, wanted)
        if action is BulkAction.DELETE:
            changes = [BulkChange(r.dag_id, r.run_id, None, None, r.state.value, None) for r in runs]
            if not dry_run:
                for run in runs:
                    delete_run(session, run)
                    events.record(session, "delete_dag_run", dag_id=run.dag_id, run_id=run.run_id, extra={"bulk": True})
            return BulkResult(action, dry_run, len(wanted), tuple(changes), len(wanted) - len(changes))
        states = FAILED_LIKE if only_failed else CLEARABLE | {TI.RUNNING}
        tis = [ti for ti in _tis_of_runs(session, runs) if ti.state in states]
        changes = [_change(ti, TI.RESTARTING if ti.state is TI.RUNNING else TI.NONE) for ti in tis]
        if not dry_run:
            _clear(session, tis)
        touched = len({(c.dag_id, c.run_id) for c in changes})
        return BulkResult(action, dry_run, len(wanted), tuple(changes), len(wanted) - touched)


def _mark_runs(db: Database, keys: Sequence[RunKey], action: BulkAction, *, dry_run: bool) -> BulkResult:
    target = DagRunState.SUCCESS if action is BulkAction.MARK_SUCCESS else DagRunState.FAILED
    with db.transaction(readonly=True) as session:
        runs = [(r.dag_id, r.run_id, r.state.value) for r in _load_runs(session, keys) if r.state is not target]
    changes = tuple(BulkChange(dag_id, run_id, None, None, state, target.value) for dag_id, run_id, state in runs)
    if not dry_run:
        for change in changes:
            mark_run(db, change.dag_id, change.run_id, target)
    return BulkResult(action, dry_run, len(keys), changes, len(keys) - len(changes))


def _load_runs(session: Session, keys: Sequence[RunKey]) -> list[DagRun]:
    columns = sa.tuple_(DagRun.dag_id, DagRun.run_id)
    query = sa.select(DagRun).where(columns.in_([(k.dag_id, k.run_id) for k in keys]))
    return list(session.scalars(query.order_by(DagRun.dag_id, DagRun.logical_date)))


def _tis_of_runs(session: Session, runs: Sequence[DagRun]) -> list[TaskInstance]:
    if not runs:
        return []
    columns = sa.tuple_(TaskInstance.dag_id, TaskInstance.run_id)
    query = sa.select(TaskInstance).where(columns.in_([(r.dag_id, r.run_id) for r in runs]))
    order = (TaskInstance.dag_id, TaskInstance.run_id, TaskInstance.task_id, TaskInstance.map_index)
    return list(session.scalars(query.order_by(*order)))


__all__ = [
    "BULK_LIMIT",
    "RUN_ACTIONS",
    "TASK_INSTANCE_ACTIONS",
    "BulkAction",
    "BulkChange",
    "BulkResult",
    "RunKey",
    "TaskInstanceKey",
    "bulk_runs",
    "bulk_task_instances",
]
