"""``@dag``: a function whose call builds a DAG; its arguments become DAG params."""

from __future__ import annotations

import functools
import inspect
from collections.abc import Callable
from typing import Any, overload

from dagflow.exceptions import DagDefinitionError
from dagflow.sdk.dag import DAG
from dagflow.sdk.params import DagParam

_VARIADIC = (inspect.Parameter.VAR_POSITIONAL, inspect.Parameter.VAR_KEYWORD)


@overload
def dag(dag_id: Callable[..., Any], /) -> Callable[..., DAG]: ...
@overload
def dag(dag_id: str | None = None, /, **dag_kwargs: Any) -> Callable[[Callable[..., Any]], Callable[..., DAG]]: ...
def dag(dag_id: Any = None, /, **dag_kwargs: Any) -> Any:
    """Decorate a function that defines tasks; calling it returns the ``DAG`` (id: function name)."""
    if callable(dag_id):
        return _make_factory(dag_id, None, {})
    if "dag_id" in dag_kwargs:
        dag_id = dag_kwargs.pop("dag_id")
    return lambda fn: _make_factory(fn, dag_id, dag_kwargs)


def _make_factory(fn: Callable[..., Any], dag_id: str | None, dag_kwargs: dict[str, Any]) -> Callable[..., DAG]:
    signature = inspect.signature(fn)

    @functools.wraps(fn)
    def factory(*args: Any, **kwargs: Any) -> DAG:
        bound = signature.bind_partial(*args, **kwargs)
        bound.apply_defaults()
        options = dict(dag_kwargs)
        options.setdefault("doc_md", fn.__doc__)
        with DAG(dag_id or fn.__name__, **options) as new_dag:
            new_dag.fileloc = inspect.getsourcefile(fn) or fn.__code__.co_filename
            names = [n for n, p in signature.parameters.items() if p.kind not in _VARIADIC]
            new_dag.params.update({n: bound.arguments[n] for n in names if n in bound.arguments})
            missing = [n for n in names if n not in new_dag.params]
            if missing:
                raise DagDefinitionError(
                    f"@dag {fn.__name__}: argument(s) {', '.join(missing)} need a default or a DAG param"
                )
            fn(**{name: DagParam(new_dag, name, new_dag.params[name]) for name in names})
        return new_dag

    return factory
