"""``dags details``, ``dags next-execution`` and ``dags report``: what the DB knows of a DAG, its next runs, parse times."""

from __future__ import annotations

from dataclasses import asdict
from datetime import datetime
from typing import Any

import pendulum
import sqlalchemy as sa

from dagflow.db import Database
from dagflow.exceptions import DagNotFound
from dagflow.models import DagFile, DagModel, SerializedDagModel
from dagflow.scheduler.run_creation import upcoming_runs
from dagflow.serialization import deserialize_dag
from dagflow.services.database import ensure_schema
from dagflow.services.records import DagRecord
from dagflow.services.reports import iso


def dag_details(db: Database, dag_id: str) -> dict[str, Any]:
    """The DAG's record (paused, file, next run…) and its definition (dates, limits, params, callbacks)."""
    ensure_schema(db)
    with db.transaction(readonly=True) as session:
        model, stored = session.get(DagModel, dag_id), session.get(SerializedDagModel, dag_id)
        if model is None or stored is None:
            raise DagNotFound(f"DAG {dag_id!r} not found (see `dagflow dags list`)")
        record = DagRecord.of(model)
        dag = deserialize_dag(stored.data)
        hash_, updated = stored.dag_hash, stored.last_updated
    details: dict[str, Any] = {key: _plain(value) for key, value in asdict(record).items()}
    details.update(
        {
            "timetable_summary": model.timetable_summary,
            "timezone": dag.timezone,
            "start_date": iso(dag.start_date),
            "end_date": iso(dag.end_date),
            "catchup": dag.catchup,
            "dagrun_timeout": dag.dagrun_timeout.total_seconds() if dag.dagrun_timeout else None,
            "doc_md": dag.doc_md,
            "render_template_as_native_obj": dag.render_template_as_native_obj,
            "params": {name: dict(spec) for name, spec in dag.params.items()},
            "callbacks": sorted(dag.callbacks),
            "task_count": len(dag.tasks),
            "task_ids": dag.task_ids,
            "dag_hash": hash_,
            "last_updated": iso(updated),
        }
    )
    return details


def next_executions(db: Database, dag_id: str, *, count: int = 1, now: datetime | None = None) -> dict[str, Any]:
    """The logical dates (and data intervals) of the DAG's next ``count`` scheduled runs; ``is_paused`` too."""
    ensure_schema(db)
    now = now or pendulum.now("UTC")
    with db.transaction(readonly=True) as session:
        model, stored = session.get(DagModel, dag_id), session.get(SerializedDagModel, dag_id)
        if model is None or stored is None:
            raise DagNotFound(f"DAG {dag_id!r} not found (see `dagflow dags list`)")
        infos = upcoming_runs(session, deserialize_dag(stored.data), now=now, count=count)
        paused = model.is_paused
    return {
        "dag_id": dag_id,
        "is_paused": paused,
        "runs": [
            {
                "logical_date": iso(info.logical_date),
                "data_interval_start": iso(info.data_interval.start),
                "data_interval_end": iso(info.data_interval.end),
                "run_after": iso(info.run_after),
            }
            for info in infos
        ],
    }


def parse_report(db: Database) -> list[dict[str, Any]]:
    """Each DAG file's last parse: duration, DAG count and ids, error flag; slowest first (``dags report``)."""
    ensure_schema(db)
    with db.transaction(readonly=True) as session:
        files = list(session.scalars(sa.select(DagFile)))
        dag_ids: dict[str, list[str]] = {}
        active = sa.select(DagModel.fileloc, DagModel.dag_id).where(DagModel.is_active.is_(True))
        for fileloc, dag_id in session.execute(active.order_by(DagModel.dag_id)):
            dag_ids.setdefault(fileloc or "", []).append(dag_id)
    files.sort(key=lambda f: (-(f.parse_duration or 0.0), f.fileloc))
    return [
        {
            "file": f.fileloc,
            "duration": round(f.parse_duration or 0.0, 3),
            "dag_num": f.dag_count,
            "dags": dag_ids.get(f.fileloc, []),
            "has_error": f.has_error,
            "last_parsed": iso(f.last_parsed_at),
        }
        for f in files
    ]


def _plain(value: Any) -> Any:
    if isinstance(value, datetime):
        return iso(value)
    if isinstance(value, tuple):
        return list(value)
    return value
