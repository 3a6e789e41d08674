"""Sensors: BaseSensorOperator (poke / reschedule), Python, TimeDelta, File, ExternalTask.

Built on ``dagflow.sdk``; reach other DAGs only through ``dagflow.sdk.runtime``.
"""

from __future__ import annotations

from dagflow.sensors.base import BaseSensorOperator, PokeReturnValue
from dagflow.sensors.external_task import ExternalTaskSensor
from dagflow.sensors.filesystem import FileSensor
from dagflow.sensors.python import PythonSensor
from dagflow.sensors.time_delta import DateTimeSensor, TimeDeltaSensor

__all__ = [
    "BaseSensorOperator",
    "DateTimeSensor",
    "ExternalTaskSensor",
    "FileSensor",
    "PokeReturnValue",
    "PythonSensor",
    "TimeDeltaSensor",
]
