"""Sensors: BaseSensorOperator (poke / reschedule), Python, Bash, TimeDelta, Time,
DayOfWeek, File, ExternalTask.

Built on ``dagflow.sdk``; reach other DAGs only through ``dagflow.sdk.runtime``.
"""

from __future__ import annotations

from dagflow.sensors.base import BaseSensorOperator, PokeReturnValue
from dagflow.sensors.bash import BashSensor
from dagflow.sensors.external_task import ExternalTaskSensor
from dagflow.sensors.filesystem import FileSensor
from dagflow.sensors.python import PythonSensor
from dagflow.sensors.time_delta import DateTimeSensor, TimeDeltaSensor
from dagflow.sensors.time_sensor import TimeSensor
from dagflow.sensors.weekday import DayOfWeekSensor

__all__ = [
    "BaseSensorOperator",
    "BashSensor",
    "DateTimeSensor",
    "DayOfWeekSensor",
    "ExternalTaskSensor",
    "FileSensor",
    "PokeReturnValue",
    "PythonSensor",
    "TimeDeltaSensor",
    "TimeSensor",
]
