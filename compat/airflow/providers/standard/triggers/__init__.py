"""Triggers (deferral): not mapped yet; ``airflow.providers.standard.triggers.*`` fails to import."""

from __future__ import annotations
