"""The standard provider (Airflow 3): operators, sensors and utilities."""

from __future__ import annotations
