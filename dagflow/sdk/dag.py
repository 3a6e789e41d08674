"""``DAG``: a set of tasks with dependencies, a schedule and run-level settings."""

from __future__ import annotations

import os
import sys
from collections.abc import Callable, Iterable, Mapping, Sequence
from datetime import datetime, timedelta
from typing import TYPE_CHECKING, Any, ClassVar

import jinja2
import pendulum

from dagflow.exceptions import DagCycleError, DagDefinitionError, DuplicateTaskIdFound, TaskNotFound
from dagflow.sdk import contexts
from dagflow.sdk.abstractoperator import DEFAULT_OWNER, AbstractOperator
from dagflow.sdk.assets import BaseAsset, asset_condition
from dagflow.sdk.durations import to_timedelta
from dagflow.sdk.ids import validate_key
from dagflow.sdk.params import ParamsDict
from dagflow.sdk.taskgroup import TaskGroup
from dagflow.sdk.templating import create_template_env
from dagflow.sdk.timezone import default_timezone

if TYPE_CHECKING:
    from pendulum import DateTime
    from pendulum.tz.timezone import FixedTimezone, Timezone

    from dagflow.timetables import Timetable

_SDK_DIR = os.path.dirname(os.path.abspath(__file__))
DagCallback = Callable[[Mapping[str, Any]], Any]


def caller_file() -> str:
    """The file of the first stack frame outside ``dagflow/sdk`` (where a DAG is defined)."""
    frame = sys._getframe(1)
    while frame is not None and os.path.dirname(os.path.abspath(frame.f_code.co_filename)).startswith(_SDK_DIR):
        frame = frame.f_back  # type: ignore[assignment]
    return os.path.abspath(frame.f_code.co_filename) if frame is not None else ""


def to_utc(value: datetime | None, tz: Timezone | FixedTimezone | None = None) -> DateTime | None:
    """An aware pendulum datetime in UTC; a naive value is read in ``tz`` (default: ``core.default_timezone``)."""
    if value is None:
        return None
    if not isinstance(value, datetime):
        raise DagDefinitionError(f"expected a datetime, got {value!r}")
    if value.tzinfo is None:
        value = pendulum.instance(value, tz=tz if tz is not None else default_timezone())
    return pendulum.instance(value).in_timezone("UTC")


def _dag_timezone(start_date: datetime | None) -> Timezone | FixedTimezone:
    """The start_date's own zone when it is aware, else ``core.default_timezone`` (as in Airflow)."""
    if start_date is not None and start_date.tzinfo is not None:
        tz = pendulum.instance(start_date).timezone
        if tz is not None:
            return tz
    return default_timezone()


#: The per-DAG actions ``access_control`` may grant a role (Airflow's DAG-level actions).
DAG_ACTIONS = ("can_read", "can_edit", "can_delete")
_LEGACY_ACTIONS = {"can_dag_read": "can_read", "can_dag_edit": "can_edit"}


def normalize_access_control(dag_id: str, value: Mapping[str, Any] | None) -> dict[str, list[str]] | None:
    """``{role: actions}`` (Airflow's forms: a set of actions, or ``{"DAGs": actions, "DAG Runs": ...}``) as sorted lists."""
    if value is None:
        return None
    if not isinstance(value, Mapping):
        raise DagDefinitionError(f"DAG {dag_id!r}: access_control must be a dict of role -> actions")
    result: dict[str, list[str]] = {}
    for role, actions in value.items():
        if isinstance(actions, Mapping):
            actions = [a for group in actions.values() for a in (group or ())]
        if isinstance(actions, str) or not isinstance(actions, Iterable):
            raise DagDefinitionError(f"DAG {dag_id!r}: access_control[{role!r}] must be a set of actions")
        names = {_LEGACY_ACTIONS.get(str(a), str(a)) for a in actions}
        unknown = sorted(names - set(DAG_ACTIONS))
        if unknown:
            raise DagDefinitionError(
                f"DAG {dag_id!r}: unknown access_control action {unknown[0]!r} (use {', '.join(DAG_ACTIONS)})"
            )
        result[str(role)] = sorted(names)
    return result


class DAG:
    """A workflow: tasks, their dependencies, a schedule; also a ``with`` block."""

    #: Called with every new DAG; the DAG-file loader uses it to find DAGs that were
    #: built in a ``with DAG(...)`` block without being assigned to a name.
    _creation_listeners: ClassVar[list[Callable[[DAG], None]]] = []

    def __init__(
        self,
        dag_id: str,
        description: str | None = None,
        *,
        schedule: Any = None,
        schedule_interval: Any = None,
        start_date: datetime | None = None,
        end_date: datetime | None = None,
        catchup: bool = False,
        default_args: Mapping[str, Any] | None = None,
        params: Mapping[str, Any] | None = None,
        max_active_runs: int = 16,
        max_active_tasks: int = 16,
        dagrun_timeout: timedelta | float | str | None = None,
        tags: Iterable[str] = (),
        doc_md: str | None = None,
        sla_miss_callback: DagCallback | None = None,
        on_success_callback: DagCallback | Sequence[DagCallback] | None = None,
        on_failure_callback: DagCallback | Sequence[DagCallback] | None = None,
        user_defined_macros: Mapping[str, Any] | None = None,
        user_defined_filters: Mapping[str, Any] | None = None,
        template_searchpath: str | Iterable[str] | None = None,
        template_undefined: type[jinja2.Undefined] = jinja2.StrictUndefined,
        render_template_as_native_obj: bool = False,
        is_paused_upon_creation: bool | None = None,
        owner_links: Mapping[str, str] | None = None,
        access_control: Mapping[str, Any] | None = None,
        dag_display_name: str | None = None,
        timetable: Any = None,
        default_view: str | None = None,
        orientation: str | None = None,
    ) -> None:
        self.dag_id = validate_key("dag_id", dag_id)
        self.fileloc = caller_file()
        self.default_args = dict(default_args or {})
        given = [value for value in (schedule, schedule_interval, timetable) if value is not None]
        if len(given) > 1:
            raise DagDefinitionError(f"DAG {dag_id!r}: pass one of schedule, schedule_interval or timetable")
        self.schedule = given[0] if given else None
        #: Airflow 2's UI hints (the graph or grid view first, the graph's direction); kept, not used.
        self.default_view = default_view
        self.orientation = orientation
        #: The asset condition when scheduled on assets (``schedule=[a, b]`` or ``a | b``), else None.
        self.asset_condition: BaseAsset | None = asset_condition(self.schedule)
        start_date = start_date if start_date is not None else self.default_args.get("start_date")
        end_date = end_date if end_date is not None else self.default_args.get("end_date")
        self.timezone = _dag_timezone(start_date)
        self.start_date = to_utc(start_date)
        self.end_date = to_utc(end_date)
        self.catchup = bool(catchup)
        self.params = ParamsDict(self.default_args.get("params"))
        self.params.update(params or {})
        self.max_active_runs = max_active_runs
        self.max_active_tasks = max_active_tasks
        self.dagrun_timeout = to_timedelta(dagrun_timeout)
        self.tags = list(tags or ())
        self.description = description
        self.doc_md = doc_md
        self.sla_miss_callback = sla_miss_callback
        self.on_success_callback = on_success_callback
        self.on_failure_callback = on_failure_callback
        self.user_defined_macros = dict(user_defined_macros or {})
        self.user_defined_filters = dict(user_defined_filters or {})
        if isinstance(template_searchpath, str):
            template_searchpath = [template_searchpath]
        self.template_searchpath = list(template_searchpath or [])
        self.template_undefined = template_undefined
        self.render_template_as_native_obj = render_template_as_native_obj
        self.is_paused_upon_creation = is_paused_upon_creation
        self.owner_links = dict(owner_links or {})
        self.access_control = normalize_access_control(dag_id, access_control)
        self._dag_display_name = dag_display_name
        self.task_dict: dict[str, AbstractOperator] = {}
        self.edge_info: dict[str, dict[str, dict[str, str]]] = {}
        self.task_group = TaskGroup.create_root(self)
        self._timetable: Timetable | None = None
        self._validate_schedule()
        for listener in tuple(DAG._creation_listeners):
            listener(self)

    # --- context manager -----------------------------------------------------------------
    def __enter__(self) -> DAG:
        contexts.push_dag(self)
        return self

    def __exit__(self, exc_type: type[BaseException] | None, *exc: object) -> None:
        contexts.pop_dag()
        if exc_type is None:
            self.check_cycle()

    # --- tasks ---------------------------------------------------------------------------
    def add_task(self, task: AbstractOperator) -> None:
        """Register ``task``; a second task with the same id raises ``DuplicateTaskIdFound``."""
        existing = self.task_dict.get(task.task_id)
        if existing is task:
            return
        if existing is not None or task.task_id in self.task_group_dict:
            raise DuplicateTaskIdFound(f"task id {task.task_id!r} has already been added to DAG {self.dag_id!r}")
        self.task_dict[task.task_id] = task
        if task.task_group is None:
            task.task_group = self.task_group
            self.task_group.add(task)

    def add_tasks(self, tasks: Iterable[AbstractOperator]) -> None:
        """Register several tasks."""
        for task in tasks:
            task.dag = self

    def set_edge_info(self, upstream_task_id: str, downstream_task_id: str, info: Mapping[str, str]) -> None:
        """Attach ``info`` (e.g. ``{"label": ...}``) to the edge upstream → downstream."""
        self.edge_info.setdefault(upstream_task_id, {})[downstream_task_id] = dict(info)

    def get_edge_info(self, upstream_task_id: str, downstream_task_id: str) -> dict[str, str]:
        """The info of the edge upstream → downstream (empty when none)."""
        return self.edge_info.get(upstream_task_id, {}).get(downstream_task_id, {})

    @property
    def tasks(self) -> list[AbstractOperator]:
        """All tasks, in the order they were added."""
        return list(self.task_dict.values())

    @property
    def task_ids(self) -> list[str]:
        """All task ids, in the order they were added."""
        return list(self.task_dict)

    @property
    def task_count(self) -> int:
        """The number of tasks."""
        return len(self.task_dict)

    def has_task(self, task_id: str) -> bool:
        """True if the DAG has a task with that id."""
        return task_id in self.task_dict

    def get_task(self, task_id: str) -> AbstractOperator:
        """The task with that id; raises ``TaskNotFound``."""
        try:
            return self.task_dict[task_id]
        except KeyError:
            raise TaskNotFound(f"task {task_id!r} not found in DAG {self.dag_id!r}") from None

    @property
    def task_group_dict(self) -> dict[str, TaskGroup]:
        """Every (non-root) task group by full id."""
        return self.task_group.get_task_group_dict()

    @property
    def roots(self) -> list[AbstractOperator]:
        """Tasks with no upstream."""
        return [t for t in self.task_dict.values() if not t.upstream_task_ids]

    @property
    def leaves(self) -> list[AbstractOperator]:
        """Tasks with no downstream."""
        return [t for t in self.task_dict.values() if not t.downstream_task_ids]

    @property
    def owner(self) -> str:
        """The owners of the DAG's tasks, comma separated."""
        owners = sorted({getattr(t, "owner", DEFAULT_OWNER) for t in self.task_dict.values()})
        return ", ".join(owners) if owners else self.default_args.get("owner", DEFAULT_OWNER)

    @property
    def dag_display_name(self) -> str:
        """The name shown for the DAG (Airflow's ``dag_display_name``; the dag id when not given)."""
        return self._dag_display_name or self.dag_id

    @property
    def folder(self) -> str:
        """The folder of the DAG file."""
        return os.path.dirname(self.fileloc)

    # --- graph checks --------------------------------------------------------------------
    def check_cycle(self) -> None:
        """Raise ``DagCycleError`` naming the cycle (``a -> b -> a``) if the tasks form one."""
        white, grey, black = 0, 1, 2
        color = dict.fromkeys(self.task_dict, white)
        for start in self.task_dict:
            if color[start] != white:
                continue
            color[start] = grey
            path = [start]
            stack = [iter(sorted(self._downstream_ids(start)))]
            while stack:
                child = next(stack[-1], None)
                if child is None:
                    color[path.pop()] = black
                    stack.pop()
                elif color.get(child, black) == grey:
                    cycle = path[path.index(child) :] + [child]
                    raise DagCycleError(f"cycle in DAG {self.dag_id!r}: {' -> '.join(cycle)}")
                elif color.get(child) == white:
                    color[child] = grey
                    path.append(child)
                    stack.append(iter(sorted(self._downstream_ids(child))))

    def _downstream_ids(self, task_id: str) -> set[str]:
        return self.task_dict[task_id].downstream_task_ids

    def topological_sort(self) -> list[AbstractOperator]:
        """Tasks ordered so every task comes after its upstream tasks (stable by insertion)."""
        self.check_cycle()
        indegree = {tid: len(t.upstream_task_ids & self.task_dict.keys()) for tid, t in self.task_dict.items()}
        order_index = {tid: i for i, tid in enumerate(self.task_dict)}
        ready = [tid for tid, n in indegree.items() if n == 0]
        result: list[AbstractOperator] = []
        while ready:
            ready.sort(key=order_index.__getitem__, reverse=True)
            tid = ready.pop()
            result.append(self.task_dict[tid])
            for child in self.task_dict[tid].downstream_task_ids:
                indegree[child] -= 1
                if indegree[child] == 0:
                    ready.append(child)
        return result

    # --- running ---------------------------------------------------------------------------
    def test(
        self,
        logical_date: datetime | None = None,
        run_conf: Mapping[str, Any] | None = None,
        **unsupported: Any,
    ) -> Any:
        """Run this DAG once in this process, as ``dagflow dags test`` does (Airflow's ``dag.test()``).

        Uses the configured ``DAGFLOW_HOME`` (its database, variables and connections) and
        returns the run's report (``.state``, ``.task_states``).
        """
        import importlib

        given = sorted(name for name, value in unsupported.items() if value not in (None, False))
        if given:
            raise DagDefinitionError(f"dag.test() does not support {', '.join(given)} in dagflow")
        # The SDK sits below the database layer: the runner is found at call time, not imported.
        config = importlib.import_module("dagflow.config")
        testing = importlib.import_module("dagflow.testing")
        settings = config.load_settings()
        return testing.run_dag(self, settings=settings, logical_date=logical_date, conf=run_conf)

    # --- templating and schedule ---------------------------------------------------------
    def get_template_env(self) -> jinja2.Environment:
        """A sandboxed Jinja environment (native when ``render_template_as_native_obj``).

        Built once per DAG object: a warm worker builds it before forking a try, so a
        task process does not build it again.
        """
        env = self.__dict__.get("_template_env")
        if env is None:
            searchpath = [self.folder] if self.fileloc else []
            env = create_template_env(
                native=self.render_template_as_native_obj,
                searchpath=searchpath + self.template_searchpath,
                user_defined_macros=self.user_defined_macros,
                user_defined_filters=self.user_defined_filters,
                undefined=self.template_undefined,
            )
            self.__dict__["_template_env"] = env
        return env

    @property
    def timetable(self) -> Timetable:
        """The schedule as a timetable (built on first use by ``dagflow.timetables``)."""
        if self._timetable is None:
            from dagflow.timetables import AssetTriggeredTimetable, create_timetable

            if self.asset_condition is not None:
                self._timetable = AssetTriggeredTimetable(self.asset_condition.as_expression())
            else:
                self._timetable = create_timetable(self.schedule, self.timezone)
        return self._timetable

    def _validate_schedule(self) -> None:
        """Build the timetable now, so a bad schedule fails when the DAG file is parsed."""
        try:
            _ = self.timetable
        except ImportError:  # timetables not installed: checked again on first use
            self._timetable = None

    def __repr__(self) -> str:
        return f"<DAG: {self.dag_id}>"
