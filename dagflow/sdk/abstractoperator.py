"""What every task node shares, mapped or not: identity, graph edges, scheduling settings."""

from __future__ import annotations

import logging
from collections.abc import Callable, Mapping, Sequence
from datetime import datetime, timedelta
from typing import TYPE_CHECKING, Any, ClassVar

from dagflow.exceptions import DagDefinitionError, InvalidDuration
from dagflow.sdk.dependencies import DependencyMixin
from dagflow.sdk.durations import to_timedelta
from dagflow.sdk.try_policy import TryPolicy
from dagflow.state import TriggerRule

if TYPE_CHECKING:
    from dagflow.sdk.dag import DAG
    from dagflow.sdk.taskgroup import TaskGroup
    from dagflow.sdk.xcom_arg import XComArg

DEFAULT_OWNER = "dagflow"
WEIGHT_RULES = ("downstream", "upstream", "absolute")
_DURATION_ARGS = ("retry_delay", "max_retry_delay", "execution_timeout", "sla")

Callback = Callable[[Mapping[str, Any]], Any]


def normalize_scheduling_args(task_id: str, values: Mapping[str, Any]) -> dict[str, Any]:
    """Validate and normalise the scheduling arguments of a task (durations, rule, weights)."""
    out = dict(values)
    for name in _DURATION_ARGS:
        if name in out:
            try:
                out[name] = to_timedelta(out[name])
            except InvalidDuration as exc:
                raise InvalidDuration(f"task {task_id!r}: {name}: {exc}") from None
    if out.get("retry_delay", 0) is None:
        out["retry_delay"] = timedelta(seconds=300)
    if "trigger_rule" in out:
        try:
            out["trigger_rule"] = TriggerRule(out["trigger_rule"])
        except ValueError:
            allowed = ", ".join(rule.value for rule in TriggerRule)
            raise DagDefinitionError(
                f"task {task_id!r}: invalid trigger_rule {out['trigger_rule']!r}; expected one of {allowed}"
            ) from None
    for name, minimum in (("retries", 0), ("pool_slots", 1)):
        if name in out:
            out[name] = _as_int(task_id, name, out[name] if out[name] is not None else minimum, minimum)
    if "priority_weight" in out:
        out["priority_weight"] = _as_int(task_id, "priority_weight", out["priority_weight"], None)
    if out.get("weight_rule", "downstream") not in WEIGHT_RULES:
        raise DagDefinitionError(
            f"task {task_id!r}: invalid weight_rule {out['weight_rule']!r}; expected one of {', '.join(WEIGHT_RULES)}"
        )
    if out.get("log_level") is not None:
        out["log_level"] = _log_level_name(task_id, out["log_level"])
    return out


def _as_int(task_id: str, name: str, value: Any, minimum: int | None) -> int:
    if isinstance(value, bool) or not isinstance(value, (int, float)) or int(value) != value:
        raise DagDefinitionError(f"task {task_id!r}: {name} must be an integer, got {value!r}")
    if minimum is not None and value < minimum:
        raise DagDefinitionError(f"task {task_id!r}: {name} must be at least {minimum}, got {value!r}")
    return int(value)


def _log_level_name(task_id: str, level: Any) -> str:
    if isinstance(level, int) and not isinstance(level, bool):
        return logging.getLevelName(level)
    if isinstance(level, str) and isinstance(logging.getLevelName(level.upper()), int):
        return level.upper()
    raise DagDefinitionError(f"task {task_id!r}: invalid log_level {level!r}; expected e.g. 'INFO'")


class AbstractOperator(DependencyMixin):
    """A node of the DAG: a concrete operator or a mapped one."""

    # Class-level defaults; a MappedOperator copies them from the class it maps, per instance.
    template_fields: Sequence[str] = ()
    template_ext: Sequence[str] = ()
    ui_color: str = "#fff"
    ui_fgcolor: ClassVar[str] = "#000"
    is_mapped: ClassVar[bool] = False
    is_sensor: bool = False
    inherits_from_empty_operator: bool = False
    is_setup: bool = False
    is_teardown: bool = False
    on_failure_fail_dagrun: bool = False
    #: True on an operator class whose tries never record a branch decision; it counts only on the
    #: class that sets it (a subclass may branch), so the scheduler skips reading decisions of DAGs
    #: made only of such classes (``serialization.from_sdk``).
    never_branches: ClassVar[bool] = False

    task_id: str
    task_group: TaskGroup | None
    upstream_task_ids: set[str]
    downstream_task_ids: set[str]
    # The scheduling arguments (SCHEDULING_ARGS), as ``normalize_scheduling_args`` leaves them.
    owner: str
    email: str | Sequence[str] | None
    email_on_retry: bool
    email_on_failure: bool
    retries: int
    retry_delay: timedelta
    retry_exponential_backoff: bool
    max_retry_delay: timedelta | None
    start_date: datetime | None
    end_date: datetime | None
    execution_timeout: timedelta | None
    sla: timedelta | None
    trigger_rule: TriggerRule
    depends_on_past: bool
    ignore_first_depends_on_past: bool
    wait_for_downstream: bool
    pool: str
    pool_slots: int
    queue: str
    priority_weight: int
    weight_rule: str
    max_active_tis_per_dag: int | None
    max_active_tis_per_dagrun: int | None
    do_xcom_push: bool
    multiple_outputs: bool
    on_execute_callback: Callback | Sequence[Callback] | None
    on_success_callback: Callback | Sequence[Callback] | None
    on_failure_callback: Callback | Sequence[Callback] | None
    on_retry_callback: Callback | Sequence[Callback] | None
    on_skipped_callback: Callback | Sequence[Callback] | None
    executor_config: Mapping[str, Any] | None
    doc_md: str | None
    doc: str | None
    description: str | None
    disabled: bool
    allow_failure: bool
    log_level: str | None
    _dag: DAG | None = None

    # --- identity ------------------------------------------------------------------------
    @property
    def dag(self) -> DAG | None:
        """The DAG this task belongs to (None while it has none)."""
        return self._dag

    @dag.setter
    def dag(self, dag: DAG | None) -> None:
        if dag is self._dag:
            return
        if self._dag is not None:
            raise DagDefinitionError(f"task {self.task_id!r} already belongs to DAG {self._dag.dag_id!r}")
        if dag is not None:
            dag.add_task(self)
        self._dag = dag

    @property
    def dag_id(self) -> str | None:
        """The id of the DAG this task belongs to."""
        return self._dag.dag_id if self._dag is not None else None

    @property
    def task_type(self) -> str:
        """The operator class name, shown in the UI and stored in serialized DAGs."""
        return type(self).__name__

    @property
    def label(self) -> str:
        """The task id without its task-group prefix."""
        group = self.task_group
        group_id = group.group_id if group is not None else None
        if group is not None and group_id and group.prefix_group_id and self.task_id.startswith(group_id + "."):
            return self.task_id[len(group_id) + 1 :]
        return self.task_id

    @property
    def output(self) -> XComArg:
        """This task's return value as an ``XComArg``."""
        from dagflow.sdk.xcom_arg import XComArg

        return XComArg(self)

    # --- setup and teardown ------------------------------------------------------------
    def as_setup(self) -> AbstractOperator:
        """Make this a setup task; returns it (``op = BashOperator(...).as_setup()``)."""
        from dagflow.sdk.setup_teardown import mark_setup

        mark_setup(self)
        return self

    def as_teardown(self, *, setups: Any = None, on_failure_fail_dagrun: bool | None = None) -> AbstractOperator:
        """Make this a teardown of ``setups``; returns it."""
        from dagflow.sdk.setup_teardown import mark_teardown

        mark_teardown(self, setups, on_failure_fail_dagrun)
        return self

    def __enter__(self) -> None:
        from dagflow.sdk.setup_teardown import TeardownScope

        scope = TeardownScope([self])
        self.__dict__.setdefault("_teardown_scopes", []).append(scope)
        scope.__enter__()

    def __exit__(self, exc_type: type[BaseException] | None, *exc: object) -> None:
        self.__dict__["_teardown_scopes"].pop().__exit__(exc_type, *exc)

    def _attach(self, dag: DAG | None, group: TaskGroup | None) -> None:
        self.task_group = group
        if dag is not None:
            self.dag = dag
        if group is not None:
            group.add(self)

    # --- graph ----------------------------------------------------------------------------
    def dependency_roots(self) -> list[AbstractOperator]:
        """A task receives edges itself."""
        return [self]

    def dependency_leaves(self) -> list[AbstractOperator]:
        """A task emits edges itself."""
        return [self]

    def add_edge_to(self, downstream: AbstractOperator) -> None:
        """Record ``self >> downstream`` on both tasks (and give a DAG-less side the other's DAG)."""
        if self._dag is not None and downstream._dag is not None and self._dag is not downstream._dag:
            raise DagDefinitionError(
                f"cannot set a dependency between {self.task_id!r} (DAG {self._dag.dag_id!r}) and "
                f"{downstream.task_id!r} (DAG {downstream._dag.dag_id!r}): they are in different DAGs"
            )
        if self._dag is None and downstream._dag is not None:
            self.dag = downstream._dag
        elif downstream._dag is None and self._dag is not None:
            downstream.dag = self._dag
        self.downstream_task_ids.add(downstream.task_id)
        downstream.upstream_task_ids.add(self.task_id)

    @property
    def upstream_list(self) -> list[AbstractOperator]:
        """The direct upstream tasks (needs a DAG)."""
        return [self._require_dag().task_dict[t] for t in sorted(self.upstream_task_ids)]

    @property
    def downstream_list(self) -> list[AbstractOperator]:
        """The direct downstream tasks (needs a DAG)."""
        return [self._require_dag().task_dict[t] for t in sorted(self.downstream_task_ids)]

    def get_flat_relative_ids(self, *, upstream: bool = False) -> set[str]:
        """Ids of all tasks transitively downstream (or upstream) of this one."""
        dag = self._require_dag()
        found: set[str] = set()
        pending = [self.task_id]
        while pending:
            task = dag.task_dict[pending.pop()]
            for relative in task.upstream_task_ids if upstream else task.downstream_task_ids:
                if relative not in found:
                    found.add(relative)
                    pending.append(relative)
        return found

    def _require_dag(self) -> DAG:
        if self._dag is None:
            raise DagDefinitionError(f"task {self.task_id!r} is not in a DAG")
        return self._dag

    # --- scheduling ----------------------------------------------------------------------
    def get_retry_delay(self, try_number: int) -> timedelta:
        """How long to wait after failed try ``try_number`` (``TryPolicy``: backoff and caps applied)."""
        return TryPolicy.of(self).delay_after(try_number)

    @property
    def priority_weight_total(self) -> int:
        """The effective priority: own weight plus up- or downstream weights per ``weight_rule``."""
        if self.weight_rule == "absolute" or self._dag is None:
            return self.priority_weight
        relatives = self.get_flat_relative_ids(upstream=self.weight_rule == "upstream")
        return self.priority_weight + sum(self._dag.task_dict[t].priority_weight for t in relatives)

    def __repr__(self) -> str:
        return f"<Task({self.task_type}): {self.task_id}>"
