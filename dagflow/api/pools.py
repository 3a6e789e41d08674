"""``/pools``: list, get, create, patch, delete (``default_pool`` cannot be deleted)."""

from __future__ import annotations

from pydantic import BaseModel, Field

from dagflow.api.common import Body, ListQuery, Query, api
from dagflow.exceptions import InvalidInput
from dagflow.services import pools as service
from dagflow.web.context import web_context

ERRORS = {404: "Not Found", 409: "Conflict", 422: "Invalid input"}


class PoolResponse(BaseModel):
    """A pool and its usage, in Airflow 3's fields."""

    name: str
    slots: int
    description: str | None = None
    include_deferred: bool
    occupied_slots: int
    running_slots: int
    queued_slots: int
    scheduled_slots: int
    open_slots: int
    deferred_slots: int


class PoolCollectionResponse(BaseModel):
    """A page of pools."""

    pools: list[PoolResponse]
    total_entries: int


class PoolBody(Body):
    """``POST /pools``."""

    name: str = Field(min_length=1, max_length=256)
    slots: int = Field(ge=0)
    description: str | None = None
    include_deferred: bool = False


class PoolPatchBody(Body):
    """``PATCH /pools/{pool_name}``."""

    pool: str | None = None
    slots: int | None = Field(default=None, ge=0)
    description: str | None = None
    include_deferred: bool | None = None


class MaskQuery(Query):
    """``update_mask``: the fields to change."""

    update_mask: list[str] = Field(default_factory=list)


def _response(row: service.PoolRecord) -> PoolResponse:
    return PoolResponse(
        name=row.pool,
        slots=row.slots,
        description=row.description,
        include_deferred=row.include_deferred,
        occupied_slots=row.running + row.queued + (row.deferred if row.include_deferred else 0),
        running_slots=row.running,
        queued_slots=row.queued,
        scheduled_slots=row.scheduled,
        open_slots=row.open_slots,
        deferred_slots=row.deferred,
    )


@api.get("/pools")
@api.input(ListQuery, location="query", arg_name="query")
@api.output(PoolCollectionResponse)
@api.doc(tags=["Pool"])
def get_pools(query: ListQuery) -> PoolCollectionResponse:
    """List pools with their usage."""
    rows = service.list_pools(web_context().db)
    part = query.slice()
    page = rows[part.offset : part.offset + part.limit]
    return PoolCollectionResponse(pools=[_response(r) for r in page], total_entries=len(rows))


@api.get("/pools/<pool_name>")
@api.output(PoolResponse)
@api.doc(tags=["Pool"], responses=ERRORS)
def get_pool(pool_name: str) -> PoolResponse:
    """One pool."""
    return _response(service.get_pool(web_context().db, pool_name))


@api.post("/pools")
@api.input(PoolBody, arg_name="body")
@api.output(PoolResponse, status_code=201)
@api.doc(tags=["Pool"], responses=ERRORS)
def post_pool(body: PoolBody) -> PoolResponse:
    """Create a pool (409 if the name is taken)."""
    from dagflow.exceptions import AlreadyExists, PoolNotFound

    db = web_context().db
    try:
        service.get_pool(db, body.name)
    except PoolNotFound:
        return _response(service.set_pool(db, body.name, body.slots, description=body.description))
    raise AlreadyExists(f"pool {body.name!r} exists already")


@api.patch("/pools/<pool_name>")
@api.input(PoolPatchBody, arg_name="body")
@api.input(MaskQuery, location="query", arg_name="query")
@api.output(PoolResponse)
@api.doc(tags=["Pool"], responses=ERRORS)
def patch_pool(pool_name: str, body: PoolPatchBody, query: MaskQuery) -> PoolResponse:
    """Change a pool's slots or description."""
    db = web_context().db
    current = service.get_pool(db, pool_name)
    if body.pool is not None and body.pool != pool_name:
        raise InvalidInput("a pool cannot be renamed")
    slots = body.slots if body.slots is not None else current.slots
    return _response(service.set_pool(db, pool_name, slots, description=body.description))


@api.delete("/pools/<pool_name>")
@api.output({}, status_code=204)
@api.doc(tags=["Pool"], responses=ERRORS)
def delete_pool(pool_name: str) -> tuple[str, int]:
    """Delete a pool."""
    service.delete_pool(web_context().db, pool_name)
    return "", 204
