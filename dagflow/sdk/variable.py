"""``Variable.get``: read a Variable from task code (Airflow's name), through the task runtime."""

from __future__ import annotations

from typing import Any

from dagflow.exceptions import VariableNotFound
from dagflow.sdk import runtime

_MISSING: Any = object()


class Variable:
    """Variables are stored in the metadata DB; tasks read them with ``Variable.get``."""

    @staticmethod
    def get(key: str, default: Any = _MISSING, deserialize_json: bool = False, **kwargs: Any) -> Any:
        """The value of ``key`` (parsed as JSON with ``deserialize_json``); ``default`` if missing, else an error."""
        default = kwargs.pop("default_var", default)
        if kwargs:
            raise TypeError(f"Variable.get() got unexpected arguments: {', '.join(sorted(kwargs))}")
        try:
            return runtime.current().get_variable(key, deserialize_json=deserialize_json)
        except VariableNotFound:
            if default is _MISSING:
                raise
            return default
