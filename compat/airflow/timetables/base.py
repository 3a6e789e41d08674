"""``Timetable``, ``DataInterval``, ``DagRunInfo``, ``TimeRestriction``."""

from __future__ import annotations

from dagflow.timetables import DagRunInfo, DataInterval, TimeRestriction, Timetable

__all__ = ["DagRunInfo", "DataInterval", "TimeRestriction", "Timetable"]
