"""``/backfills``: list, create (and ``dry_run``), get, pause, unpause, cancel, in Airflow 3's shape.

Creating stores one backfill; the scheduler creates its runs a few at a time
(``max_active_runs``). A paused backfill starts no new runs until unpaused; a cancelled one
is paused and completed at once (its queued runs fail, its running runs finish).
"""

from __future__ import annotations

from datetime import datetime
from typing import Any, Literal

from pydantic import BaseModel, Field

from dagflow.api.common import Body, ListQuery, api, check_dag, dag_id_arg, utc
from dagflow.api.dag_runs import check_conf_size
from dagflow.services import backfills as service
from dagflow.services.backfills import BackfillRecord
from dagflow.services.dag_access import CAN_EDIT, CAN_READ
from dagflow.web.auth import hidden_dags
from dagflow.web.context import web_context

ReprocessBehavior = Literal["failed", "completed", "none"]
_ERRORS = {404: "Not Found", 409: "Not in a state for this", 422: "Invalid input"}


class BackfillResponse(BaseModel):
    """A backfill."""

    id: int
    dag_id: str
    from_date: datetime
    to_date: datetime
    dag_run_conf: dict[str, Any]
    is_paused: bool
    reprocess_behavior: ReprocessBehavior
    max_active_runs: int
    created_at: datetime
    completed_at: datetime | None = None
    updated_at: datetime
    dag_display_name: str
    run_backwards: bool = False


class BackfillCollectionResponse(BaseModel):
    """A page of backfills."""

    backfills: list[BackfillResponse]
    total_entries: int


class BackfillPostBody(Body):
    """``POST /backfills`` (and ``/backfills/dry_run``)."""

    dag_id: str = Field(min_length=1, max_length=250)
    from_date: datetime
    to_date: datetime
    run_backwards: bool = False
    dag_run_conf: dict[str, Any] = Field(default_factory=dict)
    reprocess_behavior: ReprocessBehavior = "none"
    max_active_runs: int = Field(default=10, ge=1)
    run_on_latest_version: bool = True


class DryRunBackfillResponse(BaseModel):
    """An interval the backfill would run."""

    logical_date: datetime


class DryRunBackfillCollectionResponse(BaseModel):
    """The intervals a backfill would run (created or re-run)."""

    backfills: list[DryRunBackfillResponse]
    total_entries: int


class BackfillsQuery(ListQuery):
    """``dag_id`` filter."""

    dag_id: str | None = Field(default=None, max_length=250)


def backfill_response(b: BackfillRecord) -> BackfillResponse:
    """A ``BackfillResponse`` from the service record."""
    return BackfillResponse(
        id=b.id,
        dag_id=b.dag_id,
        from_date=b.from_date,
        to_date=b.to_date,
        dag_run_conf=b.dag_run_conf,
        is_paused=b.is_paused,
        reprocess_behavior=b.reprocess_behavior,  # type: ignore[arg-type]
        max_active_runs=b.max_active_runs,
        created_at=b.created_at,
        completed_at=b.completed_at,
        updated_at=b.completed_at or b.created_at,
        dag_display_name=b.dag_id,
        run_backwards=b.run_backwards,
    )


def _plan(body: BackfillPostBody, *, dry_run: bool) -> service.BackfillPlan:
    context = web_context()
    dag_id = check_dag(dag_id_arg(body.dag_id), CAN_READ if dry_run else CAN_EDIT)
    check_conf_size(body.dag_run_conf, context.settings.api.max_conf_bytes)
    return service.create_backfill(
        context.settings,
        context.db,
        dag_id,
        utc(body.from_date),  # type: ignore[arg-type]
        utc(body.to_date),  # type: ignore[arg-type]
        reprocess_behavior=body.reprocess_behavior,
        max_active_runs=body.max_active_runs,
        run_backwards=body.run_backwards,
        conf=body.dag_run_conf,
        dry_run=dry_run,
    )


@api.get("/backfills")
@api.input(BackfillsQuery, location="query", arg_name="query")
@api.output(BackfillCollectionResponse)
@api.doc(tags=["Backfill"])
def list_backfills(query: BackfillsQuery) -> BackfillCollectionResponse:
    """Backfills (of one DAG with ``dag_id``), paged and ordered."""
    dag_id = None if query.dag_id is None else dag_id_arg(query.dag_id)
    page = service.query_backfills(web_context().db, query.slice(), dag_id=dag_id, hidden_dag_ids=hidden_dags())
    return BackfillCollectionResponse(backfills=[backfill_response(b) for b in page.items], total_entries=page.total)


@api.post("/backfills")
@api.input(BackfillPostBody, arg_name="body")
@api.output(BackfillResponse)
@api.doc(tags=["Backfill"], responses=_ERRORS)
def create_backfill(body: BackfillPostBody) -> BackfillResponse:
    """Create a backfill of a DAG over ``[from_date, to_date]``; the scheduler carries it out."""
    plan = _plan(body, dry_run=False)
    assert plan.backfill_id is not None
    return backfill_response(service.get_backfill(web_context().db, plan.backfill_id))


@api.post("/backfills/dry_run")
@api.input(BackfillPostBody, arg_name="body")
@api.output(DryRunBackfillCollectionResponse)
@api.doc(tags=["Backfill"], responses=_ERRORS)
def create_backfill_dry_run(body: BackfillPostBody) -> DryRunBackfillCollectionResponse:
    """The logical dates a backfill with this body would run (created or re-run); nothing is written."""
    steps = _plan(body, dry_run=True).to_run
    items = [DryRunBackfillResponse(logical_date=s.logical_date) for s in steps]
    return DryRunBackfillCollectionResponse(backfills=items, total_entries=len(items))


def _one(backfill_id: int, action: str) -> BackfillRecord:
    record = service.get_backfill(web_context().db, backfill_id)
    check_dag(record.dag_id, action)
    return record


@api.get("/backfills/<int:backfill_id>")
@api.output(BackfillResponse)
@api.doc(tags=["Backfill"], responses=_ERRORS)
def get_backfill(backfill_id: int) -> BackfillResponse:
    """One backfill."""
    return backfill_response(_one(backfill_id, CAN_READ))


@api.put("/backfills/<int:backfill_id>/pause")
@api.output(BackfillResponse)
@api.doc(tags=["Backfill"], responses=_ERRORS)
def pause_backfill(backfill_id: int) -> BackfillResponse:
    """Pause a backfill: no new runs until unpaused (its active runs go on)."""
    _one(backfill_id, CAN_EDIT)
    return backfill_response(service.set_backfill_paused(web_context().db, backfill_id, paused=True))


@api.put("/backfills/<int:backfill_id>/unpause")
@api.output(BackfillResponse)
@api.doc(tags=["Backfill"], responses=_ERRORS)
def unpause_backfill(backfill_id: int) -> BackfillResponse:
    """Let a paused backfill start runs again."""
    _one(backfill_id, CAN_EDIT)
    return backfill_response(service.set_backfill_paused(web_context().db, backfill_id, paused=False))


@api.put("/backfills/<int:backfill_id>/cancel")
@api.output(BackfillResponse)
@api.doc(tags=["Backfill"], responses=_ERRORS)
def cancel_backfill(backfill_id: int) -> BackfillResponse:
    """Cancel a backfill: paused and completed now; its queued runs fail, its running runs finish."""
    _one(backfill_id, CAN_EDIT)
    db = web_context().db
    service.cancel_backfill(db, backfill_id)
    return backfill_response(service.get_backfill(db, backfill_id))
