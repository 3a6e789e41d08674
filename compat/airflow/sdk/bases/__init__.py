"""Airflow 3's base classes."""

from __future__ import annotations
