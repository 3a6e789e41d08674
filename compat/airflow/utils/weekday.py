"""``WeekDay`` (Airflow 2's path)."""

from __future__ import annotations

from dagflow.sdk.weekday import WeekDay

__all__ = ["WeekDay"]
