"""Timetables: when a DAG runs and which data interval each run covers.

``create_timetable(schedule, timezone)`` maps a DAG's ``schedule`` to a timetable;
``timetable_from_dict`` rebuilds one from ``Timetable.serialize()`` output (what the
scheduler does, with no user code). Semantics follow Apache Airflow 2.x.

Imports only pendulum, croniter, the standard library and ``dagflow.exceptions``:
``import dagflow`` loads this package.
"""

from __future__ import annotations

from dagflow.timetables.base import DagRunInfo, DataInterval, TimeRestriction, Timetable
from dagflow.timetables.cron import CRON_PRESETS, CronTimetable
from dagflow.timetables.delta import DeltaTimetable, parse_iso_duration
from dagflow.timetables.factory import TIMETABLE_TYPES, create_timetable, timetable_from_dict
from dagflow.timetables.interval import DataIntervalTimetable
from dagflow.timetables.simple import AssetTriggeredTimetable, ContinuousTimetable, NullTimetable, OnceTimetable

# Airflow's names, so ported code keeps working.
CronDataIntervalTimetable = CronTimetable
DeltaDataIntervalTimetable = DeltaTimetable

__all__ = [
    "AssetTriggeredTimetable",
    "CRON_PRESETS",
    "TIMETABLE_TYPES",
    "ContinuousTimetable",
    "CronDataIntervalTimetable",
    "CronTimetable",
    "DagRunInfo",
    "DataInterval",
    "DataIntervalTimetable",
    "DeltaDataIntervalTimetable",
    "DeltaTimetable",
    "NullTimetable",
    "OnceTimetable",
    "TimeRestriction",
    "Timetable",
    "create_timetable",
    "parse_iso_duration",
    "timetable_from_dict",
]
