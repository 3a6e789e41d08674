"""A sensor plugin: waits until a file holds some text."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

from dagflow.sdk.sensor import BaseSensorOperator


class FileHasTextSensor(BaseSensorOperator):
    """Succeeds once ``path`` exists and contains ``text``."""

    template_fields: Sequence[str] = ("path", "text")

    def __init__(self, *, path: str, text: str, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self.path = path
        self.text = text

    def poke(self, context: Mapping[str, Any]) -> bool:
        file = Path(self.path)
        return file.is_file() and self.text in file.read_text()
