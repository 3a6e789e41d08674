"""Wiring tasks together: ``>>``, ``<<``, lists, ``chain`` and ``cross_downstream``."""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from typing import TYPE_CHECKING, Any, Union

if TYPE_CHECKING:
    from dagflow.sdk.abstractoperator import AbstractOperator


class DependencyMixin:
    """Something that can sit on either side of ``>>``: a task, an XComArg or a task group."""

    def dependency_roots(self) -> list[AbstractOperator]:
        """Tasks that receive the edges when this node is the downstream side."""
        raise NotImplementedError

    def dependency_leaves(self) -> list[AbstractOperator]:
        """Tasks that emit the edges when this node is the upstream side."""
        raise NotImplementedError

    def set_downstream(self, other: DependencyLike | Sequence[DependencyLike]) -> None:
        """Make ``other`` (one node or a list) run after this one."""
        for node in _flatten(other):
            if hasattr(node, "add_upstream"):  # an EdgeModifier (Label) passes the edges on
                node.add_upstream(self.dependency_leaves())
                continue
            for upstream in self.dependency_leaves():
                for downstream in node.dependency_roots():
                    upstream.add_edge_to(downstream)

    def set_upstream(self, other: DependencyLike | Sequence[DependencyLike]) -> None:
        """Make ``other`` (one node or a list) run before this one."""
        for node in _flatten(other):
            node.set_downstream(self)

    def __rshift__(self, other: Any) -> Any:
        self.set_downstream(other)
        return other

    def __lshift__(self, other: Any) -> Any:
        self.set_upstream(other)
        return other

    def __rrshift__(self, other: Any) -> Any:
        # ``[a, b] >> self``
        self.set_upstream(other)
        return self

    def __rlshift__(self, other: Any) -> Any:
        # ``[a, b] << self``
        self.set_downstream(other)
        return self


DependencyLike = Union[DependencyMixin, "Sequence[DependencyMixin]"]


def flatten_nodes(value: Any) -> list[DependencyMixin]:
    """One node or a (nested) list of nodes, as a flat list; anything else is a ``TypeError``."""
    return _flatten(value)


def _flatten(value: Any) -> list[DependencyMixin]:
    if isinstance(value, DependencyMixin):
        return [value]
    if isinstance(value, (list, tuple, set, frozenset)):
        nodes: list[DependencyMixin] = []
        for item in value:
            nodes.extend(_flatten(item))
        return nodes
    raise TypeError(
        f"cannot set a dependency with {value!r} ({type(value).__name__}): "
        "expected a task, an XComArg, a TaskGroup or a list of them"
    )


def chain(*elements: DependencyMixin | Sequence[DependencyMixin]) -> None:
    """Wire ``elements`` in sequence; two adjacent lists of equal length are wired pairwise."""
    for left, right in zip(elements, elements[1:]):
        left_is_list = not isinstance(left, DependencyMixin)
        right_is_list = not isinstance(right, DependencyMixin)
        if left_is_list and right_is_list:
            left_nodes, right_nodes = list(left), list(right)  # type: ignore[arg-type]
            if len(left_nodes) != len(right_nodes):
                raise ValueError(
                    f"chain() got adjacent lists of different lengths ({len(left_nodes)} and {len(right_nodes)})"
                )
            for up, down in zip(left_nodes, right_nodes):
                _flatten(up)[0].set_downstream(down)
        elif left_is_list:
            for up in _flatten(left):
                up.set_downstream(right)
        else:
            left.set_downstream(right)  # type: ignore[union-attr]


def chain_linear(*elements: DependencyMixin | Sequence[DependencyMixin]) -> None:
    """Wire ``elements`` in sequence, every node of one element to every node of the next."""
    if len(elements) < 2:
        raise ValueError("chain_linear() needs at least two elements")
    for left, right in zip(elements, elements[1:]):
        for up in _flatten(left):
            up.set_downstream(_flatten(right))


def cross_downstream(
    from_tasks: Iterable[DependencyMixin], to_tasks: DependencyMixin | Iterable[DependencyMixin]
) -> None:
    """Make every task in ``to_tasks`` run after every task in ``from_tasks``."""
    targets = _flatten(list(to_tasks) if not isinstance(to_tasks, DependencyMixin) else to_tasks)
    for node in _flatten(list(from_tasks)):
        node.set_downstream(targets)
