"""Functions and modules available as ``macros`` in templates (Airflow's names)."""

from __future__ import annotations

import json
import random
import time
import uuid
from datetime import date, datetime, timedelta

import pendulum

__all__ = [
    "date",
    "datetime",
    "datetime_diff_for_humans",
    "ds_add",
    "ds_format",
    "json",
    "random",
    "time",
    "timedelta",
    "uuid",
]


def ds_add(ds: str, days: int) -> str:
    """``ds`` (``YYYY-MM-DD``) plus ``days`` (may be negative), as ``YYYY-MM-DD``."""
    if not days:
        return str(ds)
    value = datetime.strptime(str(ds), "%Y-%m-%d") + timedelta(days=days)
    return value.strftime("%Y-%m-%d")


def ds_format(ds: str, input_format: str, output_format: str) -> str:
    """Reformat a date string from ``input_format`` to ``output_format``."""
    return datetime.strptime(str(ds), input_format).strftime(output_format)


def datetime_diff_for_humans(dt: datetime, since: datetime | None = None) -> str:
    """A human-readable difference such as ``"1 day ago"`` between ``dt`` and ``since`` (now)."""
    other = pendulum.instance(since) if since is not None else pendulum.now("UTC")
    return pendulum.instance(dt).diff_for_humans(other)
