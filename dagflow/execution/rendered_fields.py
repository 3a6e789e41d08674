"""A try's rendered template fields: masked where they are rendered, written with a write the try makes anyway.

The task process renders the fields and masks them with the try's masker (it knows the
secrets the templates read), then hands them to whoever records the try: over the result
channel to its supervisor, or, in-process, to the direct recorder. They are written in the
same transaction as the try's outcome (``record.record_result``), or by the supervisor's
next heartbeat if the try is still running then, so the UI shows them while a long try
runs; a try killed after rendering keeps them (the supervisor records its end with them).
No write transaction of its own: that was one of the three a no-op try made.
"""

from __future__ import annotations

import functools
from collections.abc import Mapping
from datetime import datetime
from typing import TYPE_CHECKING, Any

from dagflow.models.rendered_fields import RenderedTaskInstanceFields
from dagflow.serialization.from_sdk import json_safe

if TYPE_CHECKING:
    from sqlalchemy.engine import Connection

    from dagflow.secrets.masker import SecretsMasker

#: Field name -> rendered value (JSON, secrets masked), as stored for the UI.
RenderedFields = Mapping[str, Any]


def masked_rendered_fields(task: Any, masker: SecretsMasker) -> dict[str, Any]:
    """The task's ``template_fields`` as rendered, made JSON-safe, secrets masked."""
    return {
        name: masker.redact(json_safe(getattr(task, name, None)), name) for name in getattr(task, "template_fields", ())
    }


@functools.cache
def _upsert(dialect: str) -> Any:
    """``INSERT … ON CONFLICT (ti_id) DO UPDATE`` of a rendered-fields row (SQLite and PostgreSQL)."""
    from sqlalchemy.dialects import postgresql, sqlite

    table = RenderedTaskInstanceFields.__table__
    insert = postgresql.insert(table) if dialect == "postgresql" else sqlite.insert(table)
    return insert.on_conflict_do_update(
        index_elements=[table.c.ti_id],
        set_={name: insert.excluded[name] for name in ("try_number", "rendered_fields", "updated_at")},
    )


def needs_row(try_number: int, fields: RenderedFields) -> bool:
    """False for the first try of an operator with no template fields: it writes no row, and
    the readers show such a try as having rendered nothing (``services.rendered``). A later
    try always writes, replacing what an earlier try (of another version of the task) left."""
    return bool(fields) or try_number > 1


def write_rendered_fields(
    connection: Connection, *, ti_id: int, try_number: int, fields: RenderedFields, now: datetime
) -> None:
    """Replace the task instance's rendered-fields row with this try's (inside the caller's
    transaction), unless it needs none (``needs_row``)."""
    if not needs_row(try_number, fields):
        return
    values = {"ti_id": ti_id, "try_number": try_number, "rendered_fields": dict(fields), "updated_at": now}
    connection.execute(_upsert(connection.dialect.name), values)
