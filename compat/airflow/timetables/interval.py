"""Cron and timedelta timetables with data intervals."""

from __future__ import annotations

from dagflow.timetables.cron import CronTimetable as CronDataIntervalTimetable
from dagflow.timetables.delta import DeltaTimetable as DeltaDataIntervalTimetable

__all__ = ["CronDataIntervalTimetable", "DeltaDataIntervalTimetable"]
