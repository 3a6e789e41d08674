"""``GET /monitor/health`` and ``GET /version``: public, as in Airflow."""

from __future__ import annotations

from pydantic import BaseModel

import dagflow
from dagflow.api.common import api
from dagflow.services.health import health
from dagflow.web.context import web_context


class BaseInfoResponse(BaseModel):
    """A component's status."""

    status: str | None = None


class SchedulerInfoResponse(BaseInfoResponse):
    """The scheduler's status and latest heartbeat."""

    latest_scheduler_heartbeat: str | None = None


class DagProcessorInfoResponse(BaseInfoResponse):
    """The DAG processor's status and latest heartbeat."""

    latest_dag_processor_heartbeat: str | None = None


class TriggererInfoResponse(BaseInfoResponse):
    """The triggerer's status and latest heartbeat."""

    latest_triggerer_heartbeat: str | None = None


class HealthInfoResponse(BaseModel):
    """Airflow's health document."""

    metadatabase: BaseInfoResponse
    scheduler: SchedulerInfoResponse
    triggerer: TriggererInfoResponse
    dag_processor: DagProcessorInfoResponse | None = None


class VersionInfo(BaseModel):
    """The server's version."""

    version: str
    git_version: str | None = None


@api.get("/monitor/health")
@api.output(HealthInfoResponse)
@api.doc(tags=["Monitor"], security=[])
def get_health() -> HealthInfoResponse:
    """The metadata database's status and the latest heartbeat of the scheduler, DAG processor and triggerer."""
    context = web_context()
    report = health(context.settings, context.db)

    def beat(name: str) -> str | None:
        when = report.components[name].latest_heartbeat
        return None if when is None else when.isoformat()

    return HealthInfoResponse(
        metadatabase=BaseInfoResponse(status=report.metadatabase),
        scheduler=SchedulerInfoResponse(
            status=report.components["scheduler"].status, latest_scheduler_heartbeat=beat("scheduler")
        ),
        triggerer=TriggererInfoResponse(
            status=report.components["triggerer"].status, latest_triggerer_heartbeat=beat("triggerer")
        ),
        dag_processor=DagProcessorInfoResponse(
            status=report.components["dag_processor"].status, latest_dag_processor_heartbeat=beat("dag_processor")
        ),
    )


@api.get("/version")
@api.output(VersionInfo)
@api.doc(tags=["Version"], security=[])
def get_version() -> VersionInfo:
    """dagflow's version."""
    return VersionInfo(version=dagflow.__version__)
