"""Template macros (``macros.ds_add`` ...), Airflow's names."""

from __future__ import annotations

from dagflow.sdk.macros import (
    date,
    datetime,
    datetime_diff_for_humans,
    ds_add,
    ds_format,
    json,
    random,
    time,
    timedelta,
    uuid,
)

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
