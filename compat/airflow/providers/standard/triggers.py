"""Triggers (deferral): not available yet."""

from __future__ import annotations

from airflow._compat import unsupported_names

__getattr__ = unsupported_names(
    __name__,
    {},
)
