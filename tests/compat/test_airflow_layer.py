"""The ``airflow`` layer itself: a DAG file written the way Airflow 2 users write it (in process and
through ``dagflow dags test``), unsupported names, and the refusal to run next to a real Apache Airflow."""

from __future__ import annotations

import importlib.util
import json
import os
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pendulum
import pytest

from dagflow.cli.airflow_compat import airflow_conflict
from dagflow.cli.main import main
from dagflow.dag_processing.loader import load_file
from dagflow.db import Database
from dagflow.testing import FrozenClock, run_dag

COMPAT_DIR = Path(__file__).resolve().parents[2] / "compat"
LOGICAL_DATE = pendulum.datetime(2026, 12, 1, tz="UTC")

AIRFLOW2_DAG = """
from datetime import timedelta

from airflow import DAG
from airflow.exceptions import AirflowSkipException
from airflow.models.baseoperator import chain
from airflow.operators.bash import BashOperator
from airflow.operators.empty import EmptyOperator
from airflow.operators.python import BranchPythonOperator, PythonOperator
from airflow.utils.dates import days_ago
from airflow.utils.trigger_rule import TriggerRule

default_args = {"owner": "data", "retries": 1, "retry_delay": timedelta(seconds=0)}
attempts = []


def extract(ti, ds, **kwargs):
    ti.xcom_push(key="rows", value=3)
    return {"day": ds}


def flaky(ti):
    if ti.try_number == 1:
        raise RuntimeError("first try fails")


def skip_me():
    raise AirflowSkipException("nothing to do")


def choose(ti):
    return "load" if ti.xcom_pull(task_ids="extract", key="rows") == 3 else "nothing"


with DAG("airflow2_style", default_args=default_args, schedule_interval=None, start_date=days_ago(1)) as dag:
    e = PythonOperator(task_id="extract", python_callable=extract)
    f = PythonOperator(task_id="flaky", python_callable=flaky)
    s = PythonOperator(task_id="skip_me", python_callable=skip_me)
    b = BranchPythonOperator(task_id="choose", python_callable=choose)
    load = BashOperator(
        task_id="load",
        bash_command='test "{{ macros.ds_add(ds, 1) }}" = 2026-12-02 && '
        'test "{{ ti.xcom_pull(task_ids=\\'extract\\')[\\'day\\'] }}" = {{ ds }}',
    )
    nothing = EmptyOperator(task_id="nothing")
    end = EmptyOperator(task_id="end", trigger_rule=TriggerRule.NONE_FAILED_MIN_ONE_SUCCESS)
    chain(e, f, b, [load, nothing], end)
    s >> end
"""


@pytest.fixture
def airflow_layer() -> Iterator[None]:
    """``import airflow`` gives dagflow's layer (installed, or compat/ of this checkout)."""
    added = importlib.util.find_spec("airflow") is None
    if added:
        sys.path.insert(0, str(COMPAT_DIR))
    import airflow

    if not getattr(airflow, "DAGFLOW_AIRFLOW_COMPAT", False):
        pytest.skip("a real Apache Airflow is importable here")
    yield
    if added:
        sys.path.remove(str(COMPAT_DIR))
        for name in [m for m in sys.modules if m == "airflow" or m.startswith("airflow.")]:
            del sys.modules[name]


def test_an_airflow2_style_dag_file_runs_with_airflows_states(
    airflow_layer: None, tmp_path: Path, db: Database
) -> None:
    path = tmp_path / "airflow2_style.py"
    path.write_text(AIRFLOW2_DAG)
    result = load_file(path)
    assert result.error is None, result.error
    (dag,) = result.dags
    report = run_dag(dag, db=db, logical_date=LOGICAL_DATE, clock=FrozenClock(LOGICAL_DATE))
    assert report.task_states == {
        "extract": "success",
        "flaky": "success",
        "skip_me": "skipped",
        "choose": "success",
        "load": "success",
        "nothing": "skipped",
        "end": "success",
    }
    assert report.ti("flaky")["try_number"] == 2
    assert report.ti("nothing")["try_number"] == 0
    assert report.state == "success"


@pytest.mark.parametrize(
    ("source", "line", "message"),
    [
        (
            "import pendulum\nfrom airflow.sdk import DAG, AssetAlias\n",
            2,
            "airflow.sdk.AssetAlias is not supported by dagflow",
        ),
        (
            "from airflow.sdk import DAG, task\n\n@task.docker(image='python:3.11')\ndef f():\n    pass\n",
            3,
            "@task.docker needs the Docker provider",
        ),
        (
            "from airflow.providers.amazon.aws.operators.s3 import S3CreateBucketOperator  # dag\n",
            1,
            "airflow.providers",
        ),
    ],
)
def test_an_unsupported_name_is_an_import_error_naming_it_and_the_line(
    airflow_layer: None, tmp_path: Path, source: str, line: int, message: str
) -> None:
    path = tmp_path / "unsupported_dag.py"
    path.write_text(source)
    error = load_file(path).error
    assert error is not None
    assert error.lineno == line
    assert str(error).startswith(f"{path}:{line}: ")
    assert message in str(error) and "\n" not in str(error)


def _fake_distribution(folder: Path, name: str, version: str) -> None:
    info = folder / f"{name.replace('-', '_')}-{version}.dist-info"
    info.mkdir()
    (info / "METADATA").write_text(f"Metadata-Version: 2.1\nName: {name}\nVersion: {version}\n")


def test_dagflow_refuses_to_run_next_to_a_real_airflow(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    _fake_distribution(tmp_path, "dagflow-airflow-compat", "0.1.0")
    monkeypatch.syspath_prepend(str(tmp_path))
    assert airflow_conflict() is None  # the layer alone is fine
    _fake_distribution(tmp_path, "apache-airflow-core", "3.1.0")
    assert main(["pools", "list"]) == 1
    err = capsys.readouterr().err.strip()
    assert err.count("\n") == 0
    assert "Apache Airflow 3.1.0 (apache-airflow-core)" in err and "pip uninstall" in err


def test_the_layer_itself_refuses_to_import_next_to_a_real_airflow(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    _fake_distribution(tmp_path, "apache-airflow", "2.10.0")
    monkeypatch.syspath_prepend(str(tmp_path))
    monkeypatch.syspath_prepend(str(COMPAT_DIR))
    spec = importlib.util.spec_from_file_location("airflow_compat_probe", COMPAT_DIR / "airflow" / "_compat.py")
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    with pytest.raises(ImportError, match=r"Apache Airflow 2\.10\.0 \(apache-airflow\) is installed here too"):
        module.refuse_real_airflow()


def test_dagflow_dags_test_runs_an_airflow_dag_folder(tmp_path: Path, migrate_home: Any) -> None:
    """The CLI end to end: an Airflow DAG folder as core.dags_folder, with one file the layer cannot map."""
    home = migrate_home(tmp_path / "home")
    dags = tmp_path / "dags"
    dags.mkdir()
    (dags / "airflow2_style.py").write_text(AIRFLOW2_DAG)
    (dags / "uses_alias.py").write_text("from airflow.sdk import DAG, AssetAlias\n")
    env = {
        **os.environ,
        "DAGFLOW_HOME": str(home),
        "DAGFLOW__CORE__DAGS_FOLDER": str(dags),
        "DAGFLOW__CORE__LOAD_EXAMPLES": "false",
    }
    if importlib.util.find_spec("airflow") is None:  # a checkout without dagflow[airflow-compat] installed
        env["PYTHONPATH"] = os.pathsep.join(filter(None, [str(COMPAT_DIR), env.get("PYTHONPATH")]))

    def dagflow(*args: str) -> subprocess.CompletedProcess[str]:
        command = [sys.executable, "-m", "dagflow", *args]
        return subprocess.run(command, env=env, capture_output=True, text=True, timeout=120)

    tested = dagflow("dags", "test", "airflow2_style", "2026-12-01", "-o", "json")
    assert tested.returncode == 0, tested.stderr
    report = json.loads(tested.stdout)
    assert report["state"] == "success"
    assert {t["task_id"]: t["state"] for t in report["task_instances"]}["nothing"] == "skipped"
    errors = dagflow("dags", "list-import-errors", "-o", "json")
    assert errors.returncode == 0, errors.stderr
    assert "uses_alias.py" in errors.stdout and "airflow.sdk.AssetAlias is not supported" in errors.stdout
