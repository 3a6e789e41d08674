"""Plugins through entry points: the example distribution in tests/plugins/example_plugin, made
visible to importlib.metadata as an installed distribution (a dist-info directory on sys.path,
written from its pyproject.toml), is found, used and listed for each plugin kind."""

from __future__ import annotations

import sys
import tomllib
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pendulum
import pytest

from dagflow import DAG, plugins
from dagflow.config import load_settings
from dagflow.db import Database
from dagflow.exceptions import PluginNotFound
from dagflow.sdk import task
from dagflow.services.xcoms import get_xcom
from dagflow.storage.backends import backend_for_url
from dagflow.testing import run_dag
from dagflow.timetables import timetable_from_dict

PLUGIN = Path(__file__).resolve().parents[2] / "plugins" / "example_plugin"


def _install_dist_info(site: Path) -> None:
    """Write the distribution's metadata (name, version, entry points) as pip would."""
    project = tomllib.loads((PLUGIN / "pyproject.toml").read_text())["project"]
    dist_info = site / f"{project['name'].replace('-', '_')}-{project['version']}.dist-info"
    dist_info.mkdir(parents=True)
    (dist_info / "METADATA").write_text(
        f"Metadata-Version: 2.1\nName: {project['name']}\nVersion: {project['version']}\n"
    )
    lines = []
    for group, points in project["entry-points"].items():
        lines.append(f"[{group}]")
        lines.extend(f"{name} = {target}" for name, target in points.items())
    (dist_info / "entry_points.txt").write_text("\n".join(lines) + "\n")


@pytest.fixture(scope="module")
def example_plugin(tmp_path_factory: pytest.TempPathFactory) -> Iterator[None]:
    site = tmp_path_factory.mktemp("site")
    _install_dist_info(site)
    added = [str(site), str(PLUGIN / "src")]
    sys.path[:0] = added
    yield
    for entry in added:
        sys.path.remove(entry)
    for name in [m for m in sys.modules if m.startswith("dagflow_example_plugin")]:
        del sys.modules[name]


def test_each_plugin_kind_is_listed_with_its_distribution(example_plugin: None, run_cli: Any) -> None:
    rows = run_cli("plugins", "--output", "json").json()
    mine = {(r["group"], r["name"]) for r in rows if r["distribution"] == "dagflow-example-plugin"}
    assert mine == {
        ("dagflow.operators", "greet"),
        ("dagflow.sensors", "file_has_text"),
        ("dagflow.timetables", "every_two_days"),
        ("dagflow.storage", "exampledir"),
        ("dagflow.notifiers", "FileNotifier"),
        ("dagflow.template_filters", "shout"),
    }
    assert {r["version"] for r in rows if r["distribution"] == "dagflow-example-plugin"} == {"0.1.0"}
    table = run_cli("plugins").stdout
    assert "greet" in table and "dagflow_example_plugin.operators:GreetOperator" in table


def test_unknown_plugin_names_what_is_installed(example_plugin: None) -> None:
    with pytest.raises(PluginNotFound, match=r"no dagflow.operators plugin named 'nope' \(installed: greet\)"):
        plugins.load("dagflow.operators", "nope")
    with pytest.raises(PluginNotFound, match="unknown plugin group"):
        plugins.load("dagflow.widgets", "greet")


def test_plugins_are_used_in_a_real_run(example_plugin: None, tmp_path: Path) -> None:
    flag = tmp_path / "flag.txt"
    flag.write_text("ready\n")
    store = tmp_path / "store"
    home = tmp_path / "home"
    home.mkdir()
    settings = load_settings({"DAGFLOW_HOME": str(home), "DAGFLOW__STORAGE__URL": f"exampledir://{store}"})
    greet_cls = plugins.load("dagflow.operators", "greet")
    sensor_cls = plugins.load("dagflow.sensors", "file_has_text")
    with DAG("plugged", schedule="every_two_days", start_date=pendulum.datetime(2024, 1, 1)) as dag:
        wait = sensor_cls(task_id="wait", path=str(flag), text="ready", poke_interval=0.1, timeout=10)
        greet = greet_cls(task_id="greet", name="{{ 'world' | shout }}")

        @task
        def keep(**context: Any) -> str:
            return str(context["storage"].put_text("note.txt", "kept"))

        wait >> greet >> keep()

    timetable = dag.timetable
    assert type(timetable).__name__ == "EveryTwoDaysTimetable"
    assert type(timetable_from_dict(timetable.serialize())) is type(timetable)  # the scheduler rebuilds it

    db = Database(settings)
    try:
        report = run_dag(dag, settings=settings, db=db, logical_date=pendulum.datetime(2024, 1, 5))
        assert report.task_states == {"wait": "success", "greet": "success", "keep": "success"}

        def xcom(task_id: str) -> Any:
            return get_xcom(settings, db, dag_id="plugged", run_id=report.run_id, task_id=task_id, key="return_value")

        assert xcom("greet").value == "hello WORLD!"
        uri = xcom("keep").value
    finally:
        db.dispose()
    assert type(backend_for_url(settings.storage.url)).__name__ == "ExampleDirBackend"
    stored = list(store.rglob("note.txt.obj"))
    assert len(stored) == 1 and stored[0].read_text() == "kept"
    assert uri.startswith("dagflow://plugged/") and uri.endswith("/note.txt")


def test_a_notifier_plugin_by_name_runs_as_a_callback(example_plugin: None, tmp_path: Path) -> None:
    from dagflow.notifications import BaseNotifier, WebhookNotifier, notifier
    from dagflow.operators import BashOperator

    sent = tmp_path / "notes.txt"
    home = tmp_path / "home"
    home.mkdir()
    settings = load_settings({"DAGFLOW_HOME": str(home)})
    told = notifier("FileNotifier", path=str(sent), message="{{ ti.task_id }} failed in {{ dag.dag_id }}")
    assert isinstance(told, BaseNotifier) and type(told).__name__ == "FileNotifier"
    assert isinstance(notifier("WebhookNotifier", url="http://127.0.0.1:9/hook"), WebhookNotifier)  # dagflow's own
    with DAG("notified", schedule=None, start_date=pendulum.datetime(2024, 1, 1)) as dag:
        BashOperator(task_id="breaks", bash_command="exit 3", on_failure_callback=told)
        BashOperator(task_id="works", bash_command="true", on_failure_callback=[told])
    db = Database(settings)
    try:
        report = run_dag(dag, settings=settings, db=db)
    finally:
        db.dispose()
    assert report.task_states == {"breaks": "failed", "works": "success"}
    assert sent.read_text() == "breaks failed in notified\n"

    with pytest.raises(PluginNotFound, match=r"no dagflow.notifiers plugin named 'Pager' \(installed: .*FileNotifier"):
        notifier("Pager")
