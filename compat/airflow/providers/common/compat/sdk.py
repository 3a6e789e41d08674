"""Names the common.compat provider re-exports for Airflow 2 and 3."""

from __future__ import annotations

from airflow._compat import Context
from airflow.exceptions import AirflowException, AirflowFailException, AirflowSkipException
from airflow.utils import timezone
from dagflow.sdk import BaseOperator, BaseSensorOperator, PokeReturnValue
from dagflow.sdk.current_context import get_current_context
from dagflow.state import TriggerRule

__all__ = [
    "AirflowException",
    "AirflowFailException",
    "AirflowSkipException",
    "BaseOperator",
    "BaseSensorOperator",
    "Context",
    "PokeReturnValue",
    "TriggerRule",
    "get_current_context",
    "timezone",
]
