"""DAG <-> JSON: ``serialize_dag``, ``deserialize_dag`` and ``dag_hash``.

The document is ``{"version": 1, "dag": {...}}`` and JSON-safe: durations are seconds,
datetimes ISO-8601 UTC, tasks sorted by id, id sets sorted, so that the same DAG always
serializes to the same text and ``dag_hash`` only changes when the DAG does.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Mapping
from datetime import datetime, timedelta
from typing import Any

import pendulum

from dagflow.exceptions import DagflowError
from dagflow.serialization.from_sdk import from_dag, json_safe
from dagflow.serialization.objects import SerializedDag, SerializedTask, SerializedTaskGroup
from dagflow.state import TriggerRule

FORMAT_VERSION = 1
_DURATIONS = ("retry_delay", "max_retry_delay", "execution_timeout", "sla")
_ID_SETS = ("upstream_task_ids", "downstream_task_ids", "callbacks")
#: Written only when true, so DAGs without setup/teardown tasks keep their documents (and hashes).
_ONLY_WHEN_SET = (
    "is_setup",
    "is_teardown",
    "on_failure_fail_dagrun",
    "max_active_tis_per_dagrun",
    "never_branches",
    "inherits_from_empty_operator",
)


class SerializationError(DagflowError, ValueError):
    """A serialized DAG is malformed or of an unknown format version."""


def serialize_dag(dag: Any) -> dict[str, Any]:
    """The versioned JSON-safe document for an SDK ``DAG`` (or a ``SerializedDag``)."""
    serialized = dag if isinstance(dag, SerializedDag) else from_dag(dag)
    return {"version": FORMAT_VERSION, "dag": _encode_dag(serialized)}


def dag_hash(data: Mapping[str, Any]) -> str:
    """A stable sha256 hex digest of the document's canonical JSON."""
    text = json.dumps(data, sort_keys=True, separators=(",", ":"), ensure_ascii=True)
    return hashlib.sha256(text.encode("utf-8")).hexdigest()


def deserialize_dag(data: Mapping[str, Any]) -> SerializedDag:
    """Rebuild the ``SerializedDag`` from :func:`serialize_dag` output."""
    version = data.get("version") if isinstance(data, Mapping) else None
    if version != FORMAT_VERSION or not isinstance(data.get("dag"), Mapping):
        raise SerializationError(f"unsupported serialized DAG (version {version!r}, expected {FORMAT_VERSION})")
    try:
        return _decode_dag(data["dag"])
    except (KeyError, TypeError, ValueError) as exc:
        raise SerializationError(f"malformed serialized DAG: {exc}") from exc


# --- encoding ---------------------------------------------------------------------------
def _encode_dag(dag: SerializedDag) -> dict[str, Any]:
    encoded = {
        "dag_id": dag.dag_id,
        "fileloc": dag.fileloc,
        "schedule": dag.schedule,
        "timetable": json_safe(dag.timetable),
        "timezone": dag.timezone,
        "start_date": _iso(dag.start_date),
        "end_date": _iso(dag.end_date),
        "catchup": dag.catchup,
        "max_active_runs": dag.max_active_runs,
        "max_active_tasks": dag.max_active_tasks,
        "dagrun_timeout": _seconds(dag.dagrun_timeout),
        "tags": list(dag.tags),
        "description": dag.description,
        "doc_md": dag.doc_md,
        "owner": dag.owner,
        "is_paused_upon_creation": dag.is_paused_upon_creation,
        "render_template_as_native_obj": dag.render_template_as_native_obj,
        "params": json_safe(dag.params),
        "callbacks": sorted(dag.callbacks),
        "task_group": _encode_group(dag.task_group),
        "assets": json_safe(dag.assets),
        "tasks": [_encode_task(dag.tasks[tid]) for tid in sorted(dag.tasks)],
    }
    if dag.access_control is not None:  # only when set, so the hashes of other DAGs stay as they were
        encoded["access_control"] = {role: sorted(actions) for role, actions in dag.access_control.items()}
    return encoded


def _encode_task(task: SerializedTask) -> dict[str, Any]:
    out: dict[str, Any] = {}
    for name in SerializedTask.__dataclass_fields__:
        value = getattr(task, name)
        if name in _ONLY_WHEN_SET and not value:
            continue
        if name in _DURATIONS:
            value = _seconds(value)
        elif name in _ID_SETS:
            value = sorted(value)
        elif name == "trigger_rule":
            value = TriggerRule(value).value
        out[name] = json_safe(value)
    return out


def _encode_group(group: SerializedTaskGroup | None) -> dict[str, Any] | None:
    if group is None:
        return None
    encoded: dict[str, Any] = {
        "group_id": group.group_id,
        "tooltip": group.tooltip,
        "ui_color": group.ui_color,
        "children": [_encode_group(child) for child in group.children],
        "task_ids": list(group.task_ids),
    }
    # only when set, so the hashes of DAGs without flow groups stay as they were
    if group.max_active_tasks is not None:
        encoded["max_active_tasks"] = group.max_active_tasks
    if group.sequential:
        encoded["sequential"] = True
    return encoded


# --- decoding ---------------------------------------------------------------------------
def _decode_dag(d: Mapping[str, Any]) -> SerializedDag:
    tasks = {t["task_id"]: _decode_task(t) for t in d["tasks"]}
    return SerializedDag(
        dag_id=d["dag_id"],
        tasks=tasks,
        fileloc=d.get("fileloc"),
        schedule=d.get("schedule"),
        timetable=d.get("timetable"),
        timezone=d.get("timezone") or "UTC",
        start_date=_datetime(d.get("start_date")),
        end_date=_datetime(d.get("end_date")),
        catchup=bool(d.get("catchup", False)),
        max_active_runs=int(d.get("max_active_runs", 16)),
        max_active_tasks=int(d.get("max_active_tasks", 16)),
        dagrun_timeout=_timedelta(d.get("dagrun_timeout")),
        tags=tuple(d.get("tags") or ()),
        description=d.get("description"),
        doc_md=d.get("doc_md"),
        owner=d.get("owner"),
        is_paused_upon_creation=d.get("is_paused_upon_creation"),
        render_template_as_native_obj=bool(d.get("render_template_as_native_obj", False)),
        params=dict(d.get("params") or {}),
        callbacks=frozenset(d.get("callbacks") or ()),
        task_group=_decode_group(d.get("task_group")),
        access_control=d.get("access_control"),
        assets=dict(d.get("assets") or {}),
    )


def _decode_task(t: Mapping[str, Any]) -> SerializedTask:
    known = SerializedTask.__dataclass_fields__
    values: dict[str, Any] = {k: v for k, v in t.items() if k in known}
    for name in _DURATIONS:
        if name in values:
            values[name] = _timedelta(values[name])
    for name in _ID_SETS:
        values[name] = frozenset(values.get(name) or ())
    values["trigger_rule"] = TriggerRule(values.get("trigger_rule", "all_success"))
    values["template_fields"] = tuple(values.get("template_fields") or ())
    values["outlets"] = tuple(values.get("outlets") or ())
    values["inlets"] = tuple(values.get("inlets") or ())
    values["expand_input"] = dict(values.get("expand_input") or {})
    if values.get("retry_delay") is None:
        values["retry_delay"] = timedelta(seconds=300)
    return SerializedTask(**values)


def _decode_group(g: Mapping[str, Any] | None) -> SerializedTaskGroup | None:
    if g is None:
        return None
    return SerializedTaskGroup(
        group_id=g.get("group_id"),
        tooltip=g.get("tooltip"),
        ui_color=g.get("ui_color"),
        children=tuple(_decode_group(c) for c in g.get("children") or ()),  # type: ignore[misc]
        task_ids=tuple(g.get("task_ids") or ()),
        max_active_tasks=None if g.get("max_active_tasks") is None else int(g["max_active_tasks"]),
        sequential=bool(g.get("sequential", False)),
    )


# --- values -----------------------------------------------------------------------------
def _iso(value: datetime | None) -> str | None:
    return None if value is None else json_safe(value)


def _seconds(value: timedelta | None) -> float | None:
    return None if value is None else value.total_seconds()


def _datetime(value: str | None) -> datetime | None:
    return None if value is None else pendulum.instance(datetime.fromisoformat(value)).in_timezone("UTC")


def _timedelta(value: float | None) -> timedelta | None:
    return None if value is None else timedelta(seconds=value)
