"""``NEVER_EXPIRE`` for ``task_state_store.set(..., retention=NEVER_EXPIRE)``; ``get_current_context``."""

from __future__ import annotations

from datetime import timedelta

from dagflow.sdk.current_context import get_current_context

#: A retention that never expires (dagflow keeps task state until it is deleted in any case).
NEVER_EXPIRE: timedelta = timedelta.max

__all__ = ["NEVER_EXPIRE", "get_current_context"]
