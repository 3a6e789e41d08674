"""Edge modifiers: ``a >> Label("when empty") >> b`` labels the edge a → b (Airflow's ``Label``)."""

from __future__ import annotations

from collections.abc import Sequence
from typing import TYPE_CHECKING, Any

from dagflow.sdk.dependencies import DependencyMixin, flatten_nodes

if TYPE_CHECKING:
    from dagflow.sdk.abstractoperator import AbstractOperator


class EdgeModifier(DependencyMixin):
    """Sits between two nodes in ``>>``: wires them together and attaches ``label`` to each edge."""

    def __init__(self, label: str | None = None) -> None:
        self.label = label
        self._upstream: list[AbstractOperator] = []
        self._downstream: list[AbstractOperator] = []

    def dependency_roots(self) -> list[AbstractOperator]:
        """None of its own: edges pass through it."""
        return []

    def dependency_leaves(self) -> list[AbstractOperator]:
        """None of its own: edges pass through it."""
        return []

    def add_upstream(self, tasks: Sequence[AbstractOperator]) -> None:
        """``tasks >> self``: remember them, and wire them to any downstream already given."""
        for task in tasks:
            if task not in self._upstream:
                self._upstream.append(task)
            for down in self._downstream:
                self._wire(task, down)

    def set_downstream(self, other: Any) -> None:
        """``self >> other``: every remembered upstream task runs before ``other``."""
        for node in flatten_nodes(other):
            for down in node.dependency_roots():
                if down not in self._downstream:
                    self._downstream.append(down)
                for up in self._upstream:
                    self._wire(up, down)

    def _wire(self, up: AbstractOperator, down: AbstractOperator) -> None:
        up.add_edge_to(down)
        dag = up.dag
        if dag is not None and self.label is not None:
            dag.set_edge_info(up.task_id, down.task_id, {"label": self.label})

    def __repr__(self) -> str:
        return f"Label({self.label!r})"


def Label(label: str) -> EdgeModifier:  # noqa: N802 - Airflow's name for a factory
    """An edge modifier that labels the edges it sits on."""
    return EdgeModifier(label)
