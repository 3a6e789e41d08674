"""One scheduling pass over one DAG run: read its state, ask the planner, write the decisions.

This is the applier half of "a pure planner decides, an applier writes": every write goes
through ``dagflow.models.transitions`` inside the caller's transaction. The scheduler
loop reads and plans a run with ``load_tis``/``read_run_inputs``/``plan_loaded_run`` and
writes the plan with ``apply_run_plan``, possibly in a later transaction (``tick.py``),
so the applier never trusts the read: states move by compare-and-set from the state the
planner saw, placeholders are inserted and expanded at most once. ``schedule_run`` does
all of it in one transaction; ``queue_scheduled`` queues one run's task instances with
no limit, for a scheduler scoped to that run (``dags test``).
"""

from __future__ import annotations

import functools
from collections import defaultdict
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

import sqlalchemy as sa
from sqlalchemy.dialects import postgresql as postgresql_types
from sqlalchemy.orm import Session

from dagflow.execution.workload import TaskWorkload, workload_for
from dagflow.models import DagRun, TaskInstance, TaskMap, TaskSwitch, XCom
from dagflow.models.transitions import set_dagrun_state, set_ti_state
from dagflow.scheduler.dagruns import new_task_instance
from dagflow.scheduler.locking import is_postgresql, unless_exists
from dagflow.scheduler.planner import RunPlan, plan_run
from dagflow.scheduler.ti_index import TIIndex, TISnapshot
from dagflow.scheduler.ti_reads import load_tis
from dagflow.sdk.branch import BRANCH_XCOM_KEY
from dagflow.serialization.objects import SerializedDag
from dagflow.state import DagRunState, TaskInstanceState

TI = TaskInstanceState
Key = tuple[str, int]


@dataclass
class RunTick:
    """What one pass over a run did."""

    scheduled: int = 0
    changed: int = 0
    run_state: DagRunState | None = None
    next_wakeup: datetime | None = None
    warnings: list[str] = field(default_factory=list)
    #: The plan decided nothing (``quiet_runs``: the next pass may skip the run while its inputs read the same).
    plan_empty: bool = False


@dataclass(frozen=True)
class RunInputs:
    """What a run's plan reads besides its task instances: branch decisions and mapped-input lengths."""

    branch_decisions: Mapping[str, Mapping[str, Any]]
    task_map: Mapping[str, int]


def schedule_run(
    session: Session,
    *,
    run: DagRun,
    dag: SerializedDag,
    now: datetime,
    past_not_met: Iterable[str] = (),
) -> RunTick:
    """Read, plan and apply one run in the caller's transaction (decisions cascade inside one plan).

    ``past_not_met``: task ids held back by ``depends_on_past``/``wait_for_downstream``.
    The scheduler loop does the same in two halves (``plan_loaded_run`` in a read
    transaction, ``apply_run_plan`` in the write one; ``tick.py``).
    """
    if run.state == DagRunState.QUEUED:
        set_dagrun_state(
            session, run.id, to=DagRunState.RUNNING, expected=[DagRunState.QUEUED], values={"start_date": now}
        )
        session.refresh(run)
    loaded = load_tis(session, run)
    inputs = read_run_inputs(session, [(run, dag)])[run.id]
    switches = TaskSwitches.load(session, [run.dag_id])
    plan = plan_loaded_run(run, dag, loaded.tis, inputs, now=now, past_not_met=past_not_met, switches=switches)
    return apply_run_plan(session, run=run, dag=dag, plan=plan, rows=loaded.rows, now=now)


def plan_loaded_run(
    run: DagRun,
    dag: SerializedDag,
    tis: Sequence[TISnapshot] | TIIndex,
    inputs: RunInputs,
    *,
    now: datetime,
    past_not_met: Iterable[str],
    switches: TaskSwitches,
) -> RunPlan:
    """The planner over what was read of one run: its task instances (``load_tis``) and,
    read after them, its other inputs (``read_run_inputs``). The order matters on
    PostgreSQL: a worker commits a branch decision or a map length before the success
    that makes the planner look for it.
    """
    return plan_run(
        dag,
        tis,
        task_map=inputs.task_map,
        branch_decisions=inputs.branch_decisions,
        now=now,
        past_not_met=past_not_met,
        switched_off=switches.for_run(run.dag_id, run.run_id),
    )


def apply_run_plan(
    session: Session, *, run: DagRun, dag: SerializedDag, plan: RunPlan, rows: dict[Key, Any], now: datetime
) -> RunTick:
    """Write one run's plan; every change is a compare-and-set from the state the planner saw."""
    tick = RunTick(warnings=list(plan.warnings), next_wakeup=plan.next_wakeup, plan_empty=plan.is_empty)
    tick.changed = _apply(session, run=run, dag=dag, plan=plan, rows=rows, now=now)
    tick.scheduled = len(plan.schedule) + sum(plan.expand.values())
    if plan.run_state is not None and _finish_run(session, run, plan, now=now):
        tick.run_state = plan.run_state
    return tick


def queue_scheduled(session: Session, *, run: DagRun, now: datetime, limit: int | None = None) -> list[TaskWorkload]:
    """Move the run's scheduled task instances to queued (highest priority first)."""
    query = (
        sa.select(TaskInstance)
        .where(TaskInstance.dag_id == run.dag_id, TaskInstance.run_id == run.run_id, TaskInstance.state == TI.SCHEDULED)
        .order_by(TaskInstance.priority_weight.desc(), TaskInstance.id)
        .limit(limit)
    )
    tis = list(session.scalars(query))
    if not tis:
        return []
    set_ti_state(session, [ti.id for ti in tis], to=TI.QUEUED, expected=[TI.SCHEDULED], values={"queued_at": now})
    return [workload_for(ti, ti_id=ti.id) for ti in tis]


# --- reading ----------------------------------------------------------------------------
#: One ``tasks disable`` switch: ``(dag_id, task_id, run_id or None for every run, reason)``.
SwitchRow = tuple[str, str, str | None, str | None]


class TaskSwitches:
    """The switches of ``tasks disable`` for some DAGs, read in one query (once per tick, not per run)."""

    def __init__(self, rows: Iterable[SwitchRow]) -> None:
        self._by_dag: dict[str, list[tuple[str, str | None, str | None]]] = defaultdict(list)
        for dag_id, task_id, run_id, reason in rows:
            self._by_dag[dag_id].append((task_id, run_id, reason))

    @classmethod
    def load(cls, session: Session, dag_ids: Iterable[str]) -> TaskSwitches:
        """The switches of these DAGs (DAG-wide and per run)."""
        return cls(cls.read(session, dag_ids))

    @staticmethod
    def read(session: Session, dag_ids: Iterable[str]) -> list[SwitchRow]:
        """The switch rows of these DAGs, in one query (none without a DAG)."""
        wanted = sorted(set(dag_ids))
        if not wanted:
            return []
        query = sa.select(TaskSwitch.dag_id, TaskSwitch.task_id, TaskSwitch.run_id, TaskSwitch.reason).where(
            TaskSwitch.dag_id.in_(wanted)
        )
        return [(dag_id, task_id, run_id, reason) for dag_id, task_id, run_id, reason in session.execute(query)]

    def for_run(self, dag_id: str, run_id: str) -> dict[str, str | None]:
        """``task_id -> reason`` of the tasks switched off in this run (its own switch wins for the reason)."""
        found: dict[str, str | None] = {}
        for task_id, switch_run, reason in sorted(self._by_dag.get(dag_id, ()), key=lambda r: r[1] is not None):
            if switch_run is None or switch_run == run_id:
                found[task_id] = reason
        return found


def switched_off(session: Session, dag_id: str, run_id: str) -> dict[str, str | None]:
    """``task_id -> reason`` of the tasks disabled in this run (``tasks disable``; DAG-wide or for the run)."""
    return TaskSwitches.load(session, [dag_id]).for_run(dag_id, run_id)


_MAPS = TaskMap.__table__
_XCOMS = XCom.__table__


def _keys_match(table: sa.Table, postgresql: bool) -> sa.ColumnElement[bool]:
    """``dag_id`` and ``run_id`` among the bound lists ``dag_ids``/``run_ids``.

    PostgreSQL: ``= ANY(:array)``, one bound array each, so the statement text is the same
    whatever the number of runs (an expanding ``IN`` list is new text for every length,
    parsed again by the driver and the server). SQLite: expanding ``IN`` lists.
    """
    if postgresql:
        array = postgresql_types.ARRAY(sa.String)
        return sa.and_(
            table.c.dag_id == sa.any_(sa.bindparam("dag_ids", type_=array)),
            table.c.run_id == sa.any_(sa.bindparam("run_ids", type_=array)),
        )
    return sa.and_(
        table.c.dag_id.in_(sa.bindparam("dag_ids", expanding=True)),
        table.c.run_id.in_(sa.bindparam("run_ids", expanding=True)),
    )


@functools.lru_cache(maxsize=2)
def _read_task_map(postgresql: bool) -> Any:
    return (
        sa.select(_MAPS.c.dag_id, _MAPS.c.run_id, _MAPS.c.task_id, sa.func.sum(_MAPS.c.length))
        .where(_keys_match(_MAPS, postgresql))
        .group_by(_MAPS.c.dag_id, _MAPS.c.run_id, _MAPS.c.task_id)
    )


@functools.lru_cache(maxsize=2)
def _read_branch_decisions(postgresql: bool) -> Any:
    return sa.select(_XCOMS.c.dag_id, _XCOMS.c.run_id, _XCOMS.c.task_id, _XCOMS.c.value).where(
        _keys_match(_XCOMS, postgresql), _XCOMS.c.key == BRANCH_XCOM_KEY
    )


#: Runs per batched read of ``read_run_inputs`` (two IN lists well below bound-parameter limits).
RUNS_PER_READ = 200


def read_run_inputs(session: Session, runs: Sequence[tuple[DagRun, SerializedDag]]) -> dict[int, RunInputs]:
    """Branch decisions and mapped-input lengths of many runs, by run primary key: one query each.

    Branch decisions only for DAGs with a task that may record one (``SerializedDag.may_branch``),
    task maps only for DAGs with mapped tasks. Call it after reading the runs' task
    instances (see ``schedule_run``).
    """
    branches: dict[tuple[str, str], dict[str, Any]] = defaultdict(dict)
    maps: dict[tuple[str, str], dict[str, int]] = defaultdict(dict)
    postgresql = is_postgresql(session) if runs else False
    for start in range(0, len(runs), RUNS_PER_READ):
        chunk = runs[start : start + RUNS_PER_READ]
        branching = {(run.dag_id, run.run_id) for run, dag in chunk if dag.may_branch}
        if branching:
            rows = session.connection().execute(_read_branch_decisions(postgresql), _key_lists(branching))
            for dag_id, run_id, task_id, value in rows:
                if (dag_id, run_id) in branching and isinstance(value, dict):
                    branches[(dag_id, run_id)][task_id] = value
        mapped = {(run.dag_id, run.run_id) for run, dag in chunk if _has_mapped_tasks(dag)}
        if mapped:
            for dag_id, run_id, task_id, length in session.connection().execute(
                _read_task_map(postgresql), _key_lists(mapped)
            ):
                if (dag_id, run_id) in mapped:
                    maps[(dag_id, run_id)][task_id] = int(length or 0)
    return {
        run.id: RunInputs(branches.get((run.dag_id, run.run_id), {}), maps.get((run.dag_id, run.run_id), {}))
        for run, _ in runs
    }


def _has_mapped_tasks(dag: SerializedDag) -> bool:
    return any(task.is_mapped for task in dag.tasks.values())


def _key_lists(keys: Iterable[tuple[str, str]]) -> dict[str, list[str]]:
    return {"dag_ids": sorted({d for d, _ in keys}), "run_ids": sorted({r for _, r in keys})}


# --- writing ----------------------------------------------------------------------------
def _apply(
    session: Session,
    *,
    run: DagRun,
    dag: SerializedDag,
    plan: RunPlan,
    rows: dict[Key, Any],
    now: datetime,
) -> int:
    """Write the plan in the order the planner documents."""
    rows.update(_create_missing(session, run=run, dag=dag, task_ids=plan.create))
    changed = len(plan.create)
    changed += _move(session, rows, plan.remove, TI.REMOVED, {}, plan.notes)
    changed += _move(session, rows, plan.skip, TI.SKIPPED, {"end_date": now}, plan.notes)
    changed += _move(session, rows, plan.upstream_fail, TI.UPSTREAM_FAILED, {"end_date": now}, plan.notes)
    changed += _expand(session, run=run, dag=dag, plan=plan, rows=rows, now=now)
    changed += _move(session, rows, plan.schedule, TI.SCHEDULED, {"scheduled_at": now}, {})
    return changed


def _create_missing(
    session: Session, *, run: DagRun, dag: SerializedDag, task_ids: Sequence[str]
) -> dict[Key, TaskInstance]:
    """Insert the placeholders the plan asks for; none if one exists already.

    The plan may come from a read made before this transaction (``tick.py``): a row that
    appeared since hits the unique key, the savepoint undoes only these inserts, and the
    next pass plans the run from what is there.
    """
    if not task_ids:
        return {}

    def insert() -> list[TaskInstance]:
        created = [new_task_instance(dag, dag.get_task(t), run_id=run.run_id) for t in task_ids]
        session.add_all(created)
        session.flush()
        return created

    created = unless_exists(session, insert, f"task instances {list(task_ids)} of run {run.run_id}") or []
    return {(ti.task_id, ti.map_index): ti for ti in created}


def _expand(
    session: Session,
    *,
    run: DagRun,
    dag: SerializedDag,
    plan: RunPlan,
    rows: dict[Key, Any],
    now: datetime,
) -> int:
    """The placeholder (map index -1) becomes index 0; indexes 1..n-1 are added; all scheduled."""
    changed = 0
    for task_id, length in plan.expand.items():
        placeholder = rows.get((task_id, -1))
        if placeholder is None or not _claim_placeholder(session, placeholder):
            continue
        task = dag.get_task(task_id)
        added = [new_task_instance(dag, task, run_id=run.run_id, map_index=i) for i in range(1, length)]
        session.add_all(added)
        session.flush()
        ids_by_state: dict[TaskInstanceState, list[int]] = {placeholder.state: [placeholder.id]}
        ids_by_state.setdefault(TI.NONE, []).extend(ti.id for ti in added)
        for state, ids in ids_by_state.items():
            changed += set_ti_state(session, ids, to=TI.SCHEDULED, expected=[state], values={"scheduled_at": now})
    return changed


def _claim_placeholder(session: Session, placeholder: Any) -> bool:
    """Map index -1 -> 0, only if the row is still the placeholder in the state the planner saw.

    A compare-and-set, so a task is expanded once even when its plan was read outside
    this transaction or by another scheduler: the loser changes nothing and adds no index.
    """
    claim = (
        sa.update(TaskInstance)
        .where(
            TaskInstance.id == placeholder.id,
            TaskInstance.map_index == -1,
            TaskInstance.state.in_([placeholder.state]),
        )
        .values(map_index=0)
    )
    return bool(session.execute(claim).rowcount)  # type: ignore[attr-defined]


def _move(
    session: Session,
    rows: dict[Key, Any],
    keys: Sequence[Key],
    to: TaskInstanceState,
    values: dict[str, Any],
    notes: Mapping[Key, str],
) -> int:
    """CAS each task instance from the state the planner saw to ``to``, grouped by state."""
    groups: dict[tuple[TaskInstanceState, str | None], list[int]] = defaultdict(list)
    objects = False  # rows are plain, except task instances created in this pass
    for key in keys:
        ti = rows.get(key)
        if ti is not None:
            groups[(ti.state, notes.get(key))].append(ti.id)
            objects = objects or isinstance(ti, TaskInstance)
    changed = 0
    for (state, note), ids in groups.items():
        extra = {**values, "note": note} if note else values
        changed += set_ti_state(session, ids, to=to, expected=[state], values=extra, synchronize=objects)
    return changed


def _finish_run(session: Session, run: DagRun, plan: RunPlan, *, now: datetime) -> bool:
    """The run to the plan's final state from the state it was read in; False if it moved since."""
    assert plan.run_state is not None
    values: dict[str, Any] = {"end_date": now, "has_soft_failures": plan.has_soft_failures}
    finished = set_dagrun_state(session, run.id, to=plan.run_state, expected=[run.state], values=values)
    session.refresh(run)
    return finished
