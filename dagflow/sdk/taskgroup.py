"""``TaskGroup``: a named box of tasks that prefixes their ids and wires like one task."""

from __future__ import annotations

import functools
import re
from collections.abc import Callable, Iterator, Mapping
from typing import TYPE_CHECKING, Any, TypeVar, overload

from dagflow.exceptions import DagDefinitionError, DuplicateTaskIdFound
from dagflow.sdk import contexts
from dagflow.sdk.abstractoperator import AbstractOperator
from dagflow.sdk.dependencies import DependencyMixin
from dagflow.sdk.ids import validate_key

if TYPE_CHECKING:
    from dagflow.sdk.dag import DAG

F = TypeVar("F", bound=Callable[..., Any])


class TaskGroup(DependencyMixin):
    """A group of tasks (and nested groups); ``group >> x`` wires its leaves to ``x``."""

    def __init__(
        self,
        group_id: str | None,
        *,
        prefix_group_id: bool = True,
        parent_group: TaskGroup | None = None,
        dag: DAG | None = None,
        default_args: Mapping[str, Any] | None = None,
        tooltip: str = "",
        ui_color: str = "CornflowerBlue",
        ui_fgcolor: str = "#000",
        add_suffix_on_collision: bool = False,
        max_active_tasks: int | None = None,
        sequential: bool = False,
    ) -> None:
        if max_active_tasks is not None and (
            isinstance(max_active_tasks, bool) or not isinstance(max_active_tasks, int) or max_active_tasks < 1
        ):
            raise DagDefinitionError(
                f"task group {group_id!r}: max_active_tasks must be a positive integer, got {max_active_tasks!r}"
            )
        #: At most this many task instances of the group (mapped ones included) run at once in a run.
        self.max_active_tasks = max_active_tasks
        #: Chain the direct children in definition order when the group closes (Kestra's Sequential).
        self.sequential = bool(sequential)
        self.prefix_group_id = prefix_group_id
        self.default_args = dict(default_args or {})
        self.tooltip = tooltip
        self.ui_color = ui_color
        self.ui_fgcolor = ui_fgcolor
        self.children: dict[str, AbstractOperator | TaskGroup] = {}
        #: The nested groups among ``children``: looking for a group id must not walk every task.
        self.child_groups: dict[str, TaskGroup] = {}
        if group_id is None:  # the root group of a DAG
            self._group_id: str | None = None
            self.parent_group: TaskGroup | None = None
            self.dag = dag
            return
        validate_key("group_id", group_id, max_length=200)
        if dag is None and parent_group is not None:
            dag = parent_group.dag
        dag = dag or contexts.current_dag()
        parent_group = parent_group or contexts.current_group(dag)
        if dag is None:
            raise DagDefinitionError(f"task group {group_id!r} must be created in a DAG (use `with DAG(...)`)")
        self.dag = dag
        self.parent_group = parent_group
        self._group_id = group_id
        if add_suffix_on_collision:
            self._group_id = self._unique_label(group_id)
        if self.group_id in dag.task_dict or self.group_id in dag.task_group_dict:
            raise DuplicateTaskIdFound(f"group id {self.group_id!r} is already used in DAG {dag.dag_id!r}")
        assert parent_group is not None
        parent_group.add(self)

    @classmethod
    def create_root(cls, dag: DAG) -> TaskGroup:
        """The root group of ``dag`` (no id, no prefix)."""
        return cls(None, dag=dag)

    def _unique_label(self, label: str) -> str:
        assert self.dag is not None
        taken = set(self.dag.task_group_dict) | set(self.dag.task_dict)
        candidate, core = label, re.split(r"__\d+$", label)[0]
        number = 0
        while self._full_id(candidate) in taken:
            number += 1
            candidate = f"{core}__{number}"
        return candidate

    def _full_id(self, label: str) -> str:
        if self.parent_group is not None and self.parent_group.group_id and self.parent_group.prefix_group_id:
            return f"{self.parent_group.group_id}.{label}"
        return label

    @property
    def group_id(self) -> str | None:
        """The full id (prefixed by enclosing groups); None for the root group."""
        return None if self._group_id is None else self._full_id(self._group_id)

    @property
    def is_root(self) -> bool:
        """True for a DAG's root group."""
        return self._group_id is None

    @property
    def label(self) -> str | None:
        """The id without the enclosing groups' prefix."""
        return self._group_id

    def child_id(self, label: str) -> str:
        """The full id of a child called ``label``."""
        if self.prefix_group_id and self.group_id:
            return f"{self.group_id}.{label}"
        return label

    def add(self, node: AbstractOperator | TaskGroup) -> None:
        """Register a task or a nested group as a child."""
        key = node.group_id if isinstance(node, TaskGroup) else node.task_id
        assert key is not None
        if key in self.children:
            raise DuplicateTaskIdFound(f"id {key!r} is already used in task group {self.group_id!r}")
        self.children[key] = node
        if isinstance(node, TaskGroup):
            self.child_groups[key] = node

    def lineage(self) -> list[TaskGroup]:
        """This group and its ancestors, innermost first (the root group included)."""
        chain: list[TaskGroup] = []
        group: TaskGroup | None = self
        while group is not None:
            chain.append(group)
            group = group.parent_group
        return chain

    def iter_tasks(self) -> Iterator[AbstractOperator]:
        """Every task in this group and its nested groups."""
        for child in self.children.values():
            if isinstance(child, TaskGroup):
                yield from child.iter_tasks()
            else:
                yield child

    def iter_groups(self) -> Iterator[TaskGroup]:
        """Every nested group, depth first (tasks are not visited)."""
        for child in self.child_groups.values():
            yield child
            yield from child.iter_groups()

    def get_task_group_dict(self) -> dict[str, TaskGroup]:
        """Nested groups by full id."""
        return {g.group_id: g for g in self.iter_groups() if g.group_id is not None}

    @property
    def roots(self) -> list[AbstractOperator]:
        """Tasks of the group with no upstream inside the group."""
        ids = {t.task_id for t in self.iter_tasks()}
        return [t for t in self.iter_tasks() if not t.upstream_task_ids & ids]

    @property
    def leaves(self) -> list[AbstractOperator]:
        """Tasks of the group with no downstream inside the group."""
        ids = {t.task_id for t in self.iter_tasks()}
        return [t for t in self.iter_tasks() if not t.downstream_task_ids & ids]

    def dependency_roots(self) -> list[AbstractOperator]:
        """Edges into a group go to its roots."""
        return self.roots

    def dependency_leaves(self) -> list[AbstractOperator]:
        """Edges out of a group leave from its leaves."""
        return self.leaves

    def __enter__(self) -> TaskGroup:
        contexts.push_group(self)
        return self

    def __exit__(self, exc_type: object, *exc: object) -> None:
        contexts.pop_group()
        if self.sequential and exc_type is None:
            self.chain_children()

    def chain_children(self) -> None:
        """Wire the direct children one after the other, in the order they were defined."""
        nodes = list(self.children.values())
        for upstream, downstream in zip(nodes, nodes[1:]):
            upstream >> downstream

    def __repr__(self) -> str:
        return f"<TaskGroup: {self.group_id}>"


@overload
def task_group(python_callable: F) -> F: ...
@overload
def task_group(python_callable: None = None, **tg_kwargs: Any) -> Callable[[F], F]: ...
def task_group(python_callable: Callable[..., Any] | None = None, **tg_kwargs: Any) -> Any:
    """Decorate a function whose call builds its tasks inside a new ``TaskGroup``."""

    def decorate(fn: Callable[..., Any]) -> Callable[..., Any]:
        def options() -> tuple[str, dict[str, Any]]:
            merged = {"add_suffix_on_collision": True, "tooltip": (fn.__doc__ or "").strip(), **tg_kwargs}
            return merged.pop("group_id", None) or fn.__name__, merged

        @functools.wraps(fn)
        def factory(*args: Any, **kwargs: Any) -> Any:
            group_id, group_options = options()
            with TaskGroup(group_id, **group_options) as group:
                result = fn(*args, **kwargs)
            return result if isinstance(result, DependencyMixin) else group

        def expand(**mapped: Any) -> TaskGroup:
            """Map the group over lists or XComArgs: its tasks get one instance per element."""
            from dagflow.sdk.mapped_group import expand_group

            group_id, group_options = options()
            return expand_group(fn, group_id, group_options, {}, mapped)

        def partial(**fixed: Any) -> Any:
            """Fix some arguments for every copy of the group; follow with ``.expand(...)``."""
            from dagflow.sdk.mapped_group import expand_group

            def expand_partial(**mapped: Any) -> TaskGroup:
                group_id, group_options = options()
                return expand_group(fn, group_id, group_options, fixed, mapped)

            return type("TaskGroupPartial", (), {"expand": staticmethod(expand_partial)})()

        factory.expand = expand  # type: ignore[attr-defined]
        factory.partial = partial  # type: ignore[attr-defined]
        return factory

    if python_callable is not None:
        return decorate(python_callable)
    return decorate
