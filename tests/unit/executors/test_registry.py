"""Executors are found by name in the ``dagflow.executors`` entry-point group, plugins included."""

from __future__ import annotations

import sys
import textwrap
from pathlib import Path

import pytest

from dagflow.config import load_settings
from dagflow.exceptions import ConfigError
from dagflow.executors.base import BaseExecutor
from dagflow.executors.inline import InlineExecutor
from dagflow.executors.local import LocalExecutor
from dagflow.executors.registry import executor_class, executor_from_settings
from dagflow.executors.sequential import SequentialExecutor
from dagflow.plugins import executor_names

PLUGIN = '''
from dagflow.executors.inline import InlineExecutor

class EchoExecutor(InlineExecutor):
    """A plugin's executor: runs tries inline, like the built-in one it extends."""

class NotAnExecutor:
    pass
'''


@pytest.fixture
def plugin(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """A distribution ``echo-plugin`` on sys.path declaring two entries in the group."""
    (tmp_path / "echo_plugin.py").write_text(textwrap.dedent(PLUGIN))
    info = tmp_path / "echo_plugin-0.1.dist-info"
    info.mkdir()
    (info / "METADATA").write_text("Metadata-Version: 2.1\nName: echo-plugin\nVersion: 0.1\n")
    (info / "entry_points.txt").write_text(
        "[dagflow.executors]\nEchoExecutor = echo_plugin:EchoExecutor\nBroken = echo_plugin:NotAnExecutor\n"
    )
    monkeypatch.syspath_prepend(str(tmp_path))
    yield tmp_path
    sys.modules.pop("echo_plugin", None)


def test_the_built_in_executors_are_declared_in_the_group() -> None:
    assert {"LocalExecutor", "SequentialExecutor", "CeleryExecutor"} <= set(executor_names())
    assert executor_class("LocalExecutor") is LocalExecutor
    assert executor_class("SequentialExecutor") is SequentialExecutor


def test_a_plugin_executor_is_accepted_by_the_config_and_built_by_name(plugin: Path, tmp_path: Path) -> None:
    settings = load_settings({"DAGFLOW_HOME": str(tmp_path), "DAGFLOW__CORE__EXECUTOR": "EchoExecutor"})
    executor = executor_from_settings(settings, parallelism=3)
    assert type(executor).__name__ == "EchoExecutor" and isinstance(executor, InlineExecutor)
    assert executor.settings is settings


def test_unknown_and_broken_executors_are_one_line_config_errors(plugin: Path, tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match="expected one of .*EchoExecutor") as unknown:
        load_settings({"DAGFLOW_HOME": str(tmp_path), "DAGFLOW__CORE__EXECUTOR": "NoSuchExecutor"})
    assert "\n" not in str(unknown.value)
    with pytest.raises(ConfigError, match="not a BaseExecutor subclass"):
        executor_class("Broken")
    with pytest.raises(ConfigError, match="unknown executor 'Nope'"):
        executor_class("Nope")


def test_every_executor_keeps_the_contract() -> None:
    """What the loop relies on is there on every built-in executor, without duck-typing."""
    for name in ("LocalExecutor", "SequentialExecutor"):
        cls = executor_class(name)
        assert issubclass(cls, BaseExecutor)
        for attribute in ("holds_tries_in_memory", "runs_inline", "logs_on_workers"):
            assert isinstance(getattr(cls, attribute), bool)
    assert SequentialExecutor.runs_inline and not LocalExecutor.runs_inline
    assert LocalExecutor.holds_tries_in_memory
