"""A task instance's XComs for people to read, secrets masked (values of sensitive keys hidden, known secrets replaced)."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Any

import sqlalchemy as sa

from dagflow.db import Database
from dagflow.models import XCom
from dagflow.services.secrets import output_masker


@dataclass(frozen=True)
class XComRecord:
    """One XCom: its key, its (masked) value as stored, when it was written."""

    key: str
    value: Any
    created_at: datetime | None


def task_xcoms(db: Database, dag_id: str, run_id: str, task_id: str, map_index: int = -1) -> list[XComRecord]:
    """Every XCom of one task instance, by key; large values show as their storage reference."""
    masker = output_masker(db)
    with db.transaction(readonly=True) as session:
        rows = session.execute(
            sa.select(XCom.key, XCom.value, XCom.created_at)
            .where(XCom.dag_id == dag_id, XCom.run_id == run_id, XCom.task_id == task_id, XCom.map_index == map_index)
            .order_by(XCom.key)
        ).all()
    return [XComRecord(key, masker.redact(value, key), created) for key, value, created in rows]
