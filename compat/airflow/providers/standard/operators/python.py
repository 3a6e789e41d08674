"""``BranchPythonOperator, PythonOperator, ShortCircuitOperator, get_current_context``."""

from __future__ import annotations

from dagflow.operators import BranchPythonOperator, PythonOperator, ShortCircuitOperator
from dagflow.sdk.current_context import get_current_context

__all__ = ["BranchPythonOperator", "PythonOperator", "ShortCircuitOperator", "get_current_context"]

from airflow._compat import unsupported_names

__getattr__ = unsupported_names(
    __name__,
    {
        "PythonVirtualenvOperator": "virtualenv and external-python operators are not available in dagflow's Airflow layer",
        "ExternalPythonOperator": "virtualenv and external-python operators are not available in dagflow's Airflow layer",
        "BranchPythonVirtualenvOperator": "virtualenv and external-python operators are not available in dagflow's Airflow layer",
        "BranchExternalPythonOperator": "virtualenv and external-python operators are not available in dagflow's Airflow layer",
    },
)
