"""The pieces the layer's modules share: the real-Airflow check, unsupported names, ``task``."""

from __future__ import annotations

import importlib
import importlib.metadata
import inspect
from collections.abc import Callable, Mapping
from typing import Any

from dagflow.sdk.decorators import TaskDecoratorCollection

#: Distributions of Apache Airflow that provide a real ``airflow`` package.
REAL_AIRFLOW_DISTRIBUTIONS = ("apache-airflow-core", "apache-airflow")

#: ``Context`` as a type: the dict a task receives (``ti``, ``ds``, ``params``...).
Context = dict[str, Any]


class UnsupportedAirflowName(ImportError):
    """An Airflow name that dagflow's Airflow layer does not provide."""


def refuse_real_airflow() -> None:
    """Raise one clear ImportError if Apache Airflow is installed in this environment too."""
    for dist in REAL_AIRFLOW_DISTRIBUTIONS:
        try:
            version = importlib.metadata.version(dist)
        except importlib.metadata.PackageNotFoundError:
            continue
        raise ImportError(
            f"Apache Airflow {version} ({dist}) is installed here too: dagflow's Airflow compatibility layer "
            "will not shadow it; use separate environments (pip uninstall dagflow-airflow-compat)"
        )


def available(module: str, names: list[str]) -> dict[str, Any]:
    """Those of ``names`` that dagflow's ``module`` provides (features that land later map by themselves)."""
    try:
        source = importlib.import_module(module)
    except ImportError:
        return {}
    return {name: getattr(source, name) for name in names if hasattr(source, name)}


def unsupported_names(module: str, names: Mapping[str, str]) -> Callable[[str], Any]:
    """A module ``__getattr__``: known Airflow names fail with why; others are plain AttributeErrors."""

    def __getattr__(name: str) -> Any:  # noqa: N807 - a module __getattr__
        if name in names:
            raise UnsupportedAirflowName(f"{module}.{name} is not supported by dagflow: {names[name]}")
        raise AttributeError(f"module {module!r} has no attribute {name!r}")

    return __getattr__


def accepts_deferrable(cls: type[Any], *, default: bool = False) -> type[Any]:
    """``cls`` if dagflow's class takes ``deferrable``; else a subclass that runs a deferrable
    request in reschedule mode (the worker slot is free between pokes; the final states are the same)."""
    names = {
        name
        for klass in cls.__mro__
        if "__init__" in vars(klass)
        for name in inspect.signature(
            getattr(vars(klass)["__init__"], "__wrapped__", vars(klass)["__init__"])
        ).parameters
    }
    if "deferrable" in names and not default:
        return cls

    def __init__(self: Any, *, deferrable: bool = default, **kwargs: Any) -> None:  # noqa: N807
        if deferrable and "deferrable" in names:
            kwargs["deferrable"] = True
        elif deferrable:
            kwargs.setdefault("mode", "reschedule")
        cls.__init__(self, **kwargs)

    return type(cls.__name__, (cls,), {"__init__": __init__, "__doc__": cls.__doc__})


_UNSUPPORTED_TASK_KINDS = {
    "docker": "@task.docker needs the Docker provider, which dagflow does not map",
    "kubernetes": "@task.kubernetes needs the Kubernetes provider, which dagflow does not map",
    "pyspark": "@task.pyspark needs the Spark provider, which dagflow does not map",
    "branch_virtualenv": "@task.branch_virtualenv is not supported by dagflow's Airflow layer",
    "branch_external_python": "@task.branch_external_python is not supported by dagflow's Airflow layer",
    "run_if": "@task.run_if is not supported by dagflow's Airflow layer",
    "skip_if": "@task.skip_if is not supported by dagflow's Airflow layer",
}


class AirflowTaskDecorators(TaskDecoratorCollection):
    """dagflow's ``task`` (``@task``, ``.branch``, ``.bash``, ``.sensor``, ``.short_circuit``); other
    ``@task.<kind>`` name what is missing."""

    def __getattr__(self, name: str) -> Any:
        if name in _UNSUPPORTED_TASK_KINDS:
            raise UnsupportedAirflowName(_UNSUPPORTED_TASK_KINDS[name])
        raise AttributeError(f"@task.{name} is not an Airflow task decorator known to dagflow")


task = AirflowTaskDecorators()
