"""Plain, code-free DAG and task objects rebuilt from serialized JSON.

The scheduler and the web server only ever see these: no operator classes, no user
callables. Graph questions (topological order, descendants, priority weight totals)
are answered here and cached, computed once per deserialized DAG.
"""

from __future__ import annotations

import heapq
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any

from dagflow.state import TriggerRule

WEIGHT_RULES = ("downstream", "upstream", "absolute")


@dataclass(frozen=True)
class SerializedTask:
    """Everything the scheduler and UI need to know about one task, without its code."""

    task_id: str
    task_type: str = "BaseOperator"
    operator_module: str = ""
    upstream_task_ids: frozenset[str] = frozenset()
    downstream_task_ids: frozenset[str] = frozenset()
    trigger_rule: TriggerRule = TriggerRule.ALL_SUCCESS
    owner: str = "dagflow"
    retries: int = 0
    retry_delay: timedelta = timedelta(seconds=300)
    retry_exponential_backoff: bool = False
    max_retry_delay: timedelta | None = None
    execution_timeout: timedelta | None = None
    sla: timedelta | None = None
    pool: str = "default_pool"
    pool_slots: int = 1
    queue: str = "default"
    priority_weight: int = 1
    weight_rule: str = "downstream"
    max_active_tis_per_dag: int | None = None
    #: Queued + running task instances of this task in one run (map indexes included), at most.
    max_active_tis_per_dagrun: int | None = None
    depends_on_past: bool = False
    wait_for_downstream: bool = False
    disabled: bool = False
    allow_failure: bool = False
    log_level: str | None = None
    is_setup: bool = False
    is_teardown: bool = False
    on_failure_fail_dagrun: bool = False
    is_mapped: bool = False
    is_sensor: bool = False
    #: The operator class never records a branch decision (absent from older documents: it may).
    never_branches: bool = False
    #: The operator class is ``EmptyOperator`` or a subclass (absent from older documents: it is not).
    inherits_from_empty_operator: bool = False
    expand_input: Mapping[str, Mapping[str, Any]] = field(default_factory=dict)
    template_fields: tuple[str, ...] = ()
    doc_md: str | None = None
    description: str | None = None
    task_group_id: str | None = None
    ui_color: str | None = None
    do_xcom_push: bool = True
    callbacks: frozenset[str] = frozenset()
    #: URIs of the assets a successful try records an event for (``outlets``).
    outlets: tuple[str, ...] = ()
    #: URIs of the assets the task reads (``inlets``).
    inlets: tuple[str, ...] = ()

    def has_callback(self, name: str) -> bool:
        """True if the task defines the callback ``name`` (e.g. ``on_failure_callback``)."""
        return name in self.callbacks

    @property
    def finishes_without_running(self) -> bool:
        """The scheduler marks its task instances ``success`` instead of queueing them (Airflow's rule).

        An ``EmptyOperator`` (or subclass) with no ``on_execute_callback``, no
        ``on_success_callback``, no outlets and no inlets: nothing would happen on a worker.
        """
        return (
            self.inherits_from_empty_operator
            and not self.outlets
            and not self.inlets
            and not self.has_callback("on_execute_callback")
            and not self.has_callback("on_success_callback")
        )


@dataclass(frozen=True)
class SerializedTaskGroup:
    """One node of the task-group tree: its id, child groups and direct task ids."""

    group_id: str | None
    tooltip: str | None = None
    ui_color: str | None = None
    children: tuple[SerializedTaskGroup, ...] = ()
    task_ids: tuple[str, ...] = ()
    #: At most this many task instances of the group run at once within a run (None: no limit).
    max_active_tasks: int | None = None
    #: The direct children were chained in definition order (already in the task edges).
    sequential: bool = False

    def iter_groups(self) -> list[SerializedTaskGroup]:
        """This group and every nested group, depth first."""
        found = [self]
        for child in self.children:
            found.extend(child.iter_groups())
        return found

    def all_task_ids(self) -> list[str]:
        """Every task id in this group and its nested groups."""
        return [tid for group in self.iter_groups() for tid in group.task_ids]


@dataclass(frozen=True)
class SerializedDag:
    """A DAG as the scheduler sees it: settings, tasks by id and cached graph facts."""

    dag_id: str
    tasks: Mapping[str, SerializedTask]
    fileloc: str | None = None
    schedule: str | None = None
    timetable: Mapping[str, Any] | None = None
    timezone: str = "UTC"
    start_date: datetime | None = None
    end_date: datetime | None = None
    catchup: bool = False
    max_active_runs: int = 16
    max_active_tasks: int = 16
    dagrun_timeout: timedelta | None = None
    tags: tuple[str, ...] = ()
    description: str | None = None
    doc_md: str | None = None
    owner: str | None = None
    is_paused_upon_creation: bool | None = None
    render_template_as_native_obj: bool = False
    params: Mapping[str, Mapping[str, Any]] = field(default_factory=dict)
    callbacks: frozenset[str] = frozenset()
    task_group: SerializedTaskGroup | None = None
    #: ``{role: [actions]}`` (``can_read``, ``can_edit``, ``can_delete``); None: every role as its global permissions say.
    access_control: Mapping[str, Sequence[str]] | None = None
    #: Every asset the DAG names (schedule, outlets, inlets): ``uri -> {"name", "group", "extra"}``.
    assets: Mapping[str, Mapping[str, Any]] = field(default_factory=dict)
    _order: tuple[str, ...] = field(init=False, repr=False, compare=False)
    _descendants: dict[str, frozenset[str]] = field(init=False, repr=False, compare=False)
    _weights: dict[str, tuple[int, int]] = field(init=False, repr=False, compare=False)
    _group_limits: dict[str, tuple[tuple[str, int], ...]] = field(init=False, repr=False, compare=False)
    _may_branch: bool = field(init=False, repr=False, compare=False)

    def __post_init__(self) -> None:
        object.__setattr__(self, "_may_branch", not all(task.never_branches for task in self.tasks.values()))
        object.__setattr__(self, "_order", _topological_order(self.tasks))
        object.__setattr__(self, "_group_limits", _group_limits(self.task_group))
        object.__setattr__(self, "_descendants", {})
        object.__setattr__(self, "_weights", self._compute_weights())

    # --- lookups ---------------------------------------------------------------------
    def get_task(self, task_id: str) -> SerializedTask:
        """The task with ``task_id``; ``KeyError`` if there is none."""
        return self.tasks[task_id]

    def has_task(self, task_id: str) -> bool:
        """True if the DAG has a task with ``task_id``."""
        return task_id in self.tasks

    @property
    def task_ids(self) -> list[str]:
        """Task ids in topological order."""
        return list(self._order)

    @property
    def roots(self) -> list[SerializedTask]:
        """Tasks with no upstream."""
        return [self.tasks[t] for t in self._order if not self.tasks[t].upstream_task_ids]

    @property
    def leaves(self) -> list[SerializedTask]:
        """Tasks with no downstream."""
        return [self.tasks[t] for t in self._order if not self.tasks[t].downstream_task_ids]

    @property
    def effective_leaves(self) -> list[SerializedTask]:
        """Tasks whose run decides the run's state: no downstream other than teardowns (Airflow's rule)."""
        return [
            self.tasks[t]
            for t in self._order
            if all(self.tasks[d].is_teardown for d in self.tasks[t].downstream_task_ids if d in self.tasks)
        ]

    @property
    def may_branch(self) -> bool:
        """True unless every task's operator never records a branch decision (the scheduler reads none then)."""
        return self._may_branch

    def has_callback(self, name: str) -> bool:
        """True if the DAG defines the callback ``name`` (e.g. ``on_failure_callback``)."""
        return name in self.callbacks

    @property
    def asset_condition(self) -> Any:
        """The asset expression the DAG is scheduled on (a URI or ``{"all"|"any": [...]}``), else None."""
        timetable = self.timetable or {}
        return timetable.get("condition") if timetable.get("type") == "asset" else None

    def group_limits(self, task_id: str) -> tuple[tuple[str, int], ...]:
        """``(group_id, max_active_tasks)`` of every limited task group ``task_id`` is in (nested ones too)."""
        return self._group_limits.get(task_id, ())

    # --- graph -----------------------------------------------------------------------
    def topological_order(self) -> tuple[str, ...]:
        """Task ids, every task after all of its upstreams (ties broken by id)."""
        return self._order

    def descendants(self, task_id: str) -> frozenset[str]:
        """Every task reachable downstream of ``task_id`` (not including itself)."""
        cached = self._descendants.get(task_id)
        if cached is not None:
            return cached
        for tid in reversed(self._order):
            if tid not in self._descendants:
                found: set[str] = set()
                for child in self.tasks[tid].downstream_task_ids:
                    found.add(child)
                    found |= self._descendants[child]
                self._descendants[tid] = frozenset(found)
        return self._descendants[task_id]

    def ancestors(self, task_id: str) -> frozenset[str]:
        """Every task reachable upstream of ``task_id`` (not including itself)."""
        found: set[str] = set()
        stack = list(self.tasks[task_id].upstream_task_ids)
        while stack:
            tid = stack.pop()
            if tid not in found:
                found.add(tid)
                stack.extend(self.tasks[tid].upstream_task_ids)
        return frozenset(found)

    def priority_weight_total(self, task_id: str) -> int:
        """The effective priority of ``task_id`` under its ``weight_rule`` (the sum, as Airflow)."""
        return self._weights[task_id][0]

    def priority_tier(self, task_id: str) -> int:
        """The highest ``priority_weight`` set on ``task_id`` or on the tasks its ``weight_rule`` counts.

        The first key of the queueing order (docs/scheduling.md): unlike the sum, it does not
        grow with the number of tasks downstream, so it ranks what users set, not a run's shape.
        """
        return self._weights[task_id][1]

    def _compute_weights(self) -> dict[str, tuple[int, int]]:
        """``task_id -> (priority_weight_total, priority_tier)``."""
        weights: dict[str, tuple[int, int]] = {}
        for tid, task in self.tasks.items():
            if task.weight_rule == "absolute":
                weights[tid] = (task.priority_weight, task.priority_weight)
                continue
            related = self.descendants(tid) if task.weight_rule == "downstream" else self.ancestors(tid)
            own = [task.priority_weight, *(self.tasks[r].priority_weight for r in related)]
            weights[tid] = (sum(own), max(own))
        return weights


def _topological_order(tasks: Mapping[str, SerializedTask]) -> tuple[str, ...]:
    """Kahn's algorithm with sorted ties, so the order is stable across parses."""
    indegree = {tid: sum(1 for u in t.upstream_task_ids if u in tasks) for tid, t in tasks.items()}
    ready = [tid for tid, n in indegree.items() if n == 0]
    heapq.heapify(ready)
    order: list[str] = []
    while ready:
        tid = heapq.heappop(ready)
        order.append(tid)
        for child in tasks[tid].downstream_task_ids:
            if child in indegree:
                indegree[child] -= 1
                if indegree[child] == 0:
                    heapq.heappush(ready, child)
    if len(order) != len(tasks):
        stuck = sorted(set(tasks) - set(order))
        raise ValueError(f"serialized DAG has a cycle among: {', '.join(stuck)}")
    return tuple(order)


def _group_limits(root: SerializedTaskGroup | None) -> dict[str, tuple[tuple[str, int], ...]]:
    """Task id -> the limited groups around it (``max_active_tasks`` of a ``TaskGroup``)."""
    limits: dict[str, tuple[tuple[str, int], ...]] = {}
    if root is None:
        return limits
    for group in root.iter_groups():
        if group.max_active_tasks is None or group.group_id is None:
            continue
        for tid in group.all_task_ids():
            limits[tid] = (*limits.get(tid, ()), (group.group_id, group.max_active_tasks))
    return limits
