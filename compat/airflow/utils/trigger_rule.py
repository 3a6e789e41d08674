"""``TriggerRule``."""

from __future__ import annotations

from dagflow.state import TriggerRule

__all__ = ["TriggerRule"]
