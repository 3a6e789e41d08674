"""``FileSensor``."""

from __future__ import annotations

from dagflow.sensors import FileSensor

__all__ = ["FileSensor"]
