"""Airflow 2's notifier modules."""

from __future__ import annotations
