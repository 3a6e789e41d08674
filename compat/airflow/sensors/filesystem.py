"""``FileSensor`` (``deferrable=True`` runs in reschedule mode until dagflow's sensor defers)."""

from __future__ import annotations

from airflow._compat import accepts_deferrable
from dagflow.sensors import FileSensor as _FileSensor

FileSensor = accepts_deferrable(_FileSensor)

__all__ = ["FileSensor"]
