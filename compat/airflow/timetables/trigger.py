"""Trigger timetables: not available."""

from __future__ import annotations

from airflow._compat import unsupported_names

__getattr__ = unsupported_names(
    __name__,
    {
        "CronTriggerTimetable": "CronTriggerTimetable is not available (use a cron string as schedule)",
        "DeltaTriggerTimetable": "DeltaTriggerTimetable is not available (use a timedelta as schedule)",
        "MultipleCronTriggerTimetable": "MultipleCronTriggerTimetable is not available",
    },
)
