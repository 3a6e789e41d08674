"""``Variable`` (Airflow 2's path)."""

from __future__ import annotations

from dagflow.sdk.variable import Variable

__all__ = ["Variable"]
