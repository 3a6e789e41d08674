"""``NullTimetable``, ``OnceTimetable``, ``ContinuousTimetable``."""

from __future__ import annotations

from dagflow.timetables.simple import ContinuousTimetable, NullTimetable, OnceTimetable

__all__ = ["ContinuousTimetable", "NullTimetable", "OnceTimetable"]

from airflow._compat import unsupported_names

__getattr__ = unsupported_names(
    __name__,
    {
        "AssetTriggeredTimetable": "assets and data-aware scheduling are not available in dagflow's Airflow layer yet",
        "DatasetTriggeredTimetable": "assets and data-aware scheduling are not available in dagflow's Airflow layer yet",
    },
)
