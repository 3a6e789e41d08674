"""Fill a metadata database fast, with bulk SQL: the history the benchmarks read or schedule beside.

Rows are written straight into the tables (``INSERT`` of many rows per statement),
never through the scheduler: 200 000 task instances take seconds, not an hour. The
tables are reflected from the database, so this works on any dagflow schema version
(``--dagflow-root`` drives another checkout whose columns may differ): a ``NOT NULL``
column without a server default that the caller did not set gets a neutral value of
its type.

Used by the history workload (``runner.py``), ``api_latency.py`` and ``ui_pages.py``.
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

import sqlalchemy as sa

#: Rows per ``INSERT`` statement.
BATCH = 5000


@dataclass(frozen=True)
class Seeded:
    """What ``seed_history`` wrote."""

    runs: int
    task_instances: int


def _neutral(column: sa.Column[Any], now: datetime) -> Any:
    """A value of the column's type for a NOT NULL column nobody set."""
    try:
        python_type = column.type.python_type
    except NotImplementedError:
        return ""
    if python_type is bool:
        return False
    if python_type in (int, float):
        return 0
    if python_type is datetime:
        return now
    if python_type is dict:
        return {}
    return ""


class Seeder:
    """Bulk inserts into the reflected tables of one database."""

    def __init__(self, engine: sa.Engine) -> None:
        self.engine = engine
        self.metadata = sa.MetaData()
        self.metadata.reflect(engine, only=["dag_run", "task_instance", "xcom"])
        self.sqlite = engine.dialect.name == "sqlite"

    def when(self, value: datetime) -> datetime:
        """A UTC timestamp as dagflow stores it (naive on SQLite, aware elsewhere)."""
        utc = value.astimezone(UTC) if value.tzinfo else value.replace(tzinfo=UTC)
        return utc.replace(tzinfo=None) if self.sqlite else utc

    def insert(self, table_name: str, rows: Iterable[dict[str, Any]]) -> int:
        """Insert ``rows`` (dicts of column values) in batches of ``BATCH``; the number inserted."""
        table = self.metadata.tables[table_name]
        now = self.when(datetime.now(UTC))
        fill = {
            c.name: _neutral(c, now)
            for c in table.columns
            if not c.nullable and c.server_default is None and not c.primary_key
        }
        count = 0
        with self.engine.begin() as conn:
            for batch in _batches(rows, BATCH):
                conn.execute(table.insert(), [{**fill, **row} for row in batch])
                count += len(batch)
        return count


def _batches(rows: Iterable[dict[str, Any]], size: int) -> Iterator[list[dict[str, Any]]]:
    batch: list[dict[str, Any]] = []
    for row in rows:
        batch.append(row)
        if len(batch) == size:
            yield batch
            batch = []
    if batch:
        yield batch


def insert_runs(engine: sa.Engine, runs: Iterable[dict[str, Any]]) -> int:
    """Insert DAG runs (``dag_id``, ``run_id``, ``logical_date``, ``state``, ...); timestamps given as UTC."""
    seeder = Seeder(engine)
    return seeder.insert("dag_run", (_dates(seeder, run) for run in runs))


def _dates(seeder: Seeder, row: dict[str, Any]) -> dict[str, Any]:
    return {k: seeder.when(v) if isinstance(v, datetime) else v for k, v in row.items()}


def seed_history(
    engine: sa.Engine,
    *,
    dag_ids: list[str],
    runs: int,
    tasks_per_run: int,
    start: datetime | None = None,
    with_xcom: bool = False,
) -> Seeded:
    """``runs`` finished runs spread over ``dag_ids`` (one a day each, long before now), each with
    ``tasks_per_run`` successful task instances (one try, timestamps and a duration set) and,
    ``with_xcom``, one return-value XCom per task instance."""
    seeder = Seeder(engine)
    start = start or datetime(2020, 1, 1, tzinfo=UTC)

    def run_rows() -> Iterator[dict[str, Any]]:
        for n in range(runs):
            day = start + timedelta(days=n // len(dag_ids))
            yield {
                "dag_id": dag_ids[n % len(dag_ids)],
                "run_id": f"scheduled__seed{n:07d}",
                "logical_date": seeder.when(day),
                "run_type": "scheduled",
                "state": "success",
                "queued_at": seeder.when(day),
                "start_date": seeder.when(day),
                "end_date": seeder.when(day + timedelta(minutes=1)),
                "data_interval_start": seeder.when(day),
                "data_interval_end": seeder.when(day + timedelta(days=1)),
            }

    def ti_rows() -> Iterator[dict[str, Any]]:
        for n in range(runs):
            day = start + timedelta(days=n // len(dag_ids))
            for t in range(tasks_per_run):
                yield {
                    "dag_id": dag_ids[n % len(dag_ids)],
                    "run_id": f"scheduled__seed{n:07d}",
                    "task_id": f"t{t:04d}",
                    "map_index": -1,
                    "state": "success",
                    "try_number": 1,
                    "start_date": seeder.when(day),
                    "end_date": seeder.when(day + timedelta(seconds=1)),
                    "duration": 1.0,
                    "hostname": "seed",
                    "operator": "PythonOperator",
                    "queued_at": seeder.when(day),
                }

    def xcom_rows() -> Iterator[dict[str, Any]]:
        for ti in ti_rows():
            keys = ("dag_id", "run_id", "task_id", "map_index")
            yield {**{k: ti[k] for k in keys}, "key": "return_value", "value": "1", "created_at": ti["end_date"]}

    seeded = Seeded(seeder.insert("dag_run", run_rows()), seeder.insert("task_instance", ti_rows()))
    if with_xcom:
        seeder.insert("xcom", xcom_rows())
    return seeded


def finish_task_instances(
    engine: sa.Engine,
    *,
    dag_id: str,
    run_id: str,
    now: datetime,
    running: Iterable[str] = (),
    states: list[str] | None = None,
) -> None:
    """Mark a run's task instances as if they had run: ``states`` cycled by row id (default all
    ``success``), one try, dates set; the task ids in ``running`` are left ``running``."""
    seeder = Seeder(engine)
    ti = seeder.metadata.tables["task_instance"]
    ours = sa.and_(ti.c.dag_id == dag_id, ti.c.run_id == run_id)
    when = seeder.when(now)
    cycle = states or ["success"]
    common = {"try_number": 1, "start_date": when, "end_date": when, "duration": 0.01, "hostname": "bench"}
    with engine.begin() as conn:
        for k, state in enumerate(cycle):
            conn.execute(ti.update().where(ours, ti.c.id % len(cycle) == k).values(state=state, **common))
        running = list(running)
        if running:
            conn.execute(
                ti.update().where(ours, ti.c.task_id.in_(running)).values(state="running", end_date=None, duration=None)
            )
