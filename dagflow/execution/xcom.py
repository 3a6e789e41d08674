"""XCom values in the DB: JSON, with large values moved to internal storage.

A value whose JSON is larger than ``core.max_xcom_size`` bytes is written to internal
storage under the run (``xcom/<task_id>/<map_index>/<key>.json``) and the row holds
``{"__dagflow_xcom_ref__": "dagflow://…"}``; reads follow the reference transparently.
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from typing import Any

import sqlalchemy as sa
from sqlalchemy.orm import Session

from dagflow.exceptions import StorageError, XComError
from dagflow.models.taskinstance import TaskInstance
from dagflow.models.xcom import TaskMap, XCom
from dagflow.storage.internal import InternalStorage

REF_KEY = "__dagflow_xcom_ref__"


def encode(value: Any, *, key: str, task_id: str, map_index: int, storage: InternalStorage, max_size: int) -> Any:
    """The JSON value to store in the row (the value itself, or a storage reference)."""
    try:
        text = json.dumps(value, separators=(",", ":"), allow_nan=False)
    except (TypeError, ValueError) as exc:
        raise XComError(
            f"XCom {key!r} of task {task_id!r} is not JSON-serializable "
            f"({type(value).__name__}): {exc}; return JSON values, or write files to "
            "context['storage'] and return their URI"
        ) from exc
    data = text.encode()
    if len(data) <= max_size:
        return json.loads(text)
    name = f"xcom/{task_id}/{map_index}/{key}.json"
    return {REF_KEY: storage.put_bytes(name, data)}


def decode(stored: Any, *, storage: InternalStorage) -> Any:
    """The value a row holds, following a storage reference."""
    if isinstance(stored, dict) and len(stored) == 1 and REF_KEY in stored:
        try:
            return json.loads(storage.get_bytes(stored[REF_KEY]))
        except StorageError as exc:
            raise XComError(f"large XCom value is missing from storage: {exc}") from exc
    return stored


def write_xcom(
    session: Session, *, dag_id: str, run_id: str, task_id: str, map_index: int, key: str, stored: Any
) -> None:
    """Insert or replace one XCom row (``stored`` already encoded)."""
    session.execute(
        sa.delete(XCom).where(
            XCom.dag_id == dag_id,
            XCom.run_id == run_id,
            XCom.task_id == task_id,
            XCom.map_index == map_index,
            XCom.key == key,
        )
    )
    session.add(XCom(dag_id=dag_id, run_id=run_id, task_id=task_id, map_index=map_index, key=key, value=stored))
    session.flush()


def mapping_size(value: Any) -> tuple[int, list[Any] | None] | None:
    """``(length, keys)`` of a list/dict return value (keys None for a list), else None."""
    if isinstance(value, dict):
        return len(value), list(value.keys())
    if isinstance(value, (list, tuple)):
        return len(value), None
    return None


def write_task_map(
    session: Session, *, dag_id: str, run_id: str, task_id: str, map_index: int, length: int, keys: list[Any] | None
) -> None:
    """Record the length (and keys) of a list/dict return value, for tasks mapped over it."""
    session.execute(
        sa.delete(TaskMap).where(
            TaskMap.dag_id == dag_id,
            TaskMap.run_id == run_id,
            TaskMap.task_id == task_id,
            TaskMap.map_index == map_index,
        )
    )
    session.add(TaskMap(dag_id=dag_id, run_id=run_id, task_id=task_id, map_index=map_index, length=length, keys=keys))


def read_xcoms(
    session: Session, *, dag_id: str, run_id: str, task_id: str, key: str, map_indexes: Sequence[int] | None
) -> dict[int, Any]:
    """Stored (still encoded) values of ``key`` by map index."""
    stmt = sa.select(XCom.map_index, XCom.value).where(
        XCom.dag_id == dag_id, XCom.run_id == run_id, XCom.task_id == task_id, XCom.key == key
    )
    if map_indexes is not None:
        stmt = stmt.where(XCom.map_index.in_(list(map_indexes)))
    return {int(idx): value for idx, value in session.execute(stmt.order_by(XCom.map_index))}


def is_mapped(session: Session, *, dag_id: str, run_id: str, task_id: str) -> bool:
    """True if the task has mapped task instances (map_index >= 0) in the run."""
    stmt = (
        sa.select(TaskInstance.id)
        .where(
            TaskInstance.dag_id == dag_id,
            TaskInstance.run_id == run_id,
            TaskInstance.task_id == task_id,
            TaskInstance.map_index >= 0,
        )
        .limit(1)
    )
    return session.execute(stmt).first() is not None
