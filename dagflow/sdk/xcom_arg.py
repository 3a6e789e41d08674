"""``XComArg``: a task's (future) XCom value, usable as an argument and in ``>>``."""

from __future__ import annotations

from collections.abc import Iterator, Mapping
from typing import TYPE_CHECKING, Any

from dagflow.sdk.dependencies import DependencyMixin
from dagflow.sdk.templating import Resolvable

if TYPE_CHECKING:
    from dagflow.sdk.abstractoperator import AbstractOperator

RETURN_VALUE_KEY = "return_value"


class XComArg(Resolvable, DependencyMixin):
    """The XCom ``key`` of ``operator``; resolved in the consuming task at run time."""

    def __init__(self, operator: AbstractOperator, key: str = RETURN_VALUE_KEY) -> None:
        self.operator = operator
        self.key = key

    def __getitem__(self, key: str) -> XComArg:
        """One key of a ``multiple_outputs`` task."""
        if not isinstance(key, str):
            raise TypeError(f"XComArg keys are strings, got {key!r}")
        return XComArg(self.operator, key)

    def __iter__(self) -> Iterator[Any]:
        raise TypeError("an XComArg is not iterable at parse time; its value exists only when tasks run")

    def __eq__(self, other: object) -> bool:
        if not isinstance(other, XComArg):
            return NotImplemented
        return self.operator is other.operator and self.key == other.key

    def __hash__(self) -> int:
        return hash((id(self.operator), self.key))

    def __repr__(self) -> str:
        suffix = "" if self.key == RETURN_VALUE_KEY else f"[{self.key!r}]"
        return f"XComArg({self.operator.task_id!r}){suffix}"

    def dependency_roots(self) -> list[AbstractOperator]:
        """The producing task."""
        return [self.operator]

    def dependency_leaves(self) -> list[AbstractOperator]:
        """The producing task."""
        return [self.operator]

    def resolve(self, context: Mapping[str, Any]) -> Any:
        """The value, pulled through ``context["ti"]`` (a list over map indexes if mapped)."""
        return context["ti"].xcom_pull(task_ids=self.operator.task_id, key=self.key)

    @staticmethod
    def iter_xcom_args(value: Any, _seen: set[int] | None = None) -> Iterator[XComArg]:
        """Every ``XComArg`` inside ``value`` (containers searched recursively)."""
        seen = set() if _seen is None else _seen
        if isinstance(value, XComArg):
            yield value
        elif isinstance(value, (list, tuple, set, frozenset, dict)):
            if id(value) in seen:
                return
            seen.add(id(value))
            items = value.values() if isinstance(value, dict) else value
            for item in items:
                yield from XComArg.iter_xcom_args(item, seen)
