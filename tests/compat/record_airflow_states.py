"""Record what Apache Airflow does with each corpus DAG file (run with an Airflow venv's python).

    python3 -m venv /tmp/airflow-venv && /tmp/airflow-venv/bin/pip install "apache-airflow==3.*"
    AIRFLOW_HOME=/tmp/airflow-home /tmp/airflow-venv/bin/airflow db migrate
    AIRFLOW_HOME=/tmp/airflow-home /tmp/airflow-venv/bin/python tests/compat/record_airflow_states.py

Each file is parsed and each of its DAGs run once with ``dag.test()`` (what ``airflow dags
test`` does) at ``LOGICAL_DATE``, in its own process with a time limit. The final run state
and every task instance's state go to ``airflow_expected.json`` next to this file. This is a
tool for the test data, not part of dagflow; it never runs in the test suite.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import tempfile
from pathlib import Path

HERE = Path(__file__).resolve().parent
CORPUS = HERE / "airflow_examples"
OUT = HERE / "airflow_expected.json"
LOGICAL_DATE = "2026-12-01T00:00:00+00:00"
TIME_LIMIT_S = 240

CHILD = r"""
import json, sys, warnings
warnings.simplefilter("ignore")
import pendulum
from sqlalchemy import select
from airflow.cli.cli_parser import get_parser
from airflow.dag_processing.dagbag import DagBag
from airflow.models import DagRun
from airflow.utils.session import create_session
path, when = sys.argv[1], sys.argv[2]
bag = DagBag(dag_folder=path, safe_mode=False)
result = {"import_errors": {k: str(v).strip().splitlines()[-1] for k, v in bag.import_errors.items()}, "dags": {}}
for dag_id in sorted(bag.dags):
    args = get_parser().parse_args(["dags", "test", dag_id, when, "--dagfile-path", path])
    try:
        args.func(args)
    except SystemExit:
        pass
    except BaseException as exc:
        result["dags"][dag_id] = {"error": f"{type(exc).__name__}: {exc}"[:300]}
        continue
    with create_session() as session:
        run = session.scalar(select(DagRun).where(DagRun.dag_id == dag_id, DagRun.logical_date == pendulum.parse(when)))
        tis = run.get_task_instances(session=session)
        result["dags"][dag_id] = {
            "state": str(getattr(run.state, "value", run.state)),
            "task_instances": sorted(
                [ti.task_id, ti.map_index, str(getattr(ti.state, "value", ti.state)), ti.try_number] for ti in tis
            ),
        }
print("@@RESULT@@" + json.dumps(result))
"""


def record(path: Path) -> dict[str, object]:
    """Airflow's outcome for one file, parsed alone in a DAG folder of its own (with its sql/ and libs/)."""
    with tempfile.TemporaryDirectory(prefix="airflow-record-") as folder:
        for sibling in (path, path.parent / "sql", path.parent / "libs"):
            if sibling.exists():
                os.symlink(sibling, Path(folder, sibling.name))
        return _record_in(Path(folder, path.name))


def _record_in(path: Path) -> dict[str, object]:
    try:
        proc = subprocess.run(
            [sys.executable, "-c", CHILD, str(path), LOGICAL_DATE],
            capture_output=True,
            text=True,
            timeout=TIME_LIMIT_S,
            cwd=path.parent,
            env={**os.environ, "AIRFLOW__CORE__DAGS_FOLDER": str(path.parent), "AIRFLOW__CORE__LOAD_EXAMPLES": "False"},
        )
    except subprocess.TimeoutExpired:
        return {"error": f"did not finish within {TIME_LIMIT_S}s"}
    for line in proc.stdout.splitlines():
        if line.startswith("@@RESULT@@"):
            return json.loads(line[len("@@RESULT@@") :])
    return {"error": (proc.stderr.strip().splitlines() or ["no output"])[-1][:300]}


def main() -> None:
    """Record every corpus file (or only the ones named on the command line) into OUT."""
    results = json.loads(OUT.read_text()) if OUT.exists() else {}
    files = [Path(a).resolve() for a in sys.argv[1:]] or sorted(CORPUS.glob("*/*.py"))
    for path in files:
        key = str(path.relative_to(CORPUS))
        results[key] = record(path)
        print(key, json.dumps(results[key])[:200], flush=True)
        OUT.write_text(json.dumps(dict(sorted(results.items())), indent=1) + "\n")


if __name__ == "__main__":
    main()
