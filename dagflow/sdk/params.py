"""DAG and task params: ``Param`` (a default plus a JSON schema) and ``ParamsDict``."""

from __future__ import annotations

import copy
import json
from collections.abc import Iterator, Mapping, MutableMapping
from typing import TYPE_CHECKING, Any

from dagflow.exceptions import ParamValidationError
from dagflow.sdk.templating import Resolvable

if TYPE_CHECKING:
    from dagflow.sdk.dag import DAG


class _NotSet:
    """Marker for "no value" (None is a valid param value)."""

    _instance: _NotSet | None = None

    def __new__(cls) -> _NotSet:
        if cls._instance is None:
            cls._instance = super().__new__(cls)
        return cls._instance

    def __repr__(self) -> str:
        return "NOTSET"

    def __bool__(self) -> bool:
        return False


NOTSET: Any = _NotSet()


class Param:
    """A param's default value and JSON-schema (``type``, ``enum``, ``minimum``, ... keywords)."""

    def __init__(self, default: Any = NOTSET, description: str | None = None, **schema: Any) -> None:
        self.value = default
        self.description = description
        self.schema = schema

    def resolve(self, value: Any = NOTSET, *, name: str = "param") -> Any:
        """The value to use (``value`` if given, else the default), checked against the schema."""
        final = self.value if value is NOTSET else value
        if final is NOTSET:
            raise ParamValidationError(f"param {name!r}: no value given and it has no default")
        if self.schema:
            _validate(final, self.schema, name)
        return final

    def dump(self) -> dict[str, Any]:
        """JSON-safe form: ``{"value", "description", "schema"}`` (value None when unset)."""
        return {
            "value": None if self.value is NOTSET else self.value,
            "description": self.description,
            "schema": dict(self.schema),
        }

    @property
    def has_value(self) -> bool:
        """True when the param has a default."""
        return self.value is not NOTSET

    def __eq__(self, other: object) -> bool:
        if not isinstance(other, Param):
            return NotImplemented
        return (self.value, self.description, self.schema) == (other.value, other.description, other.schema)

    def __repr__(self) -> str:
        return f"Param({self.value!r}, schema={self.schema!r})"


def _validate(value: Any, schema: Mapping[str, Any], name: str) -> None:
    import jsonschema  # only when a schema is actually checked

    validator_cls = jsonschema.validators.validator_for(schema)
    validator = validator_cls(schema, format_checker=validator_cls.FORMAT_CHECKER)
    errors = sorted(validator.iter_errors(value), key=lambda e: list(e.path))
    if errors:
        where = "".join(f"[{p!r}]" for p in errors[0].path)
        message = errors[0].message.replace("\n", " ")
        raise ParamValidationError(f"param {name!r}{where}: {message}")


class ParamsDict(MutableMapping[str, Any]):
    """Params by name; reading gives the value, ``get_param`` the ``Param``."""

    def __init__(self, params: Mapping[str, Any] | None = None) -> None:
        self._params: dict[str, Param] = {}
        for key, value in (params or {}).items():
            self[key] = value

    def __setitem__(self, key: str, value: Any) -> None:
        if isinstance(value, Param):
            self._params[key] = copy.copy(value)
        elif key in self._params:
            self._params[key] = Param(value, self._params[key].description, **self._params[key].schema)
        else:
            self._params[key] = Param(value)

    def __getitem__(self, key: str) -> Any:
        return self._params[key].value

    def __delitem__(self, key: str) -> None:
        del self._params[key]

    def __iter__(self) -> Iterator[str]:
        return iter(self._params)

    def __len__(self) -> int:
        return len(self._params)

    def update(self, other: Any = (), /, **kwargs: Any) -> None:
        """Merge params; ``Param`` objects of a ``ParamsDict`` are kept (not just their values)."""
        if isinstance(other, ParamsDict):
            for key, param in other._params.items():
                self._params[key] = copy.copy(param)
        else:
            super().update(other, **kwargs)

    def get_param(self, key: str) -> Param:
        """The ``Param`` object for ``key``."""
        return self._params[key]

    def items_params(self) -> Iterator[tuple[str, Param]]:
        """Pairs of name and ``Param``."""
        return iter(self._params.items())

    def validate(self) -> dict[str, Any]:
        """Every param's value checked against its schema; returns plain values."""
        return self.resolve(None)

    def resolve(self, conf: Mapping[str, Any] | None = None) -> dict[str, Any]:
        """The params of a run: ``conf`` overrides defaults; all validated; extra conf keys kept."""
        conf = dict(conf or {})
        values = {name: param.resolve(conf.pop(name, NOTSET), name=name) for name, param in self._params.items()}
        values.update(conf)
        return values

    def dump(self) -> dict[str, dict[str, Any]]:
        """JSON-safe form of every param (see ``Param.dump``)."""
        return {name: param.dump() for name, param in self._params.items()}

    def __copy__(self) -> ParamsDict:
        clone = ParamsDict()
        clone.update(self)
        return clone

    def __repr__(self) -> str:
        return f"ParamsDict({json.dumps({k: p.dump()['value'] for k, p in self._params.items()}, default=repr)})"


class DagParam(Resolvable):
    """A ``@dag`` function argument: stands for ``params[name]`` of the running DAG run."""

    def __init__(self, dag: DAG, name: str, default: Any = NOTSET) -> None:
        self.dag = dag
        self.name = name
        self.default = default

    def resolve(self, context: Mapping[str, Any]) -> Any:
        """The param's value in the running task's context."""
        params = context.get("params") or {}
        if self.name in params:
            return params[self.name]
        if self.default is not NOTSET:
            return self.default
        raise ParamValidationError(f"param {self.name!r} has no value in this run")

    def __repr__(self) -> str:
        return f"DagParam({self.name!r})"
