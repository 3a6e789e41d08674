"""``BashSensor`` (Airflow 2's path)."""

from __future__ import annotations

from dagflow.sensors import BashSensor

__all__ = ["BashSensor"]
