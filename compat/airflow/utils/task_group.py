"""``TaskGroup``."""

from __future__ import annotations

from dagflow.sdk import TaskGroup, task_group

__all__ = ["TaskGroup", "task_group"]
