"""Mapped task groups: ``@task_group`` functions called with ``.expand(**lists)`` (Airflow's).

Every task built inside the group becomes mapped over the group's input: its task
instances get map indexes 0..n-1, instance ``i`` sees element ``i`` of each mapped
argument, and an XCom of another task in the same group is that task's value at the
same map index. Tasks outside the group pulling an XCom of a task inside get the list.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from typing import TYPE_CHECKING, Any

from dagflow.exceptions import DagDefinitionError
from dagflow.sdk.taskgroup import TaskGroup
from dagflow.sdk.templating import Resolvable
from dagflow.sdk.xcom_arg import XComArg

if TYPE_CHECKING:
    from dagflow.sdk.abstractoperator import AbstractOperator


class MappedTaskGroup(TaskGroup):
    """A task group expanded at run time into one copy per element of its ``expand_input``."""

    def __init__(self, group_id: str, *, expand_input: Mapping[str, Any], **kwargs: Any) -> None:
        super().__init__(group_id, **kwargs)
        for group in self.lineage()[1:]:
            if isinstance(group, MappedTaskGroup):
                raise DagDefinitionError(f"task group {group_id!r}: mapped task groups cannot be nested")
        for name, value in expand_input.items():
            if not isinstance(value, (list, tuple, dict, XComArg)):
                raise DagDefinitionError(
                    f"task group {group_id!r}: expand({name}=...) needs a list, a dict or an XComArg, "
                    f"got {type(value).__name__}"
                )
        self.expand_input: dict[str, Any] = dict(expand_input)

    def expand_input_spec(self) -> dict[str, dict[str, Any]]:
        """How to size the group: each argument's literal length or the upstream XCom to count."""
        return {
            name: value.length_spec() if isinstance(value, XComArg) else {"kind": "literal", "length": len(value)}
            for name, value in self.expand_input.items()
        }

    def element(self, name: str, context: Mapping[str, Any]) -> Any:
        """The value of argument ``name`` for the running task instance's map index (cross product)."""
        from dagflow.sdk.mappedoperator import _pick

        resolved: dict[str, list[Any]] = {}
        for arg, value in self.expand_input.items():
            if isinstance(value, XComArg):
                value = value.resolve(context)
            if isinstance(value, dict):
                value = list(value.items())
            resolved[arg] = list(value or [])
        return _pick(resolved, context["ti"].map_index, self.group_id or "")[name]

    def wire_inputs(self) -> None:
        """The producers of XComArg inputs run before the group's first tasks."""
        producers = [
            op for v in self.expand_input.values() for arg in XComArg.iter_xcom_args(v) for op in arg.dependency_roots()
        ]
        for root in self.roots:
            for producer in producers:
                producer.add_edge_to(root)


class MappedArgument(Resolvable):
    """One mapped argument of a mapped task group, as the tasks inside see it."""

    def __init__(self, group: MappedTaskGroup, name: str) -> None:
        self.group = group
        self.name = name

    def resolve(self, context: Mapping[str, Any]) -> Any:
        """This task instance's element."""
        return self.group.element(self.name, context)

    def __repr__(self) -> str:
        return f"MappedArgument({self.group.group_id!r}, {self.name!r})"


def mapped_group_of(task: AbstractOperator | None) -> MappedTaskGroup | None:
    """The mapped task group ``task`` is in, if any."""
    group = getattr(task, "task_group", None)
    while group is not None:
        if isinstance(group, MappedTaskGroup):
            return group
        group = group.parent_group
    return None


def expand_group(
    fn: Callable[..., Any],
    group_id: str,
    options: Mapping[str, Any],
    fixed: Mapping[str, Any],
    mapped: Mapping[str, Any],
) -> MappedTaskGroup:
    """Build ``fn``'s tasks in a new mapped group: ``fixed`` arguments as given, ``mapped`` ones per element."""
    overlap = set(fixed) & set(mapped)
    if overlap:
        raise DagDefinitionError(f"{', '.join(sorted(overlap))} given to both partial() and expand()")
    if not mapped:
        raise DagDefinitionError(f"task group {group_id!r}: expand() needs at least one argument to map over")
    group = MappedTaskGroup(group_id, expand_input=mapped, **options)
    with group:
        fn(**fixed, **{name: MappedArgument(group, name) for name in mapped})
    group.wire_inputs()
    return group
