"""``SwitchOperator``: follow the case that a (templated) value selects."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

from dagflow.exceptions import DagDefinitionError
from dagflow.sdk.baseoperator import BaseOperator
from dagflow.sdk.branch import push_branch

Target = str | Sequence[str]


class SwitchOperator(BaseOperator):
    """Follows ``cases[value]``, else ``default``, else nothing; other direct downstream tasks are skipped."""

    template_fields: Sequence[str] = ("value",)
    ui_color = "#ffd9c9"

    def __init__(
        self, *, value: Any, cases: Mapping[Any, Target], default: Target | None = None, **kwargs: Any
    ) -> None:
        super().__init__(**kwargs)
        if not isinstance(cases, Mapping) or not cases:
            raise DagDefinitionError(f"task {self.task_id!r}: cases must be a non-empty dict of value -> task id(s)")
        self.value = value
        self.cases: dict[Any, Target] = dict(cases)
        self.default = default

    def choose(self, value: Any) -> Target | None:
        """The target for ``value``: exact key, else a key equal as text, else the default."""
        if _hashable(value) and value in self.cases:
            return self.cases[value]
        for key, target in self.cases.items():
            if str(key) == str(value):
                return target
        return self.default

    def execute(self, context: Mapping[str, Any]) -> Any:
        """Record the chosen case; returns the value it switched on."""
        target = self.choose(self.value)
        followed = push_branch(context, self, target)
        print(f"switch value {self.value!r}: following {', '.join(followed) or 'nothing'}", flush=True)
        return self.value


def _hashable(value: Any) -> bool:
    try:
        hash(value)
    except TypeError:
        return False
    return True
