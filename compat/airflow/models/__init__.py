"""Airflow 2's ``airflow.models`` names that DAG files use."""

from __future__ import annotations

from dagflow.sdk import DAG, BaseOperator, Param, XComArg
from dagflow.sdk.variable import Variable

__all__ = ["DAG", "BaseOperator", "Param", "Variable", "XComArg"]

from airflow._compat import unsupported_names

__getattr__ = unsupported_names(
    __name__,
    {
        "TaskInstance": "TaskInstance is not importable in DAG files (use context['ti'])",
        "DagRun": "DagRun is not importable in DAG files (use context['dag_run'])",
        "Connection": "Connection objects are not available (read connections with context['conn'])",
        "Pool": "pools are managed with `dagflow pools`",
        "DagBag": "DagBag is not available",
    },
)
