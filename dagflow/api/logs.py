"""``GET .../taskInstances/{task_id}/logs/{try_number}``: a try's log as JSON lines or text, with a tail token.

As Airflow's: ``Accept: text/plain`` gives the text; otherwise ``{"content": [{"event": line},
...], "continuation_token": ...}``. The token (signed with the secret key, so a client cannot
forge an offset) is returned while the try may still write; pass it back as ``?token=`` to
get only the lines written since.
"""

from __future__ import annotations

from typing import Any

from flask import Response, current_app, request
from itsdangerous import BadSignature, URLSafeSerializer
from pydantic import BaseModel, Field

from dagflow.api.common import ID_ERRORS, Query, api, dag_id_arg, run_id_arg, task_id_arg
from dagflow.exceptions import InvalidInput, TaskInstanceNotFound
from dagflow.services.task_instances import get_task_instance
from dagflow.services.task_logs import task_log
from dagflow.state import FINISHED
from dagflow.web.context import web_context

_SALT = "dagflow-log-token"


class StructuredLogMessage(BaseModel):
    """One log line."""

    event: str
    timestamp: str | None = None


class TaskInstancesLogResponse(BaseModel):
    """A log (or the part after a continuation token)."""

    content: list[StructuredLogMessage]
    continuation_token: str | None = None


class LogQuery(Query):
    """``map_index``, ``full_content`` and the ``token`` of a previous call."""

    map_index: int = -1
    full_content: bool = False
    token: str | None = Field(default=None, max_length=2000)


def _serializer() -> URLSafeSerializer:
    return URLSafeSerializer(current_app.config["SECRET_KEY"], salt=_SALT)


def _offset(token: str | None) -> int:
    if not token:
        return 0
    try:
        data: Any = _serializer().loads(token)
    except BadSignature as exc:
        raise InvalidInput("bad continuation token: use only the tokens the API returns") from exc
    offset = data.get("offset") if isinstance(data, dict) else None
    if not isinstance(offset, int) or offset < 0:
        raise InvalidInput("bad continuation token: use only the tokens the API returns")
    return offset


@api.get("/dags/<dag_id>/dagRuns/<dag_run_id>/taskInstances/<task_id>/logs/<int:try_number>")
@api.input(LogQuery, location="query", arg_name="query")
@api.output(TaskInstancesLogResponse)
@api.doc(tags=["Task Instance"], responses=ID_ERRORS)
def get_log(dag_id: str, dag_run_id: str, task_id: str, try_number: int, query: LogQuery) -> Any:
    """The log of one try; ``Accept: text/plain`` for text, else JSON lines with a continuation token."""
    context = web_context()
    dag_id, dag_run_id, task_id = dag_id_arg(dag_id), run_id_arg(dag_run_id), task_id_arg(task_id)
    ti = get_task_instance(context.db, dag_id, dag_run_id, task_id, query.map_index)
    if try_number < 1 or try_number > ti.try_number:
        raise TaskInstanceNotFound(f"task instance {task_id!r} of run {dag_run_id!r} has no try {try_number}")
    offset = 0 if query.full_content else _offset(query.token)
    text = task_log(  # only the bytes after the token's offset are read
        context.settings,
        context.db,
        dag_id=dag_id,
        task_id=task_id,
        run_id=dag_run_id,
        map_index=query.map_index,
        try_number=try_number,
        offset=offset,
    )
    new = text
    if request.accept_mimetypes.best_match(["application/json", "text/plain"]) == "text/plain":
        return Response(new, mimetype="text/plain")
    ended = try_number < ti.try_number or (ti.state is not None and ti.state in {s.value for s in FINISHED})
    token = None if ended else _serializer().dumps({"offset": offset + len(new.encode())})
    lines = [StructuredLogMessage(event=line) for line in new.splitlines()]
    return TaskInstancesLogResponse(content=lines, continuation_token=token)
