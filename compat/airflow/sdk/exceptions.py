"""Airflow's task exceptions, mapped onto dagflow's."""

from __future__ import annotations

from airflow.exceptions import (
    AirflowException,
    AirflowFailException,
    AirflowNotFoundException,
    AirflowSensorTimeout,
    AirflowSkipException,
    AirflowTaskTimeout,
    DuplicateTaskIdFound,
    ParamValidationError,
)

__all__ = [
    "AirflowException",
    "AirflowFailException",
    "AirflowNotFoundException",
    "AirflowSensorTimeout",
    "AirflowSkipException",
    "AirflowTaskTimeout",
    "DuplicateTaskIdFound",
    "ParamValidationError",
]
