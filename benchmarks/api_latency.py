"""``python -m benchmarks.api_latency``: p50/p95 latency of three REST API reads on a loaded database.

- list DAGs: ``GET /api/v2/dags?limit=100`` with ``--dags`` DAGs stored (default 1000);
- list task instances: ``GET .../dagRuns/{run}/taskInstances?limit=100`` of one fanout run
  (``start >> [--fanout tasks] >> end``, default 1000);
- log tail: ``GET .../logs/1?token=...`` of a running try whose log already holds
  ``--log-lines`` lines (default 20000), 10 new lines appended before each request.

Requests go through the app in this process (Flask's test client: routing, auth with a
bearer token, permission and ``access_control`` checks, validation, services, SQL,
serialization), not through gunicorn or a socket, so the figures leave out the network.
SQLite in a temporary ``DAGFLOW_HOME`` by default; ``--database-url`` for PostgreSQL.
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

RUN_ID = "manual__bench"


def parse_args(argv: list[str] | None) -> argparse.Namespace:
    """The command-line options."""
    parser = argparse.ArgumentParser(prog="python -m benchmarks.api_latency", description=__doc__.split("\n\n")[0])
    parser.add_argument("--dags", type=int, default=1000, help="DAGs stored (default 1000)")
    parser.add_argument("--fanout", type=int, default=1000, help="tasks of the fanout run (default 1000)")
    parser.add_argument("--log-lines", type=int, default=20000, help="lines already in the log (default 20000)")
    parser.add_argument("--requests", type=int, default=200, help="timed requests per call (default 200)")
    parser.add_argument("--database-url", default=None, help="an empty database to use instead of SQLite")
    parser.add_argument("--json", type=Path, default=None, metavar="PATH", help="also write the results as JSON")
    return parser.parse_args(argv)


def _prepare(home: Path, args: argparse.Namespace) -> tuple[Any, Any, Any]:
    from dagflow.config import load_settings
    from dagflow.dag_processing.sync import sync_folders
    from dagflow.db import Database

    dags = home / "dags"
    dags.mkdir(parents=True)
    (dags / "bench_api_dags.py").write_text(many_dags_file("bench_api", args.dags))
    (dags / "bench_api_fanout.py").write_text(fanout_file("bench_api_fanout", args.fanout, None))
    env = {"DAGFLOW__CORE__DAGS_FOLDER": str(dags), "DAGFLOW__CORE__LOAD_EXAMPLES": "false"}
    if args.database_url:
        env["DAGFLOW__DATABASE__SQL_ALCHEMY_CONN"] = args.database_url
    settings = load_settings(env, home=home)
    db = Database(settings)
    db.migrate()
    sync_folders(db, [dags], paused_at_creation=True)
    return settings, db, dags


def _fanout_run(settings: Any, db: Any, log_lines: int) -> None:
    """A fanout run whose task instances are stored (most finished); ``start`` is running and logging."""
    import pendulum

    from benchmarks.seeding import finish_task_instances
    from dagflow.execution.logs import log_path
    from dagflow.services.dag_runs import trigger_dag

    trigger_dag(settings, db, "bench_api_fanout", run_id=RUN_ID)  # creates the task instances
    # as if they ran: written directly (bulk SQL), the benchmark measures reads
    finish_task_instances(
        db.engine, dag_id="bench_api_fanout", run_id=RUN_ID, now=pendulum.now("UTC"), running=["start"]
    )
    path = log_path(
        settings.logging.base_log_folder, dag_id="bench_api_fanout", run_id=RUN_ID, task_id="start", try_number=1
    )
    path.parent.mkdir(parents=True, exist_ok=True)
    line = "[2024-01-01T00:00:00+0000] INFO - processed batch {} of the benchmark input, 200 rows\n"
    path.write_text("".join(line.format(i) for i in range(log_lines)))
    return None


def _measure(call: Callable[[], Any], requests: int, warmup: int = 5) -> dict[str, float]:
    for _ in range(warmup):
        call()
    times = []
    for _ in range(requests):
        start = time.perf_counter()
        call()
        times.append((time.perf_counter() - start) * 1000)
    cuts = statistics.quantiles(times, n=100)
    return {"p50_ms": round(statistics.median(times), 2), "p95_ms": round(cuts[94], 2), "max_ms": round(max(times), 2)}


def run(args: argparse.Namespace, home: Path) -> dict[str, dict[str, float]]:
    """Load the database, then time each call; {call: {p50_ms, p95_ms, max_ms}}."""
    from dagflow.execution.logs import log_path
    from dagflow.services import users
    from dagflow.webapp import create_app

    settings, db, _ = _prepare(home, args)
    _fanout_run(settings, db, args.log_lines)
    app = create_app(settings, db=db)
    client = app.test_client()
    users.create_user(db, "bench", "bench-password-123", "viewer")
    headers = {"Authorization": f"Bearer {users.issue_token(db, 'bench', name='bench').token}"}

    def get(path: str) -> Any:
        response = client.get(path, headers=headers)
        if response.status_code != 200:
            raise RuntimeError(f"GET {path}: {response.status_code} {response.data[:200]!r}")
        return response.json

    run_path = f"/api/v2/dags/bench_api_fanout/dagRuns/{RUN_ID}"
    assert get("/api/v2/dags?limit=100")["total_entries"] == args.dags + 1
    assert get(f"{run_path}/taskInstances?limit=100")["total_entries"] == args.fanout + 2
    log_url = f"{run_path}/taskInstances/start/logs/1"
    path = log_path(
        settings.logging.base_log_folder, dag_id="bench_api_fanout", run_id=RUN_ID, task_id="start", try_number=1
    )
    token = {"value": get(log_url)["continuation_token"]}

    def tail() -> None:
        with path.open("a") as fh:
            fh.write("".join(f"[2024-01-01T00:00:01+0000] INFO - tail line {i}\n" for i in range(10)))
        body = get(f"{log_url}?token={token['value']}")
        assert len(body["content"]) == 10, body
        token["value"] = body["continuation_token"]

    return {
        f"list DAGs ({args.dags} DAGs, limit=100)": _measure(lambda: get("/api/v2/dags?limit=100"), args.requests),
        f"list TIs (fanout{args.fanout} run, limit=100)": _measure(
            lambda: get(f"{run_path}/taskInstances?limit=100"), args.requests
        ),
        f"log tail ({args.log_lines}-line log, +10 lines)": _measure(tail, args.requests),
        f"full log ({args.log_lines} lines)": _measure(lambda: get(f"{log_url}?full_content=true"), 20, warmup=2),
    }


def main(argv: list[str] | None = None) -> int:
    """Run and print one line per call."""
    args = parse_args(argv)
    with tempfile.TemporaryDirectory(prefix="dagflow-api-bench-") as tmp:
        results = run(args, Path(tmp))
    for name, figures in results.items():
        print(f"{name:45s} p50 {figures['p50_ms']:8.2f} ms   p95 {figures['p95_ms']:8.2f} ms")
    if args.json is not None:
        args.json.write_text(json.dumps(results, indent=2) + "\n")
    return 0


if __name__ == "__main__":
    sys.exit(main())
