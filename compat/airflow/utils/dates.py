"""``days_ago`` (Airflow 2; removed in Airflow 3)."""

from __future__ import annotations

from datetime import timedelta

import pendulum


def days_ago(n: int, hour: int = 0, minute: int = 0, second: int = 0, microsecond: int = 0) -> pendulum.DateTime:
    """Midnight UTC ``n`` days ago (at the given time of day)."""
    today = pendulum.now("UTC").replace(hour=hour, minute=minute, second=second, microsecond=microsecond)
    return today - timedelta(days=n)


__all__ = ["days_ago"]
