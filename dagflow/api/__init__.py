"""The REST API under ``/api/v2``, in Airflow 3's shape: one module per resource, views a few lines long.

A view parses its input (pydantic models, which also make the OpenAPI document), calls
one service and returns a pydantic response model in Airflow's field names. Permissions
are declared in ``dagflow.web.permissions``, errors mapped in ``dagflow.web.errors``.
May import ``dagflow.web`` and ``dagflow.services`` (and below); never ``dagflow.www``,
``dagflow.webapp`` or ``dagflow.cli``.
"""

from __future__ import annotations

from importlib import import_module

from apiflask import APIFlask

#: Resource modules; each adds its views to ``dagflow.api.common.api``.
RESOURCES: tuple[str, ...] = (
    "monitor",
    "dags",
    "dag_runs",
    "task_instances",
    "logs",
    "import_errors",
    "pools",
    "variables",
    "connections",
    "tasks",
    "xcoms",
    "backfills",
    "approvals",
    "task_switches",
    "sla_state_store",
    "event_logs",
    "assets",
)


def register_api(app: APIFlask) -> None:
    """Load every resource module and register the ``/api/v2`` blueprint on ``app``."""
    from dagflow.api.common import api

    for name in RESOURCES:
        import_module(f"dagflow.api.{name}")
    app.register_blueprint(api)
