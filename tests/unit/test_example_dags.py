"""The example DAGs in ``dags_example/`` import cleanly, look as documented, and run green.

The structural tests import every example file by path, the way the DAG processor
does. The end-to-end test runs each example through the public CLI
(``dagflow dags test DAG_ID --output json``) in a fresh ``DAGFLOW_HOME`` and checks
the run's state and the final state of every task instance the docs talk about.
"""

from __future__ import annotations

import importlib.util
import json
import os
import shutil
import subprocess
import sys
import uuid
from pathlib import Path
from types import ModuleType

import pytest

REPO = Path(__file__).resolve().parents[2]
EXAMPLES = REPO / "dags_example"
EXAMPLE_FILES = sorted(p for p in EXAMPLES.glob("*.py") if not p.name.startswith("_"))

#: dag_id -> every task id it must have (group-prefixed), as the docs describe them.
TASK_IDS: dict[str, set[str]] = {
    "example_etl_taskflow": {"extract", "transform", "load", "report"},
    "example_branching": {
        "start",
        "choose_by_weekday",
        "weekday_report",
        "notify_team",
        "weekend_digest",
        "join",
        "is_month_end",
        "monthly_summary",
        "archive_month",
    },
    "example_mapping": {"list_partitions", "count_rows", "convert", "summarize", "echo_stage"},
    "example_retries_timeouts": {
        "download",
        "parse",
        "enrich_optional",
        "publish",
        "legacy_export",
        "cleanup",
    },
    "example_bash_pipeline": {
        "prepare",
        "transform.generate",
        "transform.count_words",
        "report",
        "cleanup",
    },
    "example_switch_params": {
        "check_release",
        "choose_target",
        "deploy_dev",
        "deploy_staging",
        "deploy_prod",
        "unknown_target",
        "announce",
    },
    "example_sensor": {"deliver", "wait_for_marker", "wait_for_rows", "process", "cleanup"},
    "example_assets": {"write_orders", "write_customers"},
    "example_assets_report": {"settle", "report"},
    "example_state_store": {"claim_lock", "count_rows", "report", "release_lock"},
    "example_script": {"extract", "total", "grade", "report"},
    "example_flow_tasks": {"list_images", "resize", "warm_cache", "legacy_export", "publish"},
    "example_flow_groups": {
        "list_files",
        "download.fetch",
        "publish.build",
        "publish.upload",
        "publish.announce",
    },
}


def load_module(path: Path) -> ModuleType:
    """Import one DAG file by path under a unique module name."""
    name = f"dagflow_example_{path.stem}_{uuid.uuid4().hex[:8]}"
    spec = importlib.util.spec_from_file_location(name, path)
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    sys.modules[name] = module
    try:
        spec.loader.exec_module(module)
    finally:
        sys.modules.pop(name, None)
    return module


def dags_in(path: Path) -> dict:
    """Every DAG a file defines, by dag_id, collected the way the DAG processor does."""
    from dagflow.dag_processing.loader import load_file

    result = load_file(path)
    assert result.error is None, f"{path.name}: {result.error}"
    return {dag.dag_id: dag for dag in result.dags}


@pytest.fixture(scope="module")
def example_dags() -> dict:
    dags: dict = {}
    for path in EXAMPLE_FILES:
        dags.update(dags_in(path))
    return dags


def test_there_are_enough_examples():
    assert len(EXAMPLE_FILES) >= 6


def test_folder_has_no_import_errors():
    from dagflow.dag_processing.loader import load_folder

    result = load_folder([EXAMPLES])
    assert not result.errors
    assert len(result.files) == len(EXAMPLE_FILES)


@pytest.mark.parametrize("path", EXAMPLE_FILES, ids=lambda p: p.name)
def test_file_defines_a_dag_named_like_it(path: Path):
    module = load_module(path)
    assert module.__doc__ and module.__doc__.strip(), f"{path.name} has no module docstring"
    assert path.stem in dags_in(path), f"{path.name} must define the DAG {path.stem!r}"


@pytest.mark.parametrize("dag_id", sorted(TASK_IDS))
def test_task_ids_are_as_documented(example_dags, dag_id: str):
    dag = example_dags[dag_id]
    assert set(dag.task_ids) == TASK_IDS[dag_id]


@pytest.mark.parametrize("dag_id", sorted(TASK_IDS))
def test_no_cycles_and_realistic_schedule(example_dags, dag_id: str):
    dag = example_dags[dag_id]
    dag.check_cycle()
    assert len(dag.topological_sort()) == len(dag.task_ids)
    assert dag.schedule is not None, "examples use a real schedule"
    assert dag.catchup is False
    assert dag.start_date is not None


def test_every_example_is_listed_here(example_dags):
    assert set(example_dags) == set(TASK_IDS)


# --- end to end through the CLI ---------------------------------------------------------

#: (dag_id, extra CLI args, run state, {task_id: state, or list of states by map index,
#:  or dict of fields}).
RUNS = [
    (
        "example_etl_taskflow",
        [],
        "success",
        {"extract": "success", "transform": "success", "load": "success", "report": "success"},
    ),
    (
        "example_branching",
        ["2024-03-04"],
        "success",
        {  # a Monday, mid-month
            "choose_by_weekday": "success",
            "weekday_report": "success",
            "notify_team": "success",
            "weekend_digest": "skipped",
            "join": "success",
            "is_month_end": "success",
            "monthly_summary": "skipped",
            "archive_month": "skipped",
        },
    ),
    (
        "example_branching",
        ["2024-03-31"],
        "success",
        {  # a Sunday, last of the month
            "choose_by_weekday": "success",
            "weekday_report": "skipped",
            "notify_team": "skipped",
            "weekend_digest": "success",
            "join": "success",
            "is_month_end": "success",
            "monthly_summary": "success",
            "archive_month": "success",
        },
    ),
    (
        "example_mapping",
        [],
        "success",
        {
            "list_partitions": "success",
            "count_rows": ["success"] * 4,
            "convert": ["success"] * 3,
            "echo_stage": ["success"] * 2,
            "summarize": "success",
        },
    ),
    (
        "example_retries_timeouts",
        [],
        "success",
        {
            "download": {"state": "success", "try_number": 2},
            "parse": "success",
            "enrich_optional": {"state": "failed", "try_number": 1},
            "publish": "success",
            "legacy_export": {"state": "skipped", "note": "disabled"},
            "cleanup": "success",
        },
    ),
    (
        "example_bash_pipeline",
        ["2024-03-05"],
        "success",
        {
            "prepare": "success",
            "transform.generate": "success",
            "transform.count_words": "success",
            "report": "success",
            "cleanup": "success",
        },
    ),
    (
        "example_switch_params",
        [],
        "success",
        {
            "check_release": "success",
            "choose_target": "success",
            "deploy_staging": "success",
            "deploy_dev": "skipped",
            "deploy_prod": "skipped",
            "unknown_target": "skipped",
            "announce": "success",
        },
    ),
    (
        "example_switch_params",
        ["--conf", json.dumps({"target": "prod"})],
        "success",
        {
            "deploy_prod": "success",
            "deploy_dev": "skipped",
            "deploy_staging": "skipped",
            "unknown_target": "skipped",
            "announce": "success",
        },
    ),
    (
        "example_sensor",
        [],
        "success",
        {
            "deliver": "success",
            "wait_for_marker": "success",
            "wait_for_rows": "success",
            "process": "success",
            "cleanup": "success",
        },
    ),
    (
        "example_assets_report",
        [],
        "success",
        {"settle": {"state": "success", "try_number": 1}, "report": "success"},
    ),
    (
        "example_state_store",
        ["2024-03-05"],
        "success",
        {
            "claim_lock": "success",
            "count_rows": ["success"] * 3,
            "report": "success",
            "release_lock": "success",
        },
    ),
    (
        "example_script",
        ["2024-03-05"],
        "success",
        {"extract": "success", "total": "success", "grade": "success", "report": "success"},
    ),
    (
        "example_flow_tasks",
        ["2024-03-05"],
        "success",
        {
            "list_images": "success",
            "resize": ["success"] * 8,
            "warm_cache": {"state": "failed", "try_number": 2},
            "legacy_export": "skipped",
            "publish": "success",
        },
    ),
    (
        "example_flow_groups",
        [],
        "success",
        {
            "download.fetch": ["success"] * 6,
            "publish.build": "success",
            "publish.upload": "success",
            "publish.announce": "success",
        },
    ),
]


def dagflow_command() -> list[str]:
    """The installed ``dagflow`` script next to this interpreter, else the entry point."""
    script = Path(sys.executable).with_name("dagflow")
    if script.exists():
        return [str(script)]
    found = shutil.which("dagflow")
    if found:
        return [found]
    return [sys.executable, "-c", "from dagflow.cli import main; main()"]


@pytest.fixture(scope="module")
def cli_env(tmp_path_factory) -> dict[str, str]:
    home = tmp_path_factory.mktemp("dagflow_home")
    env = dict(os.environ)
    env.update(
        {
            "DAGFLOW_HOME": str(home),
            "DAGFLOW__CORE__DAGS_FOLDER": str(EXAMPLES),
        }
    )
    migrated = subprocess.run(
        [*dagflow_command(), "db", "migrate"], env=env, capture_output=True, text=True, timeout=120
    )
    assert migrated.returncode == 0, migrated.stderr[-2000:]
    return env


def states_by_task(result: dict) -> dict[str, list[dict]]:
    by_task: dict[str, list[dict]] = {}
    for ti in result["task_instances"]:
        by_task.setdefault(ti["task_id"], []).append(ti)
    for tis in by_task.values():
        tis.sort(key=lambda t: t.get("map_index", -1))
    return by_task


@pytest.mark.slow
@pytest.mark.parametrize(
    ("dag_id", "args", "run_state", "expected"), RUNS, ids=[f"{r[0]}-{i}" for i, r in enumerate(RUNS)]
)
def test_example_runs_green(cli_env, dag_id, args, run_state, expected):
    proc = subprocess.run(
        [*dagflow_command(), "dags", "test", dag_id, *args, "--output", "json"],
        env=cli_env,
        capture_output=True,
        text=True,
        timeout=180,
    )
    output = proc.stdout.strip()
    assert "{" in output, f"no JSON from dags test:\n{output[-2000:]}\n{proc.stderr[-2000:]}"
    result = json.loads(output[output.find("{") :])
    tis = states_by_task(result)
    problems = []
    for task_id, want in expected.items():
        got = tis.get(task_id)
        if not got:
            problems.append(f"{task_id}: no task instance")
        elif isinstance(want, list):
            if [t["state"] for t in got] != want:
                problems.append(f"{task_id}: {[t['state'] for t in got]} != {want}")
        else:
            want = {"state": want} if isinstance(want, str) else want
            for key, value in want.items():
                if got[0].get(key) != value:
                    problems.append(f"{task_id}: {key} {got[0].get(key)!r} != {value!r}")
    assert not problems and result["state"] == run_state and proc.returncode == 0, (
        f"run {result['state']} (exit {proc.returncode}); {problems}\n{proc.stderr[-3000:]}"
    )


@pytest.mark.slow
def test_param_outside_its_enum_is_refused(cli_env):
    proc = subprocess.run(
        [
            *dagflow_command(),
            "dags",
            "test",
            "example_switch_params",
            "--conf",
            json.dumps({"target": "qa"}),
            "--output",
            "json",
        ],
        env=cli_env,
        capture_output=True,
        text=True,
        timeout=180,
    )
    assert proc.returncode == 2  # a bad argument, not a failed run
    assert "target" in proc.stderr and "qa" in proc.stderr
    assert "Traceback" not in proc.stderr
