"""Read an SDK ``DAG`` (user objects) into a plain ``SerializedDag`` (no user code).

Only attributes are read (per docs/internals.md §1); nothing the user wrote is called,
except ``MappedOperator.expand_input_spec()`` and the timetable's ``serialize()``.
Callables become "has callback" names; params keep their schema, default and description.
"""

from __future__ import annotations

from collections.abc import Mapping
from datetime import UTC, date, datetime, timedelta
from typing import Any

from dagflow.serialization.objects import SerializedDag, SerializedTask, SerializedTaskGroup
from dagflow.state import TriggerRule

TASK_CALLBACKS = (
    "on_execute_callback", "on_success_callback", "on_failure_callback",
    "on_retry_callback", "on_skipped_callback",
)  # fmt: skip
DAG_CALLBACKS = ("sla_miss_callback", "on_success_callback", "on_failure_callback")


def from_dag(dag: Any) -> SerializedDag:
    """The ``SerializedDag`` for an SDK ``DAG``."""
    return SerializedDag(
        dag_id=dag.dag_id,
        tasks={task.task_id: task_from_operator(task) for task in dag.task_dict.values()},
        fileloc=getattr(dag, "fileloc", None) or None,
        schedule="Asset"
        if getattr(dag, "asset_condition", None) is not None
        else schedule_text(getattr(dag, "schedule", None)),
        timetable=timetable_data(dag),
        timezone=timezone_name(getattr(dag, "timezone", None)),
        start_date=as_utc(getattr(dag, "start_date", None)),
        end_date=as_utc(getattr(dag, "end_date", None)),
        catchup=bool(getattr(dag, "catchup", False)),
        max_active_runs=int(getattr(dag, "max_active_runs", 16)),
        max_active_tasks=int(getattr(dag, "max_active_tasks", 16)),
        dagrun_timeout=getattr(dag, "dagrun_timeout", None),
        tags=tuple(str(t) for t in getattr(dag, "tags", ()) or ()),
        description=getattr(dag, "description", None),
        doc_md=getattr(dag, "doc_md", None),
        owner=getattr(dag, "owner", None),
        is_paused_upon_creation=getattr(dag, "is_paused_upon_creation", None),
        render_template_as_native_obj=bool(getattr(dag, "render_template_as_native_obj", False)),
        params=params_data(getattr(dag, "params", None)),
        callbacks=_callback_names(dag, DAG_CALLBACKS),
        task_group=group_from_sdk(getattr(dag, "task_group", None)),
        access_control=getattr(dag, "access_control", None),
        assets=assets_data(dag),
    )


def assets_data(dag: Any) -> dict[str, dict[str, Any]]:
    """``uri -> {"name", "group", "extra"}`` of every asset the DAG's schedule and tasks name."""
    found: list[Any] = []
    condition = getattr(dag, "asset_condition", None)
    if condition is not None:
        found.extend(condition.iter_assets())
    for task in dag.task_dict.values():
        for name in ("outlets", "inlets"):
            assets = getattr(task, name, None)
            if assets is None and getattr(task, "is_mapped", False):
                assets = getattr(task, "partial_kwargs", {}).get(name)
            if assets is not None:
                found.extend([assets] if hasattr(assets, "uri") else assets)
    return {
        str(a.uri): {"name": str(a.name), "group": str(a.group), "extra": json_safe(dict(a.extra))}
        for a in found
        if hasattr(a, "uri")
    }


def task_from_operator(task: Any) -> SerializedTask:
    """The ``SerializedTask`` for an operator or mapped operator."""
    is_mapped = bool(getattr(task, "is_mapped", False))
    cls = getattr(task, "operator_class", None) if is_mapped else None
    mapped_group = _mapped_group_of(task)
    cls = cls if isinstance(cls, type) else type(task)
    group = getattr(task, "task_group", None)
    return SerializedTask(
        task_id=task.task_id,
        task_type=str(getattr(task, "task_type", cls.__name__)),
        operator_module=f"{cls.__module__}.{cls.__qualname__}",
        upstream_task_ids=frozenset(task.upstream_task_ids),
        downstream_task_ids=frozenset(task.downstream_task_ids),
        trigger_rule=TriggerRule(getattr(task, "trigger_rule", TriggerRule.ALL_SUCCESS)),
        **_scheduling_fields(task),
        is_mapped=is_mapped or mapped_group is not None,
        is_sensor=bool(getattr(task, "is_sensor", False)),
        never_branches=bool(cls.__dict__.get("never_branches", False)),  # not inherited: a subclass may branch
        inherits_from_empty_operator=bool(getattr(cls, "inherits_from_empty_operator", False)),  # inherited, as Airflow
        expand_input=task.expand_input_spec()
        if is_mapped
        else mapped_group.expand_input_spec()
        if mapped_group
        else {},
        template_fields=tuple(getattr(task, "template_fields", ()) or ()),
        doc_md=getattr(task, "doc_md", None),
        description=getattr(task, "description", None),
        task_group_id=getattr(group, "group_id", None),
        ui_color=getattr(task, "ui_color", None),
        do_xcom_push=bool(getattr(task, "do_xcom_push", True)),
        callbacks=_callback_names(task, TASK_CALLBACKS),
        outlets=_asset_uris(task, "outlets"),
        inlets=_asset_uris(task, "inlets"),
    )


def _asset_uris(task: Any, name: str) -> tuple[str, ...]:
    """The URIs of a task's ``outlets``/``inlets`` (a mapped task's come from its partial arguments)."""
    assets = getattr(task, name, None)
    if assets is None and getattr(task, "is_mapped", False):
        assets = getattr(task, "partial_kwargs", {}).get(name)
    if assets is None:
        return ()
    if hasattr(assets, "uri"):
        assets = [assets]
    return tuple(dict.fromkeys(str(asset.uri) for asset in assets if hasattr(asset, "uri")))


def _mapped_group_of(task: Any) -> Any:
    """The mapped task group ``task`` is in (its tasks are mapped over the group's input), or None."""
    group = getattr(task, "task_group", None)
    while group is not None:
        if hasattr(group, "expand_input_spec"):
            return group
        group = getattr(group, "parent_group", None)
    return None


def _scheduling_fields(task: Any) -> dict[str, Any]:
    def get(name: str, default: Any) -> Any:
        value = getattr(task, name, default)
        return default if value is None and default is not None else value

    return {
        "owner": str(get("owner", "dagflow")),
        "retries": int(get("retries", 0)),
        "retry_delay": get("retry_delay", timedelta(seconds=300)),
        "retry_exponential_backoff": bool(get("retry_exponential_backoff", False)),
        "max_retry_delay": get("max_retry_delay", None),
        "execution_timeout": get("execution_timeout", None),
        "sla": get("sla", None),
        "pool": str(get("pool", "default_pool")),
        "pool_slots": int(get("pool_slots", 1)),
        "queue": str(get("queue", "default")),
        "priority_weight": int(get("priority_weight", 1)),
        "weight_rule": str(get("weight_rule", "downstream")),
        "max_active_tis_per_dag": get("max_active_tis_per_dag", None),
        "max_active_tis_per_dagrun": get("max_active_tis_per_dagrun", None),
        "depends_on_past": bool(get("depends_on_past", False)),
        "wait_for_downstream": bool(get("wait_for_downstream", False)),
        "disabled": bool(get("disabled", False)),
        "allow_failure": bool(get("allow_failure", False)),
        "log_level": get("log_level", None),
        "is_setup": bool(get("is_setup", False)),
        "is_teardown": bool(get("is_teardown", False)),
        "on_failure_fail_dagrun": bool(get("on_failure_fail_dagrun", False)),
    }


def group_from_sdk(group: Any) -> SerializedTaskGroup | None:
    """The task-group tree below ``group`` (children in definition order)."""
    if group is None:
        return None
    children: list[SerializedTaskGroup] = []
    task_ids: list[str] = []
    for child in getattr(group, "children", {}).values():
        if hasattr(child, "children") and not hasattr(child, "task_id"):
            children.append(group_from_sdk(child))  # type: ignore[arg-type]
        else:
            task_ids.append(child.task_id)
    return SerializedTaskGroup(
        group_id=getattr(group, "group_id", None),
        tooltip=getattr(group, "tooltip", None) or None,
        ui_color=getattr(group, "ui_color", None),
        children=tuple(children),
        task_ids=tuple(task_ids),
        max_active_tasks=getattr(group, "max_active_tasks", None),
        sequential=bool(getattr(group, "sequential", False)),
    )


def params_data(params: Any) -> dict[str, dict[str, Any]]:
    """Each param as ``{"default", "description", "schema"}`` (JSON-safe); see ``param_data``."""
    if params is None:
        return {}
    if hasattr(params, "items_params"):
        return {name: param_data(param) for name, param in params.items_params()}
    return {name: {"default": json_safe(v), "description": None, "schema": {}} for name, v in dict(params).items()}


def param_data(param: Any) -> dict[str, Any]:
    """One ``Param``: its JSON schema whole, and ``"default"`` only when it has one (else a run must set it)."""
    data: dict[str, Any] = {}
    if param.has_value:
        data["default"] = json_safe(param.value)
    data["description"] = param.description
    data["schema"] = json_safe(param.schema or {})
    return data


def schedule_text(schedule: Any) -> str | None:
    """The schedule as text: cron/preset/ISO string as given, a timedelta as ISO-8601."""
    if schedule is None or isinstance(schedule, str):
        return schedule
    if isinstance(schedule, timedelta):
        seconds = schedule.total_seconds()
        return f"PT{int(seconds) if seconds.is_integer() else seconds}S"
    summary = getattr(schedule, "summary", None)
    return str(summary) if summary is not None else repr(schedule)


def timetable_data(dag: Any) -> dict[str, Any] | None:
    """``timetable.serialize()`` plus its ``summary``; None if there is no timetable module."""
    try:
        timetable = dag.timetable
    except ImportError:
        return None
    if timetable is None or not hasattr(timetable, "serialize"):
        return None
    data: dict[str, Any] = json_safe(dict(timetable.serialize()))
    data["summary"] = str(getattr(timetable, "summary", ""))
    return data


def timezone_name(tz: Any) -> str:
    """A timezone's IANA name (``UTC`` when unset)."""
    if tz is None:
        return "UTC"
    return str(getattr(tz, "name", None) or tz)


def as_utc(value: datetime | None) -> datetime | None:
    """An aware datetime in UTC (naive values are taken as UTC)."""
    if value is None:
        return None
    if value.tzinfo is None:
        return value.replace(tzinfo=UTC)
    return value.astimezone(UTC)


def json_safe(value: Any) -> Any:
    """A JSON-safe copy: datetimes ISO, durations seconds, sets sorted, others ``repr``."""
    if value is None or isinstance(value, (bool, int, float, str)):
        return value
    if isinstance(value, Mapping):
        return {str(k): json_safe(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [json_safe(v) for v in value]
    if isinstance(value, (set, frozenset)):
        return sorted((json_safe(v) for v in value), key=repr)
    if isinstance(value, datetime):
        return as_utc(value).isoformat()  # type: ignore[union-attr]
    if isinstance(value, date):
        return value.isoformat()
    if isinstance(value, timedelta):
        return value.total_seconds()
    return repr(value)


def _callback_names(obj: Any, names: tuple[str, ...]) -> frozenset[str]:
    return frozenset(name for name in names if getattr(obj, name, None))
