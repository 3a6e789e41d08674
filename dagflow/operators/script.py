"""``ScriptOperator``: a script in any interpreter (defined in the SDK, which ``@task.script`` builds on)."""

from __future__ import annotations

from dagflow.sdk.script_operator import ScriptOperator

__all__ = ["ScriptOperator"]
