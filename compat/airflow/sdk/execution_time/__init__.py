"""Airflow 3's task runtime modules (only the public names DAG files use)."""

from __future__ import annotations
