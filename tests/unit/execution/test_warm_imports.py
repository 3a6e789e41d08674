"""What the LocalExecutor warms before it forks its workers: the installed plugins' entry
points (read once per ``sys.path`` entry) and a template environment. A worker forked after
the warm must see exactly what it would have read itself, including a distribution on a
``sys.path`` entry added after the warm (a DAG folder)."""

from __future__ import annotations

import os
import sys
from collections.abc import Iterator
from importlib.metadata import entry_points
from pathlib import Path

import pytest

from dagflow import plugins
from dagflow.execution.local_worker import warm_imports
from dagflow.sdk.templating import create_template_env, render_value


def _dist(site: Path, name: str, filters: dict[str, str], module: str | None = None) -> None:
    """A distribution installed in ``site`` (a dist-info as pip writes it) with template filters."""
    info = site / f"{name.replace('-', '_')}-1.0.dist-info"
    info.mkdir(parents=True)
    (info / "METADATA").write_text(f"Metadata-Version: 2.1\nName: {name}\nVersion: 1.0\n")
    lines = ["[dagflow.template_filters]", *(f"{k} = {v}" for k, v in filters.items())]
    (info / "entry_points.txt").write_text("\n".join(lines) + "\n")
    if module is not None:
        (site / f"{module}.py").write_text(
            "def shout(s):\n    return s.upper() + '!'\n\ndef whisper(s):\n    return s.lower()\n"
        )


_BASE: list[str] = list(sys.path)


def path_restored_base() -> list[str]:
    return list(_BASE)


@pytest.fixture
def path_restored() -> Iterator[None]:
    before = list(sys.path)
    yield
    sys.path[:] = before
    for name in [m for m in sys.modules if m.startswith("ft_filters_")]:
        del sys.modules[name]


def _as_values(points: dict) -> dict[str, str]:
    return {name: point.value for name, point in points.items()}


def _reference(group: str) -> dict[str, str]:
    found: dict[str, str] = {}
    for point in entry_points(group=group):
        found.setdefault(point.name, point.value)
    return found


def test_entry_points_match_importlib_metadata_as_sys_path_changes(tmp_path: Path, path_restored: None) -> None:
    first, second = tmp_path / "first", tmp_path / "second"
    _dist(first, "ft-filters", {"shout": "ft_filters_a:shout"})
    _dist(second, "ft-filters", {"shout": "ft_filters_b:shout", "whisper": "ft_filters_b:whisper"})
    _dist(second, "ft-other", {"loud": "ft_filters_b:shout"})
    plugins.warm()
    for path in ([str(first), str(second)], [str(second), str(first)], [str(second)]):
        sys.path[:] = [*path_restored_base(), *path]
        for group in (*plugins.PLUGIN_GROUPS, "console_scripts"):
            assert _as_values(plugins.group_entry_points(group)) == _reference(group), (group, path)
    # The same distribution name on an earlier entry hides the later one's entry points.
    sys.path[:] = [*path_restored_base(), str(first), str(second)]
    assert _as_values(plugins.group_entry_points(plugins.TEMPLATE_FILTERS_GROUP)) == {
        "shout": "ft_filters_a:shout",
        "loud": "ft_filters_b:shout",
    }


def test_a_worker_forked_after_the_warm_finds_a_plugin_on_a_path_added_later(
    tmp_path: Path, path_restored: None
) -> None:
    """The worker's case: warmed in the parent, the DAG folder (holding a distribution) appended
    in the child, whose template environment must have that distribution's filter."""
    warm_imports()
    assert set(sys.path) <= set(plugins._on_entry), "every sys.path entry is read before the fork"
    site = tmp_path / "dags"
    _dist(site, "ft-filters", {"shout": "ft_filters_c:shout"}, module="ft_filters_c")
    pid = os.fork()
    if pid == 0:  # the worker
        code = 1
        try:
            sys.path.append(str(site))
            env = create_template_env()
            code = 0 if render_value("{{ 'hi' | shout }}", {}, env) == "HI!" else 2
        finally:
            os._exit(code)
    _, status = os.waitpid(pid, 0)
    assert os.waitstatus_to_exitcode(status) == 0
    # The parent's view is unchanged: the folder is not on its sys.path.
    assert "shout" not in plugins.group_entry_points(plugins.TEMPLATE_FILTERS_GROUP)


def test_the_template_warm_runs_once_per_process(monkeypatch: pytest.MonkeyPatch) -> None:
    """A worker calls ``warm_imports`` before each fork of a task process: only the first call
    (in the executor's parent) builds template environments, the others import nothing new."""
    from dagflow.execution import context
    from dagflow.sdk import templating

    warm_imports()
    built: list[bool] = []
    real = templating.create_template_env

    def counting(**kw: object) -> object:
        built.append(True)
        return real(**kw)  # type: ignore[arg-type]

    monkeypatch.setattr(templating, "create_template_env", counting)
    context.warm_imports()
    warm_imports()
    assert built == []
    monkeypatch.setattr(context, "_templates_warmed", False)  # a process that never warmed
    context.warm_imports()
    assert built == [True, True]
