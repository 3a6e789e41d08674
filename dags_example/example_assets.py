"""Assets: one DAG writes two datasets, another runs when both were updated.

Shows:
- ``Asset("uri")`` and ``outlets=[...]`` on a ``PythonOperator`` and on ``@task``:
  each successful try records an asset event;
- ``outlet_events[asset].extra``: data stored with the event (here the row count);
- ``schedule=[orders, customers]``: ``example_assets_report`` runs (``run_type``
  ``asset_triggered``) once both assets have new events, and reads them through
  ``inlet_events``. ``orders | customers`` would run it when either is updated;
- a ``TimeDeltaSensor`` with ``deferrable=True``: the report waits a moment in the
  triggerer, holding no worker slot (``dagflow standalone`` runs a triggerer).

See docs/scheduling.md ("Data-aware scheduling: assets"). Try it: unpause both DAGs,
trigger ``example_assets``, then ``dagflow assets events``.
"""

from __future__ import annotations

import json
import tempfile
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any

from dagflow import DAG, Asset, task
from dagflow.operators import PythonOperator
from dagflow.sensors import TimeDeltaSensor

OUT = Path(tempfile.gettempdir()) / "dagflow_examples" / "assets"
orders = Asset(f"file://{OUT}/orders.json")
customers = Asset(f"file://{OUT}/customers.json")


def write_orders(outlet_events: Any, ds: str) -> int:
    """Write the day's orders and say how many rows the event carries."""
    rows = [{"order": i, "day": ds} for i in range(3)]
    OUT.mkdir(parents=True, exist_ok=True)
    (OUT / "orders.json").write_text(json.dumps(rows))
    outlet_events[orders].extra = {"rows": len(rows), "day": ds}
    return len(rows)


with DAG(
    "example_assets",
    schedule="@daily",
    start_date=datetime(2024, 1, 1),
    catchup=False,
    tags=["example", "assets"],
):

    @task(outlets=[customers])
    def write_customers() -> int:
        """Write the customers file (its event has no extra)."""
        OUT.mkdir(parents=True, exist_ok=True)
        (OUT / "customers.json").write_text(json.dumps([{"customer": "ada"}]))
        return 1

    PythonOperator(task_id="write_orders", python_callable=write_orders, outlets=[orders]) >> write_customers()


with DAG(
    "example_assets_report",
    schedule=[orders, customers],
    start_date=datetime(2024, 1, 1),
    catchup=False,
    tags=["example", "assets"],
):
    settle = TimeDeltaSensor(task_id="settle", delta=timedelta(seconds=1), deferrable=True)

    @task
    def report(inlet_events: Any) -> dict[str, Any]:
        """Sum the rows the triggering orders events announced (empty for a manual run)."""
        events = inlet_events[orders]
        return {"events": len(events), "rows": sum(e.extra.get("rows", 0) for e in events)}

    settle >> report()
