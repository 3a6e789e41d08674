"""A notifier plugin: ``notifier("FileNotifier", path=..., message=...)`` appends a line to a file."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

from dagflow.notifications import BaseNotifier


class FileNotifier(BaseNotifier):
    """Appends ``message`` (templated) to the file at ``path``, one line per call."""

    template_fields: Sequence[str] = ("message",)

    def __init__(self, *, path: str, message: str = "{{ ti.task_id }} is {{ ti.state }}") -> None:
        self.path = path
        self.message = message

    def notify(self, context: Mapping[str, Any]) -> None:
        with Path(self.path).open("a", encoding="utf-8") as out:
            out.write(f"{self.message}\n")
