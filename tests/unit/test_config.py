"""Settings: defaults < dagflow.toml < DAGFLOW__SECTION__KEY, typed, one-line errors."""

from __future__ import annotations

from pathlib import Path

import pytest

from dagflow.config import in_dag_folders, load_settings
from dagflow.exceptions import ConfigError


def test_defaults_live_under_home(tmp_path: Path) -> None:
    settings = load_settings({"DAGFLOW_HOME": str(tmp_path)})

    assert settings.home == tmp_path.resolve()
    assert settings.core.dags_folder == tmp_path.resolve() / "dags"
    assert settings.core.executor == "LocalExecutor"
    assert settings.database.sql_alchemy_conn == f"sqlite:///{tmp_path.resolve() / 'dagflow.db'}"
    assert settings.storage.url == (tmp_path.resolve() / "storage").as_uri()
    assert settings.logging.base_log_folder == tmp_path.resolve() / "logs"
    assert settings.core.dag_run_conf_overrides_params is True  # Airflow's default


def test_toml_overrides_defaults_and_env_overrides_toml(tmp_path: Path) -> None:
    (tmp_path / "dagflow.toml").write_text(
        '[core]\nparallelism = 7\ndags_folder = "/srv/dags"\n[scheduler]\ncheck_slas = false\n'
    )
    env = {"DAGFLOW_HOME": str(tmp_path), "DAGFLOW__CORE__PARALLELISM": "3"}
    settings = load_settings({**env, "DAGFLOW__CORE__DAG_RUN_CONF_OVERRIDES_PARAMS": "false"})

    assert settings.core.parallelism == 3
    assert settings.core.dag_run_conf_overrides_params is False
    assert settings.core.dags_folder == Path("/srv/dags")
    assert settings.scheduler.check_slas is False


@pytest.mark.parametrize(
    ("name", "value", "message"),
    [
        ("DAGFLOW__CORE__PARALLELISM", "many", "core.parallelism: expected int, got 'many'"),
        ("DAGFLOW__CORE__EXECUTOR", "KubernetesExecutor", "core.executor: expected one of"),
        ("DAGFLOW__SCHEDULER__CHECK_SLAS", "perhaps", "scheduler.check_slas: expected bool"),
        ("DAGFLOW__CORE__NO_SUCH_KEY", "1", "unknown configuration key core.no_such_key"),
        ("DAGFLOW__NOSECTION__KEY", "1", "unknown configuration section [nosection]"),
        ("DAGFLOW__CORE__PARALLELISM", "0", "core.parallelism: must be at least 1"),
        ("DAGFLOW__LOGGING__LEVEL", "LOUD", "logging.level: expected one of"),
    ],
)
def test_bad_values_name_the_key(tmp_path: Path, name: str, value: str, message: str) -> None:
    with pytest.raises(ConfigError) as err:
        load_settings({"DAGFLOW_HOME": str(tmp_path), name: value})

    assert message in str(err.value)
    assert "\n" not in str(err.value)


def test_broken_toml_is_one_clear_error(tmp_path: Path) -> None:
    (tmp_path / "dagflow.toml").write_text("[core\nparallelism = 3\n")

    with pytest.raises(ConfigError, match="dagflow.toml"):
        load_settings({"DAGFLOW_HOME": str(tmp_path)})


@pytest.mark.parametrize(("raw", "expected"), [("true", True), ("1", True), ("off", False), ("No", False)])
def test_booleans_from_env(tmp_path: Path, raw: str, expected: bool) -> None:
    settings = load_settings({"DAGFLOW_HOME": str(tmp_path), "DAGFLOW__CORE__LOAD_EXAMPLES": raw})

    assert settings.core.load_examples is expected


def test_replace_returns_changed_copy(tmp_path: Path) -> None:
    settings = load_settings({"DAGFLOW_HOME": str(tmp_path)})

    changed = settings.replace(core={"parallelism": 2})

    assert changed.core.parallelism == 2
    assert settings.core.parallelism == 32


def test_in_dag_folders_takes_files_strictly_below_a_dag_folder_symlinks_resolved(tmp_path: Path) -> None:
    settings = load_settings({"DAGFLOW_HOME": str(tmp_path)})
    folder = settings.core.dags_folder
    (folder / "sub").mkdir(parents=True)
    (folder / "sub" / "a.py").write_text("")
    sibling = folder.parent / (folder.name + "_other")  # shares the folder's name as a prefix
    sibling.mkdir()
    (sibling / "b.py").write_text("")
    (folder / "escape.py").symlink_to(sibling / "b.py")
    (folder / "inside.py").symlink_to(folder / "sub" / "a.py")
    assert in_dag_folders(settings, folder / "sub" / "a.py")
    assert in_dag_folders(settings, str(folder / "inside.py"))
    assert not in_dag_folders(settings, sibling / "b.py")
    assert not in_dag_folders(settings, folder / "escape.py")
    assert not in_dag_folders(settings, folder)
    assert not in_dag_folders(settings, folder / ".." / (folder.name + "_other") / "b.py")
