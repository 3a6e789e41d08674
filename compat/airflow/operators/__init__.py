"""Airflow 2's operator modules (``airflow.operators.*``)."""

from __future__ import annotations
