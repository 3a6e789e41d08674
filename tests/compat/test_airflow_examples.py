"""Airflow's own example DAGs, unchanged, run on dagflow through the ``airflow`` layer.

Each corpus file (``airflow_examples/``) is imported as the DAG processor imports it and
each of its DAGs is run once as ``dagflow dags test`` runs it (``dagflow.testing.run_dag``:
the scheduler loop and the task runner on a real SQLite database; the tries run in the
test process, ``fork=False``, to stay within the time budget) at the logical date Airflow's
run was recorded at. The final run state and every task instance (task id, map
index, state, try number) must equal what ``airflow dags test`` gave
(``airflow_expected.json``, written by ``record_airflow_states.py``). The files that do not
match are listed in ``NOT_MATCHING`` with the reason; the README repeats that list.
"""

from __future__ import annotations

import importlib.util
import json
import shutil
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pendulum
import pytest

from dagflow.config import load_settings
from dagflow.db import Database
from dagflow.exceptions import DagImportError, ParamValidationError
from dagflow.testing import FrozenClock, run_dag

HERE = Path(__file__).resolve().parent
CORPUS = HERE / "airflow_examples"
COMPAT_DIR = HERE.parents[1] / "compat"
EXPECTED: dict[str, Any] = json.loads((HERE / "airflow_expected.json").read_text())
LOGICAL_DATE = pendulum.datetime(2026, 12, 1, tz="UTC")
#: Files whose outcome depends on the time of day the run happens (BranchDateTimeOperator on
#: now): they run at a moment of the same window as Airflow's recorded run (before 15:00 UTC).
#: Files that branch on the wall clock, and the moment of Airflow's recorded run they are run at
#: (the day-of-week example ran on a weekend: neither its Monday branch nor its mid-week one).
WALL_CLOCK = {
    "standard/example_branch_datetime_operator.py": pendulum.datetime(2026, 12, 1, 12, 0, tz="UTC"),
    "standard/example_branch_day_of_week_operator.py": pendulum.datetime(2026, 12, 6, 12, 0, tz="UTC"),
}

AIRFLOW_OWN = "imports a module of Airflow's own example package (airflow.example_dags), not a public API"
VENV = "uses PythonVirtualenvOperator / ExternalPythonOperator or @task.virtualenv / .external_python, not mapped"

#: Corpus files that do not give Airflow's states on dagflow, and why (the README repeats this list).
NOT_MATCHING: dict[str, str] = {
    "core/example_asset_alias.py": "uses AssetAlias, not mapped (dagflow has Asset, AssetAll, AssetAny)",
    "core/example_asset_alias_with_no_taskflow.py": "uses AssetAlias, not mapped",
    "core/example_asset_allow_teams.py": "uses AssetAccessControl (multi-team access), not mapped",
    "core/example_asset_decorator.py": "uses the @asset decorator, not mapped",
    "core/example_asset_partition.py": "uses partitioned assets (CronPartitionTimetable...), not mapped",
    "core/example_asset_with_watchers.py": "uses AssetWatcher with file-deletion triggers, not mapped",
    "core/example_assets.py": "uses AssetOrTimeSchedule, not mapped",
    "core/example_outlet_event_extra.py": "yields Metadata for outlet events, not mapped",
    "core/example_custom_weight.py": AIRFLOW_OWN + " (a custom priority weight strategy)",
    "core/example_workday_timetable.py": AIRFLOW_OWN + " (a custom timetable plugin)",
    "core/example_dag_decorator.py": "imports httpx (a third-party HTTP client) and calls a web service",
    "core/example_kubernetes_executor.py": "needs the Kubernetes executor and airflow.configuration",
    "core/example_local_kubernetes_executor.py": "needs the Kubernetes executor and airflow.configuration",
    "core/example_retry_policy.py": "uses ExceptionRetryPolicy (retry rules per exception), not mapped",
    "core/example_task_state_store_async.py": "Airflow 3.3.2 fails it on every try (its task state store has no "
    "aget(), which the example calls); dagflow runs it as the example intends: success on the retry",
    "core/tutorial_objectstorage.py": "uses ObjectStoragePath (object storage), not mapped",
    "core/tutorial_taskflow_api_virtualenv.py": VENV,
    "standard/example_branch_operator.py": VENV,
    "standard/example_branch_operator_decorator.py": VENV,
    "standard/example_external_task_marker_dag.py": "uses ExternalTaskMarker, not mapped (and Airflow's own run "
    "did not finish: its child DAG waits for a parent run that dags test never makes)",
    "standard/example_hitl_operator.py": "uses the human-in-the-loop operators, not mapped",
    "standard/example_sensors.py": "Airflow's own dags test did not finish: it runs wait_for_file (poking for days) "
    "before create_file_after_3_seconds; on dagflow the run ends success (it is not run in this test)",
    "standard/example_python_operator.py": VENV,
}


#: Files whose Airflow run saw what an earlier file left in the shared database: Airflow's
#: recording ran every file, in this order, against one database, and so does this test.
#: The parent's deferrable ExternalTaskSensor finds the child's run at the same logical date.
#: (A file run as a prerequisite first is not run again.)
PREREQUISITES: dict[str, list[str]] = {
    "standard/example_external_task_parent_deferrable.py": ["standard/example_external_task_child_deferrable.py"],
    # The controller triggers example_trigger_target_dag, which Airflow knew from the core file.
    "standard/example_trigger_controller_dag.py": ["core/example_trigger_target_dag.py"],
}
_already_run: set[str] = set()


@pytest.fixture(scope="module")
def airflow_layer() -> Iterator[None]:
    """``import airflow`` gives dagflow's layer: installed (dagflow[airflow-compat]) or compat/ of this checkout."""
    added = importlib.util.find_spec("airflow") is None
    if added:
        sys.path.insert(0, str(COMPAT_DIR))
    import airflow

    if not getattr(airflow, "DAGFLOW_AIRFLOW_COMPAT", False):
        pytest.skip("a real Apache Airflow is importable here, not dagflow's airflow layer")
    yield
    if added:
        sys.path.remove(str(COMPAT_DIR))
        for name in [m for m in sys.modules if m == "airflow" or m.startswith("airflow.")]:
            del sys.modules[name]


@pytest.fixture(scope="module")
def corpus_db(_sqlite_template: Path, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Database]:
    """One migrated SQLite database for the whole corpus (the DAG ids are distinct), kept warm."""
    home = tmp_path_factory.mktemp("airflow_examples_home")
    shutil.copyfile(_sqlite_template, home / "dagflow.db")
    database = Database(load_settings({"DAGFLOW_HOME": str(home)}, home=home))
    yield database
    database.dispose()


def _summary(report: Any) -> dict[str, Any]:
    tis = sorted([t["task_id"], t["map_index"], t["state"], t["try_number"]] for t in report.task_instances)
    return {"state": report.state, "task_instances": tis}


def _run_file(path: Path, db: Database, *, run: bool = True) -> dict[str, Any]:
    """What dagflow does with one corpus file: its import error, or each DAG's outcome (``run=False``: none)."""
    from dagflow.dag_processing.loader import load_file

    result = load_file(path)
    if result.error is not None:
        return {"import_error": result.error}
    outcomes: dict[str, Any] = {}
    if not run:
        return {"dags": outcomes}
    for dag in result.dags:
        try:
            report = _run_at_recorded_time(path, dag, db)
        except ParamValidationError as exc:  # the run is refused, as Airflow refuses it
            outcomes[dag.dag_id] = {"error": "ParamValidationError", "detail": str(exc)}
        else:
            outcomes[dag.dag_id] = _summary(report)
    return {"dags": outcomes}


def _run_at_recorded_time(path: Path, dag: Any, db: Database) -> Any:
    """Run one DAG; a file that branches on the wall clock runs at the time of day Airflow's run had."""
    moment = WALL_CLOCK.get(path.relative_to(CORPUS).as_posix())
    if moment is None:
        return run_dag(dag, db=db, logical_date=LOGICAL_DATE, clock=FrozenClock(pendulum.now("UTC")), fork=False)
    real_now, offset = pendulum.now, moment - pendulum.now("UTC")

    def shifted_now(tz: Any = None) -> pendulum.DateTime:
        return real_now(tz) + offset  # starts at ``moment`` and moves on with the real clock

    pendulum.now = shifted_now  # the run is in this process (fork=False)
    try:
        return run_dag(dag, db=db, logical_date=LOGICAL_DATE, clock=FrozenClock(pendulum.now("UTC")), fork=False)
    finally:
        pendulum.now = real_now


def _airflow_outcome(name: str) -> dict[str, Any]:
    """Airflow's outcome in the same shape (its run-refusing errors reduced to their kind)."""
    dags: dict[str, Any] = {}
    for dag_id, outcome in EXPECTED[name].get("dags", {}).items():
        if "error" in outcome:
            dags[dag_id] = {"error": outcome["error"].split(":", 1)[0]}
        else:
            dags[dag_id] = {"state": outcome["state"], "task_instances": outcome["task_instances"]}
    return dags


def _comparable(dags: dict[str, Any]) -> dict[str, Any]:
    return {dag_id: {k: v for k, v in outcome.items() if k != "detail"} for dag_id, outcome in dags.items()}


@pytest.mark.slow
@pytest.mark.parametrize("name", sorted(EXPECTED))
def test_example_ends_as_on_airflow(name: str, airflow_layer: None, corpus_db: Database) -> None:
    if name in _already_run:
        pytest.skip(f"{name} already ran as a prerequisite of another file")
    for earlier in PREREQUISITES.get(name, []):
        if earlier not in _already_run:
            _run_file(CORPUS / earlier, corpus_db)
            _already_run.add(earlier)
    airflow_finished = "error" not in EXPECTED[name]  # Airflow's own run did not finish: nothing to compare
    got = _run_file(CORPUS / name, corpus_db, run=airflow_finished)
    _already_run.add(name)
    error = got.get("import_error")
    if error is not None:
        # A file that does not parse fails with one clear line naming the file, its line and the name.
        assert isinstance(error, DagImportError)
        assert error.lineno is not None, error
        assert "\n" not in str(error) and str(error).startswith(f"{CORPUS / name}:{error.lineno}: ")
        assert name in NOT_MATCHING, f"{name} does not import on dagflow: {error}"
        pytest.xfail(f"{NOT_MATCHING[name]}: {error.message}")
    if not airflow_finished:
        assert name in NOT_MATCHING, f"{name}: Airflow's run did not finish ({EXPECTED[name]['error']})"
        pytest.xfail(NOT_MATCHING[name])
    matches = _comparable(got["dags"]) == _airflow_outcome(name)
    if name in NOT_MATCHING:
        assert not matches, f"{name} now ends as on Airflow: take it out of NOT_MATCHING (and the README)"
        pytest.xfail(NOT_MATCHING[name])
    assert _comparable(got["dags"]) == _airflow_outcome(name)


def test_the_corpus_is_recorded_and_enough_of_it_matches() -> None:
    files = sorted(str(p.relative_to(CORPUS)) for p in CORPUS.glob("*/*.py"))
    assert files == sorted(EXPECTED), "every corpus file has Airflow's recorded outcome"
    assert set(NOT_MATCHING) <= set(files)
    assert len(files) - len(NOT_MATCHING) >= 32
