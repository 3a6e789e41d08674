"""An operator plugin: ``dagflow.plugins.load("dagflow.operators", "greet")``."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

from dagflow.sdk.baseoperator import BaseOperator


class GreetOperator(BaseOperator):
    """Prints and returns a greeting for ``name`` (templated)."""

    template_fields: Sequence[str] = ("name",)

    def __init__(self, *, name: str, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self.name = name

    def execute(self, context: Mapping[str, Any]) -> str:
        greeting = f"hello {self.name}"
        print(greeting)
        return greeting
