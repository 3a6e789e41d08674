"""Dynamic task mapping: ``Op.partial(**fixed).expand(**lists)`` and ``MappedOperator``."""

from __future__ import annotations

import inspect
from collections.abc import Mapping, Sequence
from typing import Any

from dagflow.exceptions import DagDefinitionError
from dagflow.sdk import contexts
from dagflow.sdk.abstractoperator import AbstractOperator, normalize_scheduling_args
from dagflow.sdk.baseoperator import SCHEDULING_ARGS, BaseOperator, effective_default_args, resolve_placement
from dagflow.sdk.ids import validate_key
from dagflow.sdk.params import ParamsDict
from dagflow.sdk.task_defaults import default_task_retries
from dagflow.sdk.xcom_arg import XComArg

_NOT_MAPPABLE = frozenset({"task_id", "dag", "task_group", "default_args", "params"})
#: The one key of ``expand_input`` for ``expand_kwargs(...)``: each element is a dict of arguments.
EXPAND_KWARGS = "__expand_kwargs__"


def _base_defaults() -> dict[str, Any]:
    sig = inspect.signature(BaseOperator.__init__)
    return {n: p.default for n, p in sig.parameters.items() if n in SCHEDULING_ARGS}


class OperatorPartial:
    """The fixed half of a mapped classic operator, waiting for ``.expand(**lists)``."""

    def __init__(self, operator_class: type[BaseOperator], kwargs: Mapping[str, Any]) -> None:
        if "task_id" not in kwargs:
            raise DagDefinitionError(f"{operator_class.__name__}.partial() needs a task_id")
        self.operator_class = operator_class
        self.kwargs = dict(kwargs)

    def expand(self, **mapped: Any) -> MappedOperator:
        """Map over ``mapped`` (lists, dicts or XComArgs): one task instance per combination."""
        return MappedOperator(self.operator_class, self.kwargs, mapped)

    def expand_kwargs(self, kwargs_list: Any) -> MappedOperator:
        """Map over a list of argument dicts (or an XComArg of one): one task instance per dict."""
        return MappedOperator(self.operator_class, self.kwargs, {EXPAND_KWARGS: kwargs_list})


class MappedOperator(AbstractOperator):
    """A task expanded at run time into one instance per element (``map_index`` 0..n-1)."""

    is_mapped = True

    def __init__(
        self,
        operator_class: type[BaseOperator],
        partial_kwargs: Mapping[str, Any],
        expand_input: Mapping[str, Any],
        *,
        expand_into: str | None = None,
        mappable_names: Sequence[str] | None = None,
    ) -> None:
        partial_kwargs = dict(partial_kwargs)
        label = validate_key("task_id", partial_kwargs.pop("task_id"))
        dag, group = resolve_placement(partial_kwargs)
        partial_kwargs.pop("dag", None)
        partial_kwargs.pop("task_group", None)
        self.operator_class = operator_class
        self.expand_into = expand_into
        self.expand_input: dict[str, Any] = dict(expand_input)
        self._validate_expand(label, partial_kwargs, mappable_names)
        self.task_id = group.child_id(label) if group is not None else label
        self.upstream_task_ids: set[str] = set()
        self.downstream_task_ids: set[str] = set()
        self.default_args = effective_default_args(dag, group, partial_kwargs.pop("default_args", None))
        self.partial_kwargs = partial_kwargs
        self._apply_scheduling_attributes()
        self.params = ParamsDict(dag.params if dag is not None else None)
        self.params.update(self.default_args.get("params") or {})
        self.params.update(partial_kwargs.get("params") or {})
        self.template_fields = operator_class.template_fields
        self.template_ext = operator_class.template_ext
        self.ui_color = operator_class.ui_color
        self.is_sensor = operator_class.is_sensor
        self.inherits_from_empty_operator = operator_class.inherits_from_empty_operator
        self._attach(dag, group)
        for arg in XComArg.iter_xcom_args([self.expand_input, partial_kwargs]):
            for upstream in arg.dependency_roots():
                upstream.set_downstream(self)

    def _validate_expand(self, label: str, partial_kwargs: Mapping[str, Any], names: Sequence[str] | None) -> None:
        if not self.expand_input:
            raise DagDefinitionError(f"task {label!r}: expand() needs at least one argument to map over")
        if names is None:
            names = [n for c in self.operator_class.__mro__ for n in _init_names(c)]
        for name, value in self.expand_input.items():
            if name == EXPAND_KWARGS:
                if not isinstance(value, (list, tuple, XComArg)):
                    raise DagDefinitionError(
                        f"task {label!r}: expand_kwargs() needs a list of dicts or an XComArg, got {type(value).__name__}"
                    )
                continue
            if name in _NOT_MAPPABLE or name not in names:
                raise DagDefinitionError(f"task {label!r}: cannot map over {name!r}: not an argument it accepts")
            if self.expand_into is None and name in partial_kwargs:
                raise DagDefinitionError(f"task {label!r}: {name!r} is given to both partial() and expand()")
            if not isinstance(value, (list, tuple, dict, XComArg)):
                raise DagDefinitionError(
                    f"task {label!r}: expand({name}=...) needs a list, a dict or an XComArg, got {type(value).__name__}"
                )

    def _apply_scheduling_attributes(self) -> None:
        values = _base_defaults()
        values.update({k: v for k, v in self.default_args.items() if k in SCHEDULING_ARGS})
        values.update({k: v for k, v in self.partial_kwargs.items() if k in SCHEDULING_ARGS})
        values["pool"] = values.get("pool") or "default_pool"
        if values.get("retries") is None:
            values["retries"] = default_task_retries()
        for name, value in normalize_scheduling_args(self.task_id, values).items():
            setattr(self, name, value)

    @property
    def task_type(self) -> str:
        """The class name of the operator being mapped."""
        return self.operator_class.__name__

    def expand_input_spec(self) -> dict[str, dict[str, Any]]:
        """How to size each mapped argument: a literal's length or the upstream XCom to count."""
        spec: dict[str, dict[str, Any]] = {}
        for name, value in self.expand_input.items():
            if isinstance(value, XComArg):
                spec[name] = value.length_spec()
            else:
                spec[name] = {"kind": "literal", "length": len(value)}
        return spec

    def resolve_expand_input(self, context: Mapping[str, Any]) -> dict[str, list[Any]]:
        """Each mapped argument as the list of its values in this run."""
        resolved: dict[str, list[Any]] = {}
        for name, value in self.expand_input.items():
            if isinstance(value, XComArg):
                value = value.resolve(context)
            if value is None:
                value = []
            if isinstance(value, dict):
                value = list(value.items())
            if not isinstance(value, (list, tuple)):
                raise DagDefinitionError(
                    f"task {self.task_id!r}: cannot map {name!r} over {type(value).__name__} value {value!r}"
                )
            resolved[name] = list(value)
        return resolved

    def unmap(self, context: Mapping[str, Any]) -> BaseOperator:
        """The concrete operator for ``context["ti"].map_index`` (cross product, in argument order)."""
        map_index = context["ti"].map_index
        chosen = _pick(self.resolve_expand_input(context), map_index, self.task_id)
        if EXPAND_KWARGS in chosen:
            element = chosen.pop(EXPAND_KWARGS)
            if not isinstance(element, Mapping):
                raise DagDefinitionError(
                    f"task {self.task_id!r}: expand_kwargs() needs dicts, element {map_index} is {element!r}"
                )
            chosen.update(element)
        kwargs = dict(self.partial_kwargs)
        if self.expand_into is not None:
            kwargs[self.expand_into] = {**kwargs.get(self.expand_into, {}), **chosen}
        else:
            kwargs.update(chosen)
        kwargs["params"] = self.params
        with contexts.detached():
            op = self.operator_class(task_id=self.task_id, default_args=self.default_args, **kwargs)
        op._dag = self.dag
        op.task_group = self.task_group
        op.upstream_task_ids = set(self.upstream_task_ids)
        op.downstream_task_ids = set(self.downstream_task_ids)
        op.map_index = map_index
        return op


def _init_names(cls: type) -> list[str]:
    init = cls.__dict__.get("__init__")
    if init is None:
        return []
    return list(inspect.signature(getattr(init, "__wrapped__", init)).parameters)[1:]


def _pick(values: dict[str, list[Any]], map_index: int, task_id: str) -> dict[str, Any]:
    total = 1
    for items in values.values():
        total *= len(items)
    if not 0 <= map_index < total:
        raise DagDefinitionError(f"task {task_id!r}: map_index {map_index} is out of range (0..{total - 1})")
    chosen: dict[str, Any] = {}
    remainder = map_index
    for name in reversed(list(values)):
        items = values[name]
        remainder, position = divmod(remainder, len(items))
        chosen[name] = items[position]
    return {name: chosen[name] for name in values}
