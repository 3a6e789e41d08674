"""``python -m benchmarks.ui_pages``: server time of the web UI's heaviest pages on a loaded database.

- the DAG list ``/`` with ``--dags`` DAGs stored (default 1000), each with a few runs (the
  list shows 50 a page, their latest runs, the health strip, the tag list);
- the grid ``/dags/bench_ui_fanout`` of ``--runs`` runs (default 25) x ``--fanout`` + 2 tasks
  (default 1000: ``start >> 1000 tasks >> end``, 25 050 cells), and its live fragment;
- the graph of that DAG (1 002 boxes, laid out by grandalf: the first request, then cached).

Requests go through the app in this process (Flask's test client: routing, auth, the
permission and access checks, services, SQL, templates), so the network is left out.
Reported, not asserted; the target is <= 300 ms for the list and the grid. Besides the wall
time, the CPU time the request took in this process is reported: on a busy shared machine
it is the better figure of the server's own work. SQLite in a
temporary ``DAGFLOW_HOME`` unless ``--database-url`` names an empty PostgreSQL database.
"""

from __future__ import annotations

import argparse
import json
import statistics
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

from benchmarks.dag_files import fanout_file, many_dags_file


def _measure(call: Callable[[], Any], requests: int, warmup: int = 2) -> dict[str, float]:
    """Median and p95 wall time, and the median CPU time of this process (the server's own work: on a busy
    shared machine the wall time also counts the time other processes held the CPU)."""
    for _ in range(warmup):
        call()
    wall, cpu = [], []
    for _ in range(requests):
        start, start_cpu = time.perf_counter(), time.process_time()
        call()
        wall.append((time.perf_counter() - start) * 1000)
        cpu.append((time.process_time() - start_cpu) * 1000)
    wall.sort()
    return {
        "p50_ms": round(statistics.median(wall), 2),
        "p95_ms": round(wall[min(len(wall) - 1, int(len(wall) * 0.95))], 2),
        "cpu_p50_ms": round(statistics.median(cpu), 2),
    }


def parse_args(argv: list[str] | None) -> argparse.Namespace:
    """The command-line options."""
    parser = argparse.ArgumentParser(prog="python -m benchmarks.ui_pages", description=__doc__.split("\n\n")[0])
    parser.add_argument("--dags", type=int, default=1000, help="DAGs stored (default 1000)")
    parser.add_argument("--fanout", type=int, default=1000, help="middle tasks of the grid's DAG (default 1000)")
    parser.add_argument("--runs", type=int, default=25, help="runs of the grid's DAG (default 25)")
    parser.add_argument("--requests", type=int, default=20, help="timed requests per page (default 20)")
    parser.add_argument("--database-url", default=None, help="an empty database to use instead of SQLite")
    parser.add_argument("--json", type=Path, default=None, metavar="PATH", help="also write the results as JSON")
    return parser.parse_args(argv)


def _load(home: Path, args: argparse.Namespace) -> tuple[Any, Any]:
    """Store the DAGs, give the small DAGs three runs each and the fanout DAG ``--runs`` runs with states."""
    import pendulum
    import sqlalchemy as sa

    from benchmarks.seeding import finish_task_instances, insert_runs
    from dagflow.config import load_settings
    from dagflow.dag_processing.sync import sync_folders
    from dagflow.db import Database
    from dagflow.models import DagRun
    from dagflow.services.dag_runs import trigger_dag
    from dagflow.state import DagRunState

    dags = home / "dags"
    dags.mkdir(parents=True)
    (dags / "bench_ui_dags.py").write_text(many_dags_file("bench_ui", args.dags))
    (dags / "bench_ui_fanout.py").write_text(fanout_file("bench_ui_fanout", args.fanout, "@daily"))
    env = {"DAGFLOW__CORE__DAGS_FOLDER": str(dags), "DAGFLOW__CORE__LOAD_EXAMPLES": "false"}
    if args.database_url:
        env["DAGFLOW__DATABASE__SQL_ALCHEMY_CONN"] = args.database_url
    settings = load_settings(env, home=home)
    db = Database(settings)
    db.migrate()
    sync_folders(db, [dags], paused_at_creation=True)
    start = pendulum.datetime(2024, 1, 1, tz="UTC")
    states = ("success", "failed", "success")
    insert_runs(  # the small DAGs' runs, written directly (bulk SQL): the benchmark measures reads
        db.engine,
        (
            {"dag_id": f"bench_ui_{i:04d}", "run_id": f"scheduled__{n}", "logical_date": start.add(days=n),
             "run_type": "scheduled", "state": states[n], "start_date": start, "end_date": start}
            for i in range(args.dags)
            for n in range(3)
        ),
    )  # fmt: skip
    for n in range(args.runs):  # creates the task instances, as a trigger does
        trigger_dag(settings, db, "bench_ui_fanout", run_id=f"manual__{n:02d}", logical_date=start.add(days=n))
    with db.transaction() as session:
        session.execute(sa.update(DagRun).where(DagRun.dag_id == "bench_ui_fanout").values(state=DagRunState.SUCCESS))
    for n in range(args.runs):
        finish_task_instances(
            db.engine,
            dag_id="bench_ui_fanout",
            run_id=f"manual__{n:02d}",
            now=start.add(days=n),
            states=["success", "success", "failed", "skipped"],
        )
    return settings, db


def run(args: argparse.Namespace, home: Path) -> dict[str, dict[str, float]]:
    """Load the database, then time each page; {page: {p50_ms, p95_ms, max_ms}}."""
    from dagflow.services import users
    from dagflow.webapp import create_app

    settings, db = _load(home, args)
    app = create_app(settings, db=db)
    client = app.test_client()
    users.create_user(db, "bench", "bench-password-123", "op")
    headers = {"Authorization": f"Bearer {users.issue_token(db, 'bench', name='bench').token}"}

    def get(path: str) -> int:
        response = client.get(path, headers=headers)
        if response.status_code != 200:
            raise RuntimeError(f"GET {path}: {response.status_code} {response.data[:300]!r}")
        return len(response.data)

    cells = args.runs * (args.fanout + 2)
    assert get("/dags/bench_ui_fanout") > cells * 25  # every cell rendered (about 35 bytes each)
    first_graph = _measure(lambda: get("/dags/bench_ui_fanout/graph"), 1, warmup=0)
    results = {
        f"DAG list / ({args.dags} DAGs, 50 a page)": _measure(lambda: get("/"), args.requests, warmup=2),
        f"grid ({args.runs} runs x {args.fanout + 2} tasks)": _measure(
            lambda: get("/dags/bench_ui_fanout"), args.requests, warmup=2
        ),
        "grid live fragment": _measure(lambda: get("/dags/bench_ui_fanout/grid"), args.requests, warmup=2),
        f"graph ({args.fanout + 2} boxes, layout cached)": _measure(
            lambda: get("/dags/bench_ui_fanout/graph"), args.requests, warmup=1
        ),
    }
    results[f"graph ({args.fanout + 2} boxes, first layout)"] = first_graph
    return results


def main(argv: list[str] | None = None) -> int:
    """Run and print one line per page."""
    args = parse_args(argv)
    with tempfile.TemporaryDirectory(prefix="dagflow-ui-bench-") as tmp:
        results = run(args, Path(tmp))
    for name, figures in results.items():
        print(
            f"{name:45s} p50 {figures['p50_ms']:8.2f} ms   p95 {figures['p95_ms']:8.2f} ms"
            f"   server CPU p50 {figures['cpu_p50_ms']:8.2f} ms"
        )
    if args.json is not None:
        args.json.write_text(json.dumps(results, indent=2) + "\n")
    return 0


if __name__ == "__main__":
    sys.exit(main())
