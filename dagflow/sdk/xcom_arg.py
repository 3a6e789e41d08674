"""``XComArg``: a task's (future) XCom value, usable as an argument and in ``>>``."""

from __future__ import annotations

from collections.abc import Callable, Iterator, Mapping, Sequence
from typing import TYPE_CHECKING, Any

from dagflow.sdk.dependencies import DependencyMixin
from dagflow.sdk.templating import Resolvable

if TYPE_CHECKING:
    from dagflow.sdk.abstractoperator import AbstractOperator

RETURN_VALUE_KEY = "return_value"


class _NotSet:
    def __repr__(self) -> str:
        return "NOTSET"


NOTSET: Any = _NotSet()


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
        """The value, pulled through ``context["ti"]`` (a list over map indexes if mapped; inside one
        mapped task group, the value at this task instance's own map index)."""
        from dagflow.sdk.mapped_group import mapped_group_of

        group = mapped_group_of(self.operator)
        if group is not None and group is mapped_group_of(context.get("task")):
            return context["ti"].xcom_pull(
                task_ids=self.operator.task_id, key=self.key, map_indexes=context["ti"].map_index
            )
        return context["ti"].xcom_pull(task_ids=self.operator.task_id, key=self.key)

    def length_spec(self) -> dict[str, Any]:
        """How the scheduler sizes a task mapped over this value (serialized with the DAG)."""
        return {"kind": "xcom", "task_id": self.operator.task_id, "key": self.key}

    def as_setup(self) -> XComArg:
        """Make the producing task a setup task; returns this XComArg."""
        self.operator.as_setup()
        return self

    def as_teardown(self, *, setups: Any = None, on_failure_fail_dagrun: bool | None = None) -> XComArg:
        """Make the producing task a teardown of ``setups``; returns this XComArg."""
        self.operator.as_teardown(setups=setups, on_failure_fail_dagrun=on_failure_fail_dagrun)
        return self

    def __enter__(self) -> None:
        self.operator.__enter__()

    def __exit__(self, exc_type: type[BaseException] | None, *exc: object) -> None:
        self.operator.__exit__(exc_type, *exc)

    def map(self, f: Callable[[Any], Any]) -> MapXComArg:
        """This value with ``f`` applied to each element, lazily in the consuming task (Airflow's ``.map``)."""
        return MapXComArg(self, [f])

    def zip(self, *others: XComArg, fillvalue: Any = NOTSET) -> ZipXComArg:
        """Tuples of this value's and ``others``' elements, like ``zip`` (``fillvalue``: like ``zip_longest``)."""
        return ZipXComArg([self, *others], fillvalue=fillvalue)

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


class MapXComArg(XComArg):
    """``xcom_arg.map(f)``: each element transformed by ``f`` when the consuming task reads it."""

    def __init__(self, arg: XComArg, callables: Sequence[Callable[[Any], Any]]) -> None:
        super().__init__(arg.operator, arg.key)
        self.arg = arg
        self.callables = list(callables)

    def map(self, f: Callable[[Any], Any]) -> MapXComArg:
        """Another transformation, applied after the ones already given."""
        return MapXComArg(self.arg, [*self.callables, f])

    def dependency_roots(self) -> list[AbstractOperator]:
        """The producing task(s) of the value being transformed."""
        return self.arg.dependency_roots()

    def dependency_leaves(self) -> list[AbstractOperator]:
        """The producing task(s) of the value being transformed."""
        return self.arg.dependency_leaves()

    def length_spec(self) -> dict[str, Any]:
        """As long as the value it transforms."""
        return self.arg.length_spec()

    def resolve(self, context: Mapping[str, Any]) -> Any:
        """The source list (or dict items) with every callable applied to each element."""
        value = self.arg.resolve(context)
        if value is None:
            return None
        items = list(value.items()) if isinstance(value, dict) else list(value)
        for f in self.callables:
            items = [f(item) for item in items]
        return items

    def __repr__(self) -> str:
        return f"{self.arg!r}.map(...)"


class ZipXComArg(XComArg):
    """``a.zip(b, c)``: tuples of the elements of several values (shortest, or longest with ``fillvalue``)."""

    def __init__(self, args: Sequence[XComArg], *, fillvalue: Any = NOTSET) -> None:
        if not args:
            raise ValueError("zip() needs at least one XComArg")
        super().__init__(args[0].operator, args[0].key)
        self.args = list(args)
        self.fillvalue = fillvalue

    def dependency_roots(self) -> list[AbstractOperator]:
        """Every producing task."""
        return [op for arg in self.args for op in arg.dependency_roots()]

    def dependency_leaves(self) -> list[AbstractOperator]:
        """Every producing task."""
        return [op for arg in self.args for op in arg.dependency_leaves()]

    def length_spec(self) -> dict[str, Any]:
        """The shortest input's length (the longest's with a ``fillvalue``)."""
        return {
            "kind": "zip",
            "inputs": [arg.length_spec() for arg in self.args],
            "longest": self.fillvalue is not NOTSET,
        }

    def resolve(self, context: Mapping[str, Any]) -> Any:
        """The list of tuples."""
        import itertools

        values = []
        for arg in self.args:
            value = arg.resolve(context)
            values.append(list(value.items()) if isinstance(value, dict) else list(value or []))
        if self.fillvalue is NOTSET:
            return list(zip(*values))
        return list(itertools.zip_longest(*values, fillvalue=self.fillvalue))

    def __repr__(self) -> str:
        return f"zip({', '.join(map(repr, self.args))})"
