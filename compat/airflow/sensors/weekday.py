"""``DayOfWeekSensor`` (Airflow 2's path)."""

from __future__ import annotations

from dagflow.sensors import DayOfWeekSensor

__all__ = ["DayOfWeekSensor"]
