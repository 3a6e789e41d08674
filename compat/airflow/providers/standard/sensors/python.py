"""``PythonSensor``."""

from __future__ import annotations

from dagflow.sensors import PythonSensor

__all__ = ["PythonSensor"]
