"""The check that dagflow's Airflow layer (``dagflow[airflow-compat]``) is not installed next to Apache Airflow.

Both provide a top-level ``airflow`` package; with both installed, which one a DAG file gets
depends on install order. dagflow refuses to start rather than guess.
"""

from __future__ import annotations

import importlib.metadata

COMPAT_DISTRIBUTION = "dagflow-airflow-compat"
AIRFLOW_DISTRIBUTIONS = ("apache-airflow-core", "apache-airflow")


def _version(distribution: str) -> str | None:
    try:
        return importlib.metadata.version(distribution)
    except importlib.metadata.PackageNotFoundError:
        return None


def airflow_conflict() -> str | None:
    """One line saying why dagflow refuses to run, if the layer and a real Airflow are both installed."""
    if _version(COMPAT_DISTRIBUTION) is None:
        return None
    for distribution in AIRFLOW_DISTRIBUTIONS:
        version = _version(distribution)
        if version is not None:
            return (
                f"dagflow[airflow-compat] and Apache Airflow {version} ({distribution}) are both installed; "
                "both provide the `airflow` package: use separate environments "
                f"(pip uninstall {COMPAT_DISTRIBUTION} or {distribution})"
            )
    return None
