"""``dags test`` runs the DAG's own ``on_success_callback`` / ``on_failure_callback``, in its process.

The run goes through the scheduler loop scoped to it, which hands the finished run's
DAG callback to a callback runner; ``dags test`` runs it at once, on the DAG it loaded.
"""

from __future__ import annotations

import json
import os
import textwrap
from collections.abc import Callable
from pathlib import Path

from tests.unit.cli.conftest import CliResult

CALLBACK_DAGS = """
import json
import os
from datetime import datetime
from pathlib import Path

from dagflow import DAG
from dagflow.operators import BashOperator, EmptyOperator

LOG = Path(__file__).with_name("callbacks.jsonl")


def record(context):
    entry = {"dag_id": context["dag"].dag_id, "run_id": context["run_id"], "state": context["state"],
             "reason": context["reason"], "pid": os.getpid()}
    with LOG.open("a") as fh:
        fh.write(json.dumps(entry) + "\\n")


with DAG("cb_ok", schedule=None, start_date=datetime(2024, 1, 1),
         on_success_callback=record, on_failure_callback=record):
    EmptyOperator(task_id="a")

with DAG("cb_fail", schedule=None, start_date=datetime(2024, 1, 1), on_failure_callback=[record, record]):
    BashOperator(task_id="boom", bash_command="exit 3")
"""


def _callbacks(cli_env: dict[str, str]) -> list[dict[str, object]]:
    log = Path(cli_env["DAGFLOW_HOME"]) / "dags" / "callbacks.jsonl"
    return [json.loads(line) for line in log.read_text().splitlines()] if log.exists() else []


def test_dags_test_runs_the_dag_callbacks_in_process(
    run_cli: Callable[..., CliResult], cli_env: dict[str, str]
) -> None:
    (Path(cli_env["DAGFLOW_HOME"]) / "dags" / "callback_dags.py").write_text(textwrap.dedent(CALLBACK_DAGS))

    ok = run_cli("dags", "test", "cb_ok", "2024-03-05", "--output", "json")
    failed = run_cli("dags", "test", "cb_fail", "2024-03-05", "--output", "json")

    assert (ok.exit_code, ok.json()["state"]) == (0, "success"), ok.stderr
    assert failed.exit_code == 1  # a failed run exits 1
    document = ok.json()  # SPEC §3: the same document as before the loop was shared
    assert {"dag_id", "run_id", "state", "start_date", "end_date", "task_instances"} <= set(document)
    (ti,) = document["task_instances"]
    assert {"task_id", "map_index", "state", "try_number", "start_date", "end_date"} <= set(ti)
    assert (ti["task_id"], ti["map_index"], ti["state"], ti["try_number"]) == ("a", -1, "success", 1)
    assert document["start_date"].endswith("+00:00") and document["end_date"] >= document["start_date"]
    run_id = "manual__2024-03-05T00:00:00+00:00"
    me = os.getpid()
    assert _callbacks(cli_env) == [
        {"dag_id": "cb_ok", "run_id": run_id, "state": "success", "reason": "success", "pid": me},
        {"dag_id": "cb_fail", "run_id": run_id, "state": "failed", "reason": "task_failure", "pid": me},
        {"dag_id": "cb_fail", "run_id": run_id, "state": "failed", "reason": "task_failure", "pid": me},
    ]
