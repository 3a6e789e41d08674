"""The common.compat provider: names that work on Airflow 2 and 3."""

from __future__ import annotations
