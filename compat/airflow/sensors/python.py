"""``PythonSensor`` (Airflow 2's path)."""

from __future__ import annotations

from dagflow.sensors import PythonSensor

__all__ = ["PythonSensor"]
