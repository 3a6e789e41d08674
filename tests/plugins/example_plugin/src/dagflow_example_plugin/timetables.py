"""A timetable plugin: ``DAG(schedule="every_two_days")``."""

from __future__ import annotations

from datetime import timedelta
from typing import Any

from dagflow.timetables.delta import DeltaTimetable


class EveryTwoDaysTimetable(DeltaTimetable):
    """A run every two days from the start date."""

    type_name = "every_two_days"

    def __init__(self) -> None:
        super().__init__(timedelta(days=2))

    def serialize(self) -> dict[str, Any]:
        return {"type": self.type_name}

    @classmethod
    def deserialize(cls, data: dict[str, Any]) -> EveryTwoDaysTimetable:
        return cls()

    @property
    def summary(self) -> str:
        return "every two days"
