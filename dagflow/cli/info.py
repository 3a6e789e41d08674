"""``dagflow version | info | cheat-sheet``: what is installed, where it looks, and the commands at a glance."""

from __future__ import annotations

import locale
import os
import platform
import shutil
import sys
from importlib.metadata import PackageNotFoundError
from importlib.metadata import version as package_version
from typing import Any

import click

from dagflow.cli.main import CliState, pass_state
from dagflow.cli.output import emit_rows, output_option, to_json


def dagflow_version() -> str:
    """The installed distribution's version."""
    try:
        return package_version("dagflow")
    except PackageNotFoundError:  # running from a source tree that was never installed
        return "unknown"


@click.command("version")
def version() -> None:
    """Print dagflow's version."""
    click.echo(dagflow_version())


@click.command("info")
@click.option("--output", "-o", "fmt", type=click.Choice(["table", "json"]), default="table", show_default=True)
@pass_state
def info(state: CliState, fmt: str) -> None:
    """Show dagflow's version, configuration paths, database, executor and the system it runs on."""
    sections = collect_info(state)
    if fmt == "json":
        click.echo(to_json(sections))
        return
    for title, rows in sections.items():
        click.echo(f"{title}")
        width = max(len(key) for key in rows)
        for key, value in rows.items():
            click.echo(f"  {key.ljust(width)} | {'' if value is None else value}")
        click.echo()


def collect_info(state: CliState) -> dict[str, dict[str, Any]]:
    """The report's sections: dagflow, paths, system, tools (the database password masked)."""
    from dagflow.db import normalize_url

    settings = state.settings
    url = normalize_url(settings.database.sql_alchemy_conn)
    bin_dir = os.path.dirname(sys.executable)
    return {
        "dagflow info": {
            "version": dagflow_version(),
            "executor": settings.core.executor,
            "dags_folder": str(settings.core.dags_folder),
            "load_examples": settings.core.load_examples,
            "sql_alchemy_conn": url.render_as_string(hide_password=True),
            "database_dialect": url.get_backend_name(),
            "base_log_folder": str(settings.logging.base_log_folder),
            "storage_url": settings.storage.url or "(DAGFLOW_HOME/storage)",
        },
        "Paths info": {
            "dagflow_home": str(settings.home),
            "config_file": str(settings.home / "dagflow.toml")
            + ("" if (settings.home / "dagflow.toml").exists() else " (absent: defaults)"),
            "python_location": sys.executable,
            "dagflow_on_path": bool(shutil.which("dagflow")),
            "python_path": os.pathsep.join(p for p in sys.path if p),
            "system_path": os.environ.get("PATH", ""),
            "venv_bin": bin_dir,
        },
        "System info": {
            "OS": platform.system(),
            "architecture": platform.machine(),
            "uname": " ".join(platform.uname()),
            "locale": ".".join(str(part) for part in locale.getlocale() if part),
            "python_version": sys.version.replace("\n", " "),
        },
        "Tools info": {tool: shutil.which(tool) for tool in ("git", "psql", "sqlite3", "redis-cli", "celery")},
    }


@click.command("plugins")
@output_option
def plugins(fmt: str) -> None:
    """List the installed plugins (entry points of the dagflow.* groups) and their distributions."""
    from dagflow.plugins import installed_plugins

    emit_rows(installed_plugins(), ["group", "name", "value", "distribution", "version"], fmt)


@click.command("cheat-sheet")
@click.pass_context
def cheat_sheet(ctx: click.Context) -> None:
    """Every command with its one-line help, grouped by noun."""
    root = ctx.find_root().command
    assert isinstance(root, click.Group)
    lines: list[tuple[str, str]] = []
    _walk(ctx.find_root(), root, "dagflow", lines)
    width = max(len(name) for name, _ in lines)
    for name, text in lines:
        click.echo(f"{name.ljust(width)} | {text}")


def _walk(ctx: click.Context, group: click.Group, prefix: str, lines: list[tuple[str, str]]) -> None:
    for name in group.list_commands(ctx):
        command = group.get_command(ctx, name)
        if command is None or command.hidden:
            continue
        full = f"{prefix} {name}"
        if isinstance(command, click.Group):
            _walk(ctx, command, full, lines)
        else:
            lines.append((full, command.get_short_help_str(limit=100)))
