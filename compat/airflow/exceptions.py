"""Airflow's exceptions, mapped onto dagflow's (raise them in tasks as in Airflow)."""

from __future__ import annotations

from dagflow.exceptions import (
    DagCycleError as AirflowDagCycleException,
)
from dagflow.exceptions import (
    DagflowError as AirflowException,
)
from dagflow.exceptions import (
    DagNotFound,
    DuplicateTaskIdFound,
    ParamValidationError,
    TaskNotFound,
)
from dagflow.exceptions import (
    FailTask as AirflowFailException,
)
from dagflow.exceptions import (
    NotFound as AirflowNotFoundException,
)
from dagflow.exceptions import (
    SensorTimeout as AirflowSensorTimeout,
)
from dagflow.exceptions import (
    SkipTask as AirflowSkipException,
)
from dagflow.exceptions import (
    TaskTimeout as AirflowTaskTimeout,
)

__all__ = [
    "AirflowDagCycleException",
    "AirflowException",
    "AirflowFailException",
    "AirflowNotFoundException",
    "AirflowSensorTimeout",
    "AirflowSkipException",
    "AirflowTaskTimeout",
    "DagNotFound",
    "DuplicateTaskIdFound",
    "ParamValidationError",
    "TaskNotFound",
]
