"""The grid of a DAG: its latest runs (columns) x its tasks and task groups (rows), one state per cell.

A mapped task is one row whose cells count its instances per state; a task group is a
row whose cells sum its members'. A row's order follows the task-group tree, each level
ordered by the first topological position of what it holds (as Airflow's grid does).
Each row also carries what the grid marks on it: the task's description (its tooltip),
its flow settings (``disabled``, ``allow_failure``, ``log_level``, a group's
``max_active_tasks`` / ``sequential``, a mapped task's ``max_active_tis_per_dagrun``) and
the task switches (``services.task_switches``) that turn it off for one run or for all.
"""

from __future__ import annotations

import threading
from collections import Counter
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from datetime import datetime

import sqlalchemy as sa

from dagflow.db import Database
from dagflow.models import DagRun, SerializedDagModel, TaskInstance
from dagflow.serialization import SerializedDag
from dagflow.serialization.objects import SerializedTask, SerializedTaskGroup
from dagflow.services.dags import get_serialized_dag
from dagflow.services.task_switches import TaskSwitchRecord, list_switches
from dagflow.state import DAGRUN_ACTIVE, DagRunState

#: Which state a group or mapped cell shows when its instances differ: the first present wins (Airflow's order).
STATE_PRIORITY: tuple[str, ...] = (
    "failed",
    "upstream_failed",
    "up_for_retry",
    "up_for_reschedule",
    "queued",
    "scheduled",
    "deferred",
    "running",
    "restarting",
    "none",
    "success",
    "skipped",
    "removed",
)


@dataclass(frozen=True)
class GridRun:
    """A column: one run."""

    run_id: str
    state: str
    run_type: str
    logical_date: datetime | None
    start_date: datetime | None
    end_date: datetime | None
    #: A task with ``allow_failure`` failed and the run went on (Kestra's WARNING).
    has_soft_failures: bool = False


@dataclass(frozen=True)
class GridCell:
    """One row's state in one run; ``counts`` per state for mapped tasks and groups (empty for a plain task).

    ``present`` is False when the run has no task instance of the row (nothing to open).
    """

    state: str | None
    counts: Mapping[str, int]
    present: bool = True


@dataclass(frozen=True)
class GridRow:
    """A task or a task group; ``parent`` is the enclosing group's id (None at the top)."""

    node_id: str
    label: str
    depth: int
    is_group: bool
    is_mapped: bool
    parent: str | None
    cells: tuple[GridCell, ...]
    #: The task's ``description`` (or the group's tooltip): the row's tooltip.
    description: str | None = None
    #: Short labels of the row's flow settings, e.g. ``disabled``, ``allow_failure``, ``max 2 at once``.
    marks: tuple[str, ...] = ()
    #: The task may fail without failing the run: its failed cells show as allowed failures.
    allow_failure: bool = False


@dataclass(frozen=True)
class Grid:
    """The runs of one page (oldest first), the rows, how many runs the DAG has, and whether any is active.

    ``switches`` maps ``(task_id, run_id)`` to the switch that turns the task off in that run, and
    ``(task_id, None)`` to one that turns it off for every run to come.
    """

    dag_id: str
    runs: tuple[GridRun, ...]
    rows: tuple[GridRow, ...]
    total_runs: int
    active: bool
    switches: Mapping[tuple[str, str | None], TaskSwitchRecord] = field(default_factory=dict)


#: Deserialized DAGs by (dag_id, dag_hash): a 1 000-task DAG takes a while to rebuild on every page view.
_SERIALIZED: dict[tuple[str, str], SerializedDag] = {}
_SERIALIZED_MAX = 64
_SERIALIZED_LOCK = threading.Lock()  # the web server answers requests on several threads


def cached_serialized_dag(db: Database, dag_id: str) -> SerializedDag:
    """The DAG's serialized form, rebuilt only when its hash changed; ``DagNotFound`` for an unknown DAG."""
    with db.transaction(readonly=True) as session:
        digest = session.scalar(sa.select(SerializedDagModel.dag_hash).where(SerializedDagModel.dag_id == dag_id))
    with _SERIALIZED_LOCK:
        found = _SERIALIZED.get((dag_id, digest or ""))
    if found is not None:
        return found
    sdag = get_serialized_dag(db, dag_id)
    if digest is not None:
        with _SERIALIZED_LOCK:
            if len(_SERIALIZED) >= _SERIALIZED_MAX:
                _SERIALIZED.pop(next(iter(_SERIALIZED)))
            _SERIALIZED[(dag_id, digest)] = sdag
    return sdag


def summary_state(counts: Mapping[str, int]) -> str | None:
    """The state a cell of several instances shows (None when it has none)."""
    for state in STATE_PRIORITY:
        if counts.get(state):
            return None if state == "none" else state
    return None


def dag_grid(db: Database, dag_id: str, *, offset: int = 0, limit: int = 25) -> Grid:
    """The grid of the ``limit`` runs after the ``offset`` newest ones; ``DagNotFound`` for an unknown DAG."""
    sdag = cached_serialized_dag(db, dag_id)
    with db.transaction(readonly=True) as session:
        total = session.scalar(sa.select(sa.func.count()).select_from(DagRun).where(DagRun.dag_id == dag_id)) or 0
        newest = session.scalars(
            sa.select(DagRun)
            .where(DagRun.dag_id == dag_id)
            .order_by(DagRun.logical_date.desc(), DagRun.id.desc())
            .offset(offset)
            .limit(limit)
        ).all()
        runs = tuple(
            GridRun(
                r.run_id,
                DagRunState(r.state).value,
                r.run_type,
                r.logical_date,
                r.start_date,
                r.end_date,
                bool(r.has_soft_failures),
            )  # fmt: skip
            for r in reversed(newest)
        )
        states: dict[tuple[str, str], str | Counter[str]] = {}
        if runs:
            raw_state = sa.type_coerce(TaskInstance.state, sa.String)  # the stored text: no enum per row
            query = sa.select(TaskInstance.run_id, TaskInstance.task_id, raw_state).where(
                TaskInstance.dag_id == dag_id, TaskInstance.run_id.in_([r.run_id for r in runs])
            )
            for run_id, task_id, state in session.execute(query):
                _add(states, (task_id, run_id), state or "none")
    rows = _rows(sdag, [r.run_id for r in runs], states)
    active = any(DagRunState(r.state) in DAGRUN_ACTIVE for r in runs)
    switches = {(s.task_id, s.run_id): s for s in list_switches(db, dag_id)}
    return Grid(dag_id, runs, tuple(rows), int(total), active, switches)


def _add(states: dict[tuple[str, str], str | Counter[str]], key: tuple[str, str], value: str) -> None:
    """One task instance's state into its cell: a plain state for one instance, a Counter for several."""
    found = states.get(key)
    if found is None:
        states[key] = value
    elif isinstance(found, Counter):
        found[value] += 1
    else:
        states[key] = Counter((found, value))


def _rows(
    sdag: SerializedDag, run_ids: list[str], states: Mapping[tuple[str, str], str | Counter[str]]
) -> list[GridRow]:
    position = {task_id: i for i, task_id in enumerate(sdag.topological_order())}
    root = sdag.task_group or SerializedTaskGroup(None, task_ids=tuple(sdag.tasks))
    rows: list[GridRow] = []

    def members(group: SerializedTaskGroup) -> list[str]:
        return [*group.task_ids, *(t for child in group.children for t in members(child))]

    def first(item: str | SerializedTaskGroup) -> int:
        ids = [item] if isinstance(item, str) else members(item)
        return min((position.get(t, len(position)) for t in ids), default=len(position))

    def walk(group: SerializedTaskGroup, depth: int) -> None:
        items: list[str | SerializedTaskGroup] = [*group.task_ids, *group.children]
        for item in sorted(items, key=first):
            if isinstance(item, str):
                task = sdag.get_task(item)
                cells = tuple(_cell(states.get((item, r)), task.is_mapped) for r in run_ids)
                label = _label(item, group.group_id)
                rows.append(
                    GridRow(
                        item,
                        label,
                        depth,
                        False,
                        task.is_mapped,
                        group.group_id,
                        cells,
                        description=task.description,
                        marks=task_marks(task),
                        allow_failure=task.allow_failure,
                    )
                )
            else:
                ids = members(item)
                cells = tuple(_merged(states.get((t, r)) for t in ids) for r in run_ids)
                label = _label(item.group_id or "", group.group_id)
                rows.append(
                    GridRow(
                        item.group_id or "",
                        label,
                        depth,
                        True,
                        False,
                        group.group_id,
                        cells,
                        description=item.tooltip,
                        marks=group_marks(item),
                    )
                )
                walk(item, depth + 1)

    walk(root, 0)
    return rows


def task_marks(task: SerializedTask) -> tuple[str, ...]:
    """Short labels of a task's flow settings, as the grid and the task instance page show them."""
    marks = []
    if task.disabled:
        marks.append("disabled")
    if task.allow_failure:
        marks.append("allow_failure")
    if task.log_level:
        marks.append(f"log_level {task.log_level}")
    per_run = task.max_active_tis_per_dagrun  # ForEach: ``expand`` with a limit per run
    if per_run:
        marks.append(f"max {per_run} per run")
    if task.max_active_tis_per_dag:
        marks.append(f"max {task.max_active_tis_per_dag} per DAG")
    return tuple(marks)


def group_marks(group: SerializedTaskGroup) -> tuple[str, ...]:
    """Short labels of a task group's flow settings (``sequential``, ``max N at once``)."""
    marks = []
    if group.sequential:
        marks.append("sequential")
    if group.max_active_tasks is not None:
        marks.append(f"max {group.max_active_tasks} at once")
    return tuple(marks)


def _label(node_id: str, parent: str | None) -> str:
    """A node's id without its group's prefix (``grp.b`` shows as ``b`` under ``grp``)."""
    if parent and node_id.startswith(parent + "."):
        return node_id[len(parent) + 1 :]
    return node_id


#: One shared cell per plain state (25 000 cells of a big grid are mostly these).
_PLAIN = {state: GridCell(None if state == "none" else state, {}) for state in STATE_PRIORITY}
_EMPTY = GridCell(None, {}, present=False)


def _cell(found: str | Counter[str] | None, mapped: bool) -> GridCell:
    if found is None:
        return _EMPTY
    if isinstance(found, str):
        return GridCell(summary_state({found: 1}), {found: 1}) if mapped else _PLAIN.get(found, _EMPTY)
    return GridCell(summary_state(found), dict(found))


def _merged(parts: Iterable[str | Counter[str] | None]) -> GridCell:
    total: Counter[str] = Counter()
    for part in parts:
        if isinstance(part, str):
            total[part] += 1
        elif part:
            total.update(part)
    return GridCell(summary_state(total), dict(total)) if total else _EMPTY


def run_task_states(db: Database, dag_id: str, run_id: str) -> dict[str, Counter[str]]:
    """How many instances of each task of one run are in each state (``none`` for no state yet)."""
    states: dict[str, Counter[str]] = {}
    with db.transaction(readonly=True) as session:
        query = sa.select(TaskInstance.task_id, TaskInstance.state).where(
            TaskInstance.dag_id == dag_id, TaskInstance.run_id == run_id
        )
        for task_id, state in session.execute(query):
            states.setdefault(task_id, Counter())[state.value if state is not None else "none"] += 1
    return states
