"""Airflow 2's sensor modules (``airflow.sensors.*``)."""

from __future__ import annotations
