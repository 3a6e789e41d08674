"""``ApprovalOperator``: pause the run until a person approves (or rejects) this task."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from datetime import timedelta
from typing import Any

from dagflow.exceptions import FailTask
from dagflow.sdk import runtime
from dagflow.sdk.sensor import BaseSensorOperator, PokeReturnValue

_FOREVER = 100 * 365 * 24 * 3600


class ApprovalOperator(BaseSensorOperator):
    """Waits in reschedule mode for ``dagflow tasks approve``; rejection fails the task.

    The XCom value is ``{"decision": "approved", "comment": ...}``. With ``timeout`` the
    task fails (or is skipped with ``soft_fail``) when nobody decides in time.
    """

    template_fields: Sequence[str] = ("message",)
    ui_color = "#fff3b0"

    def __init__(
        self,
        *,
        message: str | None = None,
        timeout: timedelta | float | str | None = None,
        poke_interval: timedelta | float | str = 10,
        mode: str = "reschedule",
        **kwargs: Any,
    ) -> None:
        super().__init__(
            timeout=timeout if timeout is not None else _FOREVER, poke_interval=poke_interval, mode=mode, **kwargs
        )
        self.message = message

    def poke(self, context: Mapping[str, Any]) -> PokeReturnValue:
        """Ask the runtime whether someone decided."""
        ti = context["ti"]
        decision = runtime.current().approval(
            dag_id=ti.dag_id, run_id=ti.run_id, task_id=ti.task_id, map_index=ti.map_index
        )
        if decision is None:
            if self.message:
                print(f"waiting for approval: {self.message}", flush=True)
            return PokeReturnValue(False)
        verdict, comment = decision
        if verdict == "rejected":
            raise FailTask(f"rejected{': ' + comment if comment else ''}")
        print(f"approved{': ' + comment if comment else ''}", flush=True)
        return PokeReturnValue(True, {"decision": verdict, "comment": comment})
