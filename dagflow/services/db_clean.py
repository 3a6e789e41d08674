"""``db clean``: purge what belongs to old DAG runs, in batches (Airflow's ``airflow db clean``).

A run is old when it finished (``success``/``failed``) and its end (else its start, else
its logical date) is before the cut-off; the newest scheduled run of each DAG is kept, as
Airflow keeps it, so the schedule goes on from there. For each batch of old runs, one
transaction deletes the rows of every table that belongs to a run (any table with
``dag_id`` and ``run_id`` columns, or a key to ``dag_run``: task instances, their try
history, XComs, task maps, SLA misses, run/asset-event links, and tables added later),
the asset events the runs produced that no kept run consumed, then the runs; then their
task log folders. Ended ``job`` rows are cleaned by their last heartbeat, the audit
``event_log`` by its time (as Airflow cleans its ``log`` table by ``dttm``: an audit trail
outlives the runs it names), and ``state_store`` rows whose key expired (``ttl``) before the
cut-off: reads and listings never show them; keys without a ``ttl`` are data, never cleaned. Import errors are not history (each row
is a file's current error, cleared when it parses again) and are never cleaned.
"""

from __future__ import annotations

import shutil
from collections import Counter
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path
from typing import Any

import sqlalchemy as sa
from sqlalchemy.orm import Session

from dagflow.config import Settings
from dagflow.db import Database
from dagflow.exceptions import InvalidInput
from dagflow.execution.logs import log_path
from dagflow.models import Base, DagRun, EventLog, Job, plan_marker
from dagflow.models.job import JOB_RUNNING
from dagflow.services.database import ensure_schema
from dagflow.state import DagRunState, DagRunType
from dagflow.storage.state_store import purge_expired

#: ``--tables`` names besides the run-owned tables: the runs themselves, task log files, ended jobs, audit
#: events, and state store keys that expired before the cut-off.
OTHER_TABLES = ("dag_run", "log", "job", "event_log", "state_store")
#: Tables with ``dag_id`` and ``run_id`` that are cleaned by their own time, not with the runs they name.
NOT_RUN_OWNED = frozenset({"dag_run", "event_log"})
DEFAULT_BATCH_SIZE = 1000


@dataclass
class CleanReport:
    """Rows (and log folders, as ``log``) deleted, or that would be with ``dry_run``, per table."""

    counts: Counter[str] = field(default_factory=Counter)
    batches: int = 0
    dry_run: bool = False


def run_owned_tables() -> list[sa.Table]:
    """Every table whose rows belong to one DAG run, in the order to delete them.

    Rows with the run's ``dag_id`` and ``run_id``; rows pointing at ``dag_run.id`` (links
    such as ``dagrun_asset_event``); rows a run produced (``source_dag_id`` and
    ``source_run_id``: asset events), deleted last and only when no kept run still links them.
    """
    keyed, linked, produced = [], [], []
    for table in reversed(Base.metadata.sorted_tables):
        columns = set(table.c.keys())
        if table.name in NOT_RUN_OWNED:
            continue
        if {"dag_id", "run_id"} <= columns:
            keyed.append(table)
        elif _run_fk(table) is not None:
            linked.append(table)
        elif {"source_dag_id", "source_run_id"} <= columns:
            produced.append(table)
    return linked + keyed + produced


def _run_fk(table: sa.Table) -> sa.Column[Any] | None:
    """The column of ``table`` that references ``dag_run.id``, if any."""
    for fk in table.foreign_keys:
        if fk.column.table.name == "dag_run" and fk.column.name == "id":
            return fk.parent
    return None


def _is_produced(table: sa.Table) -> bool:
    return {"source_dag_id", "source_run_id"} <= set(table.c.keys()) and "run_id" not in table.c


def _owned_rows(table: sa.Table, keys: list[tuple[str, str]], run_ids: list[int]) -> sa.ColumnElement[bool]:
    """Which rows of a keyed or linked table belong to the runs."""
    fk = _run_fk(table)
    if fk is not None and "run_id" not in table.c:
        return fk.in_(run_ids)
    return sa.tuple_(table.c.dag_id, table.c.run_id).in_(keys)


def _produced_rows(table: sa.Table, before: datetime) -> sa.ColumnElement[bool]:
    """Rows old runs produced that no run to be kept still links (an asset event a newer run consumed stays)."""
    old = sa.select(DagRun.dag_id, DagRun.run_id).where(_is_old_run(before))
    condition: sa.ColumnElement[bool] = sa.tuple_(table.c.source_dag_id, table.c.source_run_id).in_(old)
    for other, link in _links_to(table):
        other_run = _run_fk(other)
        assert other_run is not None
        kept = sa.select(DagRun.id).where(~_is_old_run(before))
        condition = sa.and_(condition, ~sa.exists().where(link.parent == link.column, other_run.in_(kept)))
    return condition


def _links_to(table: sa.Table) -> list[tuple[sa.Table, sa.ForeignKey]]:
    """Run-linked tables (a key to ``dag_run``) that also point at ``table``, with that foreign key."""
    return [
        (other, link)
        for other in Base.metadata.sorted_tables
        if _run_fk(other) is not None
        for link in other.foreign_keys
        if link.column.table is table
    ]


def cleanable_tables() -> list[str]:
    """The names ``--tables`` accepts."""
    return sorted({t.name for t in run_owned_tables()} | set(OTHER_TABLES))


def clean(
    settings: Settings,
    db: Database,
    *,
    before: datetime,
    tables: Sequence[str] | None = None,
    dry_run: bool = False,
    batch_size: int = DEFAULT_BATCH_SIZE,
    on_batch: Callable[[CleanReport], None] | None = None,
) -> CleanReport:
    """Delete (or count, with ``dry_run``) what is older than ``before`` in ``tables`` (default: all)."""
    chosen = _chosen(tables)
    if batch_size < 1:
        raise InvalidInput(f"batch size must be at least 1, got {batch_size}")
    ensure_schema(db)
    report = CleanReport(dry_run=dry_run)
    _clean_runs(settings, db, before, chosen, report, batch_size, on_batch)
    with db.transaction(readonly=dry_run) as session:
        if "job" in chosen:
            ended = sa.and_(Job.state != JOB_RUNNING, Job.latest_heartbeat < before)
            report.counts["job"] += _delete(session, Job.__table__, ended, dry_run)
        if "event_log" in chosen:
            old = EventLog.when < before
            report.counts["event_log"] += _delete(session, EventLog.__table__, old, dry_run)
        if "state_store" in chosen:
            report.counts["state_store"] += purge_expired(session, before=before, dry_run=dry_run)
    return report


def _chosen(tables: Sequence[str] | None) -> set[str]:
    known = cleanable_tables()
    if not tables:
        return set(known)
    unknown = sorted(set(tables) - set(known))
    if unknown:
        raise InvalidInput(f"cannot clean table(s) {', '.join(unknown)}; choose from {', '.join(known)}")
    return set(tables)


def _clean_runs(
    settings: Settings,
    db: Database,
    before: datetime,
    chosen: set[str],
    report: CleanReport,
    batch_size: int,
    on_batch: Callable[[CleanReport], None] | None,
) -> None:
    owned = [t for t in run_owned_tables() if t.name in chosen]
    produced = [t for t in owned if _is_produced(t)]
    owned = [t for t in owned if not _is_produced(t)]
    if produced:  # while the runs still exist: their outputs no kept run consumed (one transaction)
        with db.transaction(readonly=report.dry_run) as session:
            for table in produced:
                rows = _produced_rows(table, before)
                if not report.dry_run:  # links of old runs to these rows go with them (ON DELETE CASCADE)
                    for link_table, link in _links_to(table):
                        doomed = link.parent.in_(sa.select(link.column).where(rows))
                        report.counts[link_table.name] += _delete(session, link_table, doomed, True)
                report.counts[table.name] += _delete(session, table, rows, report.dry_run)
    if not owned and not {"dag_run", "log"} & chosen:
        return
    after_id = 0
    while True:
        with db.transaction(readonly=report.dry_run) as session:
            runs = _old_runs(session, before, after_id, batch_size)
            if not runs:
                return
            after_id = runs[-1][0]
            keys = [(dag_id, run_id) for _, dag_id, run_id in runs]
            ids = [pk for pk, _, _ in runs]
            for table in owned:
                report.counts[table.name] += _delete(session, table, _owned_rows(table, keys, ids), report.dry_run)
            if "dag_run" in chosen:
                report.counts["dag_run"] += _delete(session, DagRun.__table__, DagRun.id.in_(ids), report.dry_run)
        if "log" in chosen:
            report.counts["log"] += _remove_logs(settings, keys, report.dry_run)
        report.batches += 1
        if on_batch is not None:
            on_batch(report)


def _is_old_run(before: datetime) -> sa.ColumnElement[bool]:
    """A run to purge: finished before ``before`` (end, else start, else logical date), not its DAG's newest scheduled."""
    ended_at = sa.func.coalesce(DagRun.end_date, DagRun.start_date, DagRun.logical_date)
    newest_scheduled = (
        sa.select(sa.func.max(DagRun.id))
        .where(DagRun.run_type == DagRunType.SCHEDULED.value)
        .group_by(DagRun.dag_id)
        .scalar_subquery()
    )
    return sa.and_(
        DagRun.state.in_([DagRunState.SUCCESS, DagRunState.FAILED]),
        ended_at < before,
        DagRun.id.not_in(newest_scheduled),
    )


def _old_runs(session: Session, before: datetime, after_id: int, limit: int) -> list[tuple[int, str, str]]:
    """The next batch of old runs (by primary key)."""
    query = (
        sa.select(DagRun.id, DagRun.dag_id, DagRun.run_id)
        .where(DagRun.id > after_id, _is_old_run(before))
        .order_by(DagRun.id)
        .limit(limit)
    )
    return [(row[0], row[1], row[2]) for row in session.execute(query)]


def _delete(session: Session, table: sa.Table, where: sa.ColumnElement[bool], dry_run: bool) -> int:
    if dry_run:
        return int(session.scalar(sa.select(sa.func.count()).select_from(table).where(where)) or 0)
    if table.name in ("dag_run", "task_instance"):
        plan_marker.bump(session)  # a plan read before this delete may rely on the rows
    result: Any = session.execute(sa.delete(table).where(where))
    return int(result.rowcount or 0)


def _remove_logs(settings: Settings, keys: Iterable[tuple[str, str]], dry_run: bool) -> int:
    """Remove each run's log folder (``dag_id=…/run_id=…``); how many there were."""
    removed = 0
    base = Path(settings.logging.base_log_folder)
    for dag_id, run_id in keys:
        folder = log_path(base, dag_id=dag_id, run_id=run_id, task_id="x", try_number=1).parent.parent
        if folder.is_dir():
            removed += 1
            if not dry_run:
                shutil.rmtree(folder, ignore_errors=True)
    return removed
