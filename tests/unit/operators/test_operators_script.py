"""ScriptOperator, @task.script, @task.virtualenv and @task.external_python through the in-process scheduler."""

from __future__ import annotations

import shutil
import sys
import threading
from datetime import timedelta
from pathlib import Path
from typing import Any

import pendulum
import pytest

from dagflow import DAG
from dagflow.config import Settings, load_settings
from dagflow.db import Database
from dagflow.operators import ScriptOperator
from dagflow.sdk import task
from dagflow.sdk.script_runner import ScriptError, cached_virtualenv
from dagflow.services.xcoms import get_xcom
from dagflow.storage.internal import InternalStorage
from dagflow.testing import RunReport, run_dag

BASH_SCRIPT = """
set -e
echo "input says: $(cat in.txt)"
mkdir -p out
printf 'a,1\\n' > out/a.csv
printf 'b,2\\nb,3\\n' > b.csv
echo "not kept" > notes.txt
echo "run for {{ ds }} by $DAGFLOW_CTX_TASK_ID $GREETING"
"""

PY_SCRIPT = """
import sys
rows = open("data.csv").read().splitlines()
print("python read", len(rows), "rows", file=sys.stderr)
with open("result.txt", "w") as fh:
    fh.write(str(sum(int(r.split(",")[1]) for r in rows)))
"""


def _build_dag() -> DAG:
    with DAG("scripts", schedule=None, start_date=pendulum.datetime(2024, 1, 1), default_args={"retries": 0}) as dag:
        produce = ScriptOperator(
            task_id="produce",
            interpreter="bash",
            script=BASH_SCRIPT,
            input_files={"in.txt": "hello"},
            output_files=["*.csv", "out/*.csv"],
            env={"GREETING": "hi"},
            append_env=True,
        )
        consume = ScriptOperator(
            task_id="consume",
            script=PY_SCRIPT,
            input_files={"data.csv": "{{ ti.xcom_pull(task_ids='produce')['b.csv'] }}"},
            output_files=["result.txt"],
        )
        produce >> consume
        ScriptOperator(
            task_id="node",
            interpreter="node",
            script="require('fs').writeFileSync('n.json', JSON.stringify({sum: 1 + 2})); console.log('node ok')",
            output_files=["n.json"],
        )
        ScriptOperator(
            task_id="venv_script",
            script="import sys; open('prefix.txt', 'w').write(sys.prefix)",
            requirements=[],
            output_files=["prefix.txt"],
        )
        ScriptOperator(task_id="fails", interpreter="bash", script="echo doomed; exit 3")
        ScriptOperator(
            task_id="too_slow",
            interpreter=["bash"],
            script="sleep 30",
            execution_timeout=timedelta(seconds=1),
        )

        @task.script(interpreter="bash", output_files=["d.txt"])
        def dated() -> str:
            return "echo -n {{ ds }} > d.txt"

        @task.virtualenv(requirements=[])
        def in_venv(x: int) -> dict[str, Any]:
            import sys

            return {"prefix": sys.prefix, "double": x * 2}

        @task.external_python(python=sys.executable)
        def external(a: int, b: int = 1) -> int:
            return a + b

        dated()
        in_venv(21)
        external(3, b=4)
    return dag


@pytest.fixture(scope="module")
def ran(tmp_path_factory: pytest.TempPathFactory) -> tuple[Settings, Database, RunReport]:
    home = tmp_path_factory.mktemp("script_home")
    settings = load_settings({"DAGFLOW_HOME": str(home)})
    db = Database(settings)
    report = run_dag(_build_dag(), settings=settings, db=db, logical_date=pendulum.datetime(2024, 3, 5))
    yield settings, db, report
    db.dispose()


def _xcom(ran: tuple[Settings, Database, RunReport], task_id: str) -> Any:
    settings, db, report = ran
    return get_xcom(settings, db, dag_id="scripts", run_id=report.run_id, task_id=task_id, key="return_value").value


def _storage(ran: tuple[Settings, Database, RunReport]) -> InternalStorage:
    settings, _, report = ran
    return InternalStorage(settings.storage.url, dag_id="scripts", run_id=report.run_id)


def test_states(ran: Any) -> None:
    states = ran[2].task_states
    assert states == {
        "produce": "success",
        "consume": "success",
        "node": "success",
        "venv_script": "success",
        "fails": "failed",
        "too_slow": "failed",
        "dated": "success",
        "in_venv": "success",
        "external": "success",
    }


def test_bash_output_files_round_trip_to_python(ran: Any) -> None:
    produced = _xcom(ran, "produce")
    assert sorted(produced) == ["b.csv", "out/a.csv"]  # notes.txt matches no pattern
    storage = _storage(ran)
    assert all(uri.startswith("dagflow://scripts/") for uri in produced.values())
    assert storage.get_text(produced["out/a.csv"]) == "a,1\n"
    consumed = _xcom(ran, "consume")
    assert storage.get_text(consumed["result.txt"]) == "5"


def test_node_and_decorated_script(ran: Any) -> None:
    storage = _storage(ran)
    assert storage.get_text(_xcom(ran, "node")["n.json"]) == '{"sum":3}'
    assert storage.get_text(_xcom(ran, "dated")["d.txt"]) == "2024-03-05"


def test_virtualenv_is_cached_and_shared(ran: Any) -> None:
    settings = ran[0]
    venvs = [p for p in (settings.home / "venvs").iterdir() if p.is_dir()]
    assert len(venvs) == 1  # ScriptOperator(requirements=[]) and @task.virtualenv share one cached env
    result = _xcom(ran, "in_venv")
    assert result == {"prefix": str(venvs[0]), "double": 42}
    assert _storage(ran).get_text(_xcom(ran, "venv_script")["prefix.txt"]) == str(venvs[0])
    assert _xcom(ran, "external") == 7


def _log(ran: Any, task_id: str) -> str:
    settings, _, report = ran
    logs = list((settings.home / "logs").glob(f"dag_id=scripts/run_id=*/task_id={task_id}/attempt=1.log"))
    assert len(logs) == 1
    return logs[0].read_text()


def test_output_streamed_to_log_and_failures_explained(ran: Any) -> None:
    produce = _log(ran, "produce")
    assert "input says: hello" in produce and "run for 2024-03-05 by produce hi" in produce
    assert "python read 2 rows" in _log(ran, "consume")  # stderr too
    fails = _log(ran, "fails")
    assert "doomed" in fails and "script failed: exit code 3" in fails
    assert "timed out after 1s" in _log(ran, "too_slow")


def test_definition_errors() -> None:
    with pytest.raises(ScriptError, match="unknown interpreter 'ruby'"):
        ScriptOperator(task_id="r", script="puts 1", interpreter="ruby")
    with pytest.raises(ScriptError, match="inside the working directory"):
        ScriptOperator(task_id="r", script="x", input_files={"../escape": "x"})
    with pytest.raises(ScriptError, match="inside the working directory"):
        ScriptOperator(task_id="r", script="x", output_files=["/etc/*"])
    with pytest.raises(ValueError, match="requirements= needs interpreter='python'"):
        ScriptOperator(task_id="r", script="x", interpreter="bash", requirements=["six"])
    with pytest.raises(ValueError, match="non-empty"):
        ScriptOperator(task_id="r", script=" ")


def test_two_workers_build_a_virtualenv_once(tmp_path: Path, capfd: Any) -> None:
    results: list[Path] = []
    threads = [threading.Thread(target=lambda: results.append(cached_virtualenv(tmp_path, []))) for _ in range(2)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert results[0] == results[1] and results[0].exists()
    assert capfd.readouterr().out.count("Building virtualenv") == 1
    # a half-built env (no ready marker) is rebuilt
    (results[0].parent.parent / ".dagflow-ready").unlink()
    assert cached_virtualenv(tmp_path, []) == results[0]
    assert "Building virtualenv" in capfd.readouterr().out
    shutil.rmtree(tmp_path / "venvs")
