"""Airflow 3's definition modules (the public names only)."""

from __future__ import annotations
