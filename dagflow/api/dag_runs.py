"""``/dags/{dag_id}/dagRuns``: list (``~`` for every DAG), get, trigger with conf, patch state and note, delete, clear."""

from __future__ import annotations

import json
from datetime import datetime
from typing import Any, Literal

from pydantic import BaseModel, Field

from dagflow.api.common import ID_ERRORS, Body, ListQuery, api, dag_id_arg, run_id_arg, utc
from dagflow.exceptions import InvalidConf
from dagflow.services import dag_runs as service
from dagflow.services.records import RunRecord
from dagflow.state import DagRunState, DagRunTriggeredByType
from dagflow.web.auth import hidden_dags
from dagflow.web.context import web_context

RunState = Literal["queued", "running", "success", "failed"]


class DAGRunResponse(BaseModel):
    """A DAG run, in Airflow 3's fields."""

    dag_run_id: str
    dag_id: str
    dag_display_name: str
    logical_date: datetime | None = None
    queued_at: datetime | None = None
    start_date: datetime | None = None
    end_date: datetime | None = None
    duration: float | None = None
    data_interval_start: datetime | None = None
    data_interval_end: datetime | None = None
    run_after: datetime
    last_scheduling_decision: datetime | None = None
    run_type: str
    state: RunState
    triggered_by: str | None = None
    triggering_user_name: str | None = None
    conf: dict[str, Any] | None = None
    note: str | None = None
    dag_versions: list[dict[str, Any]] = Field(default_factory=list)
    bundle_version: str | None = None


class DAGRunCollectionResponse(BaseModel):
    """A page of runs."""

    dag_runs: list[DAGRunResponse]
    total_entries: int


class TriggerDAGRunPostBody(Body):
    """``POST /dags/{dag_id}/dagRuns``: Airflow 3 requires ``logical_date`` (it may be null)."""

    dag_run_id: str | None = None
    logical_date: datetime | None = None
    data_interval_start: datetime | None = None
    data_interval_end: datetime | None = None
    run_after: datetime | None = None
    conf: dict[str, Any] | None = None
    note: str | None = Field(default=None, max_length=1000)


class DAGRunPatchBody(Body):
    """``PATCH``: a new state and/or note."""

    state: Literal["queued", "success", "failed"] | None = None
    note: str | None = Field(default=None, max_length=1000)


class DAGRunClearBody(Body):
    """``POST .../clear``: clear the run's task instances (``only_failed``), or just list them (``dry_run``)."""

    dry_run: bool = True
    only_failed: bool = False


class RunsQuery(ListQuery):
    """``GET /dags/{dag_id}/dagRuns`` filters."""

    state: list[str] = Field(default_factory=list)
    run_type: list[str] = Field(default_factory=list)
    logical_date_gte: datetime | None = None
    logical_date_lte: datetime | None = None
    start_date_gte: datetime | None = None
    start_date_lte: datetime | None = None
    end_date_gte: datetime | None = None
    end_date_lte: datetime | None = None
    run_id_pattern: str | None = None


def run_response(run: RunRecord) -> DAGRunResponse:
    """A ``DAGRunResponse`` from a service record."""
    return DAGRunResponse(
        dag_run_id=run.run_id,
        dag_id=run.dag_id,
        dag_display_name=run.dag_id,
        logical_date=run.logical_date,
        queued_at=run.queued_at,
        start_date=run.start_date,
        end_date=run.end_date,
        duration=run.duration,
        data_interval_start=run.data_interval_start,
        data_interval_end=run.data_interval_end,
        run_after=run.queued_at or run.logical_date,
        last_scheduling_decision=run.last_scheduling_decision,
        run_type=run.run_type,
        state=run.state,  # type: ignore[arg-type]
        triggered_by=run.triggered_by,
        conf=run.conf,
        note=run.note,
    )


@api.get("/dags/<dag_id>/dagRuns")
@api.input(RunsQuery, location="query", arg_name="query")
@api.output(DAGRunCollectionResponse)
@api.doc(tags=["DagRun"], responses=ID_ERRORS)
def get_dag_runs(dag_id: str, query: RunsQuery) -> DAGRunCollectionResponse:
    """List runs of a DAG (``~`` for every DAG), filtered by state, type and date ranges."""
    bad = [s for s in query.state if s not in DagRunState._value2member_map_]
    if bad:
        from dagflow.exceptions import InvalidInput

        raise InvalidInput(f"invalid run state {bad[0]!r}: use one of {', '.join(s.value for s in DagRunState)}")
    flt = service.RunFilter(
        dag_id=None if dag_id == "~" else dag_id_arg(dag_id),
        states=tuple(query.state),
        run_types=tuple(query.run_type),
        logical_date_gte=utc(query.logical_date_gte),
        logical_date_lte=utc(query.logical_date_lte),
        start_date_gte=utc(query.start_date_gte),
        start_date_lte=utc(query.start_date_lte),
        end_date_gte=utc(query.end_date_gte),
        end_date_lte=utc(query.end_date_lte),
        run_id_pattern=query.run_id_pattern,
        hidden_dag_ids=hidden_dags(),
    )
    page = service.query_runs(web_context().db, flt, query.slice())
    return DAGRunCollectionResponse(dag_runs=[run_response(r) for r in page.items], total_entries=page.total)


@api.get("/dags/<dag_id>/dagRuns/<dag_run_id>")
@api.output(DAGRunResponse)
@api.doc(tags=["DagRun"], responses=ID_ERRORS)
def get_dag_run(dag_id: str, dag_run_id: str) -> DAGRunResponse:
    """One run."""
    return run_response(service.get_run(web_context().db, dag_id_arg(dag_id), run_id_arg(dag_run_id)))


@api.post("/dags/<dag_id>/dagRuns")
@api.input(TriggerDAGRunPostBody, arg_name="body")
@api.output(DAGRunResponse)
@api.doc(tags=["DagRun"], responses={**ID_ERRORS, 409: "A run with that id or logical date exists"})
def trigger_dag_run(dag_id: str, body: TriggerDAGRunPostBody) -> DAGRunResponse:
    """Create a queued manual run; ``conf`` is checked against the DAG's params and ``api.max_conf_bytes``."""
    context = web_context()
    dag_id_arg(dag_id)
    if body.dag_run_id is not None:
        run_id_arg(body.dag_run_id)
    check_conf_size(body.conf, context.settings.api.max_conf_bytes)
    created = service.trigger_dag(
        context.settings,
        context.db,
        dag_id,
        conf=body.conf,
        run_id=body.dag_run_id,
        logical_date=utc(body.logical_date),
        triggered_by=DagRunTriggeredByType.REST_API,
    )
    if body.note:
        return run_response(service.set_run_note(context.db, dag_id, created.run_id, body.note))
    return run_response(created)


def check_conf_size(conf: dict[str, Any] | None, limit: int) -> None:
    if conf is not None and len(json.dumps(conf).encode()) > limit:
        raise InvalidConf(f"conf is larger than api.max_conf_bytes ({limit} bytes)")


@api.patch("/dags/<dag_id>/dagRuns/<dag_run_id>")
@api.input(DAGRunPatchBody, arg_name="body")
@api.output(DAGRunResponse)
@api.doc(tags=["DagRun"], responses=ID_ERRORS)
def patch_dag_run(dag_id: str, dag_run_id: str, body: DAGRunPatchBody) -> DAGRunResponse:
    """Mark a run queued, success or failed, and/or set its note."""
    db = web_context().db
    dag_id, dag_run_id = dag_id_arg(dag_id), run_id_arg(dag_run_id)
    run = service.get_run(db, dag_id, dag_run_id)
    if body.state is not None:
        run = service.mark_run(db, dag_id, dag_run_id, DagRunState(body.state))
    if "note" in body.model_fields_set:
        run = service.set_run_note(db, dag_id, dag_run_id, body.note)
    return run_response(run)


@api.delete("/dags/<dag_id>/dagRuns/<dag_run_id>")
@api.output({}, status_code=204)
@api.doc(tags=["DagRun"], responses=ID_ERRORS)
def delete_dag_run(dag_id: str, dag_run_id: str) -> tuple[str, int]:
    """Delete a run with its task instances, XComs and history."""
    service.delete_run(web_context().db, dag_id_arg(dag_id), run_id_arg(dag_run_id))
    return "", 204
