"""``/importErrors``: DAG files that failed to import, with the error."""

from __future__ import annotations

from datetime import datetime

from pydantic import BaseModel

from dagflow.api.common import ListQuery, api
from dagflow.services import dags as service
from dagflow.services.dags import ImportErrorRecord
from dagflow.web.auth import hidden_dags
from dagflow.web.context import web_context


class ImportErrorResponse(BaseModel):
    """One file's import error."""

    import_error_id: int
    timestamp: datetime
    filename: str
    bundle_name: str | None = None
    stack_trace: str


class ImportErrorCollectionResponse(BaseModel):
    """A page of import errors."""

    import_errors: list[ImportErrorResponse]
    total_entries: int


def _response(e: ImportErrorRecord) -> ImportErrorResponse:
    return ImportErrorResponse(
        import_error_id=e.id,
        timestamp=e.timestamp or datetime.fromtimestamp(0).astimezone(),
        filename=e.filename,
        stack_trace=e.stack_trace,
    )


@api.get("/importErrors")
@api.input(ListQuery, location="query", arg_name="query")
@api.output(ImportErrorCollectionResponse)
@api.doc(tags=["Import Error"])
def get_import_errors(query: ListQuery) -> ImportErrorCollectionResponse:
    """List DAG files that failed to import."""
    page = service.query_import_errors(web_context().db, query.slice(), hidden_dag_ids=hidden_dags())
    return ImportErrorCollectionResponse(import_errors=[_response(e) for e in page.items], total_entries=page.total)


@api.get("/importErrors/<int:import_error_id>")
@api.output(ImportErrorResponse)
@api.doc(tags=["Import Error"], responses={404: "Not Found"})
def get_import_error(import_error_id: int) -> ImportErrorResponse:
    """One import error."""
    return _response(service.get_import_error(web_context().db, import_error_id))
