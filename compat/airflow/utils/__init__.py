"""Airflow's ``airflow.utils`` modules that DAG files use."""

from __future__ import annotations
