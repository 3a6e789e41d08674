"""Build a timetable from a DAG's ``schedule`` value, or from its serialized form."""

from __future__ import annotations

from datetime import timedelta
from typing import Any

from dagflow.exceptions import DagDefinitionError
from dagflow.plugins import TIMETABLES_GROUP, load_all
from dagflow.plugins import load as load_plugin
from dagflow.plugins import names as plugin_names
from dagflow.timetables.base import Timetable
from dagflow.timetables.cron import CRON_PRESETS, CronTimetable
from dagflow.timetables.delta import DeltaTimetable
from dagflow.timetables.simple import AssetTriggeredTimetable, ContinuousTimetable, NullTimetable, OnceTimetable
from dagflow.timetables.timezones import TimezoneLike, resolve_timezone

ScheduleArg = str | timedelta | Timetable | None

#: Serialized ``type`` -> class; the scheduler rebuilds timetables without user code.
TIMETABLE_TYPES: dict[str, type[Timetable]] = {
    cls.type_name: cls
    for cls in (
        NullTimetable,
        OnceTimetable,
        ContinuousTimetable,
        CronTimetable,
        DeltaTimetable,
        AssetTriggeredTimetable,
    )
}

_NON_CRON_PRESETS = {"@once": OnceTimetable, "@continuous": ContinuousTimetable}


def create_timetable(schedule: ScheduleArg, timezone: TimezoneLike = "UTC") -> Timetable:
    """Map a DAG's ``schedule`` (None, cron, preset, timedelta, ISO duration, Timetable)."""
    if schedule is None:
        return NullTimetable()
    if isinstance(schedule, Timetable):
        return schedule
    if isinstance(schedule, timedelta):
        return DeltaTimetable(schedule)
    if isinstance(schedule, str):
        return _from_string(schedule.strip(), timezone)
    raise DagDefinitionError(
        f"invalid schedule {schedule!r}: expected None, a cron string, a preset, "
        "a timedelta, an ISO-8601 duration or a Timetable"
    )


def _from_string(text: str, timezone: TimezoneLike) -> Timetable:
    """A timetable for a schedule string (an installed timetable plugin's name first)."""
    if text in plugin_names(TIMETABLES_GROUP):
        return _plugin_timetable(text)
    if text in _NON_CRON_PRESETS:
        return _NON_CRON_PRESETS[text]()
    if text.startswith("@") and text not in CRON_PRESETS:
        presets = ", ".join([*_NON_CRON_PRESETS, *CRON_PRESETS])
        raise DagDefinitionError(f"invalid schedule {text!r}: unknown preset (known: {presets})")
    if text[:1] in ("P", "p") and " " not in text:
        return DeltaTimetable(text)
    if text not in CRON_PRESETS and len(text.split()) != 5:
        raise DagDefinitionError(
            f"invalid schedule {text!r}: not a 5-field cron expression, a preset "
            "such as @daily, or an ISO-8601 duration such as PT30M"
        )
    return CronTimetable(text, resolve_timezone(timezone))


def timetable_from_dict(data: dict[str, Any]) -> Timetable:
    """Rebuild a timetable from :meth:`Timetable.serialize` output."""
    kind = data.get("type") if isinstance(data, dict) else None
    cls = TIMETABLE_TYPES.get(kind) if isinstance(kind, str) else None
    if cls is None and isinstance(kind, str) and kind:
        cls = _plugin_class(kind)
    if cls is None:
        raise DagDefinitionError(f"cannot rebuild timetable from {data!r}: unknown type {kind!r}")
    return cls.deserialize(data)


def _plugin_timetable(name: str) -> Timetable:
    """The timetable plugin ``name`` built with no arguments."""
    cls = load_plugin(TIMETABLES_GROUP, name)
    timetable = cls() if isinstance(cls, type) else cls
    if not isinstance(timetable, Timetable):
        raise DagDefinitionError(f"timetable plugin {name!r} is not a Timetable: {timetable!r}")
    return timetable


def _plugin_class(kind: str) -> type[Timetable] | None:
    """The plugin timetable class serialized as ``kind``: the entry point of that name, or one
    whose ``type_name`` is ``kind``."""
    for name, cls in load_all(TIMETABLES_GROUP).items():
        if isinstance(cls, type) and issubclass(cls, Timetable) and kind in (name, cls.type_name):
            return cls
    return None
