"""ETL with the TaskFlow API: extract a CSV, transform it, load it into SQLite.

Shows:
- ``@dag`` / ``@task``: return values flow into the next task's arguments (XCom),
  and passing them wires the dependencies;
- internal storage (``context["storage"]``): ``extract`` writes the day's CSV there
  and hands the ``dagflow://`` URI to ``transform``, which may run on another worker;
- ``multiple_outputs=True``: ``transform`` returns a dict whose keys are separate
  XComs, so ``load`` and ``report`` each take only the part they need;
- ``retries`` and ``retry_delay`` (as an ISO-8601 duration) through ``default_args``;
- an idempotent load: re-running a day replaces that day's rows.

The warehouse is a SQLite file in the system temp directory
(``$TMPDIR/dagflow_examples/warehouse.sqlite``); nothing here needs the network.
"""

from __future__ import annotations

import csv
import io
import random
import sqlite3
import tempfile
from datetime import datetime
from pathlib import Path

from dagflow import dag, task

REGIONS = ("north", "south", "east", "west")


def warehouse_path() -> Path:
    """Where the example warehouse lives (created on first load)."""
    return Path(tempfile.gettempdir()) / "dagflow_examples" / "warehouse.sqlite"


@dag(
    dag_id="example_etl_taskflow",
    schedule="@daily",
    start_date=datetime(2024, 1, 1),
    catchup=False,
    default_args={"owner": "data-eng", "retries": 2, "retry_delay": "PT1S"},
    tags=["example", "taskflow", "etl"],
    doc_md=__doc__,
)
def example_etl_taskflow():
    @task
    def extract(**context) -> str:
        """Produce the day's orders as CSV (seeded by the date, so re-runs agree)."""
        ds = context["ds"]
        rng = random.Random(ds)
        buffer = io.StringIO()
        writer = csv.writer(buffer)
        writer.writerow(["order_id", "region", "amount"])
        for order_id in range(1, 21):
            writer.writerow([order_id, rng.choice(REGIONS), f"{rng.uniform(5, 500):.2f}"])
        return context["storage"].put_bytes(f"orders_{ds}.csv", buffer.getvalue().encode())

    @task(multiple_outputs=True)
    def transform(orders_uri: str, **context) -> dict:
        """Total the amounts per region."""
        text = context["storage"].get_bytes(orders_uri).decode()
        totals: dict[str, float] = {}
        count = 0
        for row in csv.DictReader(io.StringIO(text)):
            totals[row["region"]] = totals.get(row["region"], 0.0) + float(row["amount"])
            count += 1
        rows = [[region, round(total, 2)] for region, total in sorted(totals.items())]
        return {"rows": rows, "order_count": count, "grand_total": round(sum(totals.values()), 2)}

    @task(retries=3)
    def load(rows: list, **context) -> int:
        """Replace the day's rows in the warehouse table."""
        path = warehouse_path()
        path.parent.mkdir(parents=True, exist_ok=True)
        with sqlite3.connect(path) as db:
            db.execute(
                "CREATE TABLE IF NOT EXISTS sales_by_region "
                "(ds TEXT, region TEXT, total REAL, PRIMARY KEY (ds, region))"
            )
            db.execute("DELETE FROM sales_by_region WHERE ds = ?", (context["ds"],))
            db.executemany(
                "INSERT INTO sales_by_region VALUES (?, ?, ?)",
                [(context["ds"], region, total) for region, total in rows],
            )
        return len(rows)

    @task
    def report(order_count: int, grand_total: float, loaded: int) -> str:
        """Log a one-line summary (it is also this task's XCom)."""
        line = f"{order_count} orders, {grand_total:.2f} in total, {loaded} regions loaded"
        print(line)
        return line

    summary = transform(extract())
    loaded = load(summary["rows"])
    report(summary["order_count"], summary["grand_total"], loaded)


example_etl_taskflow()
