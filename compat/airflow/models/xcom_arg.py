"""``XComArg`` (Airflow 2's path)."""

from __future__ import annotations

from dagflow.sdk import XComArg

__all__ = ["XComArg"]
