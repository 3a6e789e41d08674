"""What a task instance's template fields rendered to on its latest try, as the worker stored them (masked)."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any

import sqlalchemy as sa

from dagflow.db import Database
from dagflow.models import RenderedTaskInstanceFields, TaskInstance
from dagflow.services.secrets import output_masker


@dataclass(frozen=True)
class RenderedFields:
    """The rendered ``template_fields`` of one try, by field name."""

    try_number: int
    fields: dict[str, Any]
    updated_at: datetime | None


def rendered_fields(
    db: Database,
    dag_id: str,
    run_id: str,
    task_id: str,
    map_index: int = -1,
    *,
    template_fields: Sequence[str] | None = None,
) -> RenderedFields | None:
    """The latest try's rendered fields (None before any try rendered them), secrets masked once more on the way out.

    ``template_fields``: the task's, when the caller knows them. A task with none renders
    nothing, and its first try writes no row (``execution.rendered_fields.needs_row``): once
    a try has started it is shown as an empty row of that try, as one was written before.
    """
    with db.transaction(readonly=True) as session:
        found_row = session.execute(
            sa.select(TaskInstance.try_number, RenderedTaskInstanceFields)
            .outerjoin(RenderedTaskInstanceFields, TaskInstance.id == RenderedTaskInstanceFields.ti_id)
            .where(
                TaskInstance.dag_id == dag_id,
                TaskInstance.run_id == run_id,
                TaskInstance.task_id == task_id,
                TaskInstance.map_index == map_index,
            )
        ).first()
        if found_row is None:
            return None
        try_number, row = found_row
        if row is None:
            started = template_fields is not None and not template_fields and try_number >= 1
            return RenderedFields(try_number, {}, None) if started else None
        found = RenderedFields(row.try_number, dict(row.rendered_fields or {}), row.updated_at)
    masker = output_masker(db)
    return RenderedFields(found.try_number, {k: masker.redact(v, k) for k, v in found.fields.items()}, found.updated_at)
