"""The root ``dagflow`` group, the lazily loaded CLI state and the one error boundary."""

from __future__ import annotations

import faulthandler
import os
import signal
import sys
from functools import cached_property
from typing import TYPE_CHECKING

import click

from dagflow.config import Settings, load_settings
from dagflow.exceptions import DagflowError, InvalidInput
from dagflow.private_files import make_private_dirs
from dagflow.sdk.task_defaults import set_default_task_retries
from dagflow.sdk.timezone import set_default_timezone
from dagflow.services.actor import os_user, reset_actor, set_actor

#: Domain errors that mean "the arguments were wrong": exit code 2, like click's usage errors.
#: Every other ``DagflowError`` kind (not found, conflict, permission denied...) exits 1.
BAD_INPUT: tuple[type[DagflowError], ...] = (InvalidInput,)

if TYPE_CHECKING:
    from dagflow.db import Database


class CliState:
    """What a command needs, loaded on first use: settings once, the database once."""

    @cached_property
    def settings(self) -> Settings:
        """Settings from defaults, dagflow.toml and the environment; creates ``DAGFLOW_HOME`` (0700).

        Also hands the SDK ``core.default_timezone`` and ``core.default_task_retries``: DAG files imported by this process and
        by the processes forked from it (LocalExecutor and Celery workers) read naive dates in it.
        """
        settings = load_settings()
        make_private_dirs(settings.home)
        set_default_timezone(settings.core.default_timezone)
        set_default_task_retries(settings.core.default_task_retries)
        return settings

    @cached_property
    def db(self) -> Database:
        """The metadata database (not migrated here)."""
        from dagflow.db import Database

        return Database(self.settings)


pass_state = click.make_pass_decorator(CliState, ensure=True)


@click.group(context_settings={"help_option_names": ["-h", "--help"], "max_content_width": 100})
@click.version_option(package_name="dagflow")
@click.pass_context
def cli(ctx: click.Context) -> None:
    """dagflow: an Airflow-style workflow scheduler."""
    from dagflow.cli.airflow_compat import airflow_conflict

    conflict = airflow_conflict()
    if conflict is not None:
        raise click.ClickException(conflict)
    ctx.ensure_object(CliState)
    token = set_actor(os_user())  # the audit event log names the OS user, as Airflow's CLI does
    ctx.call_on_close(lambda: reset_actor(token))


#: Top-level command groups: (module under dagflow.cli, attribute). One module per noun.
COMMANDS: tuple[tuple[str, str], ...] = (
    ("db", "db"),
    ("dags", "dags"),
    ("tasks", "tasks"),
    ("pools", "pools"),
    ("variables", "variables"),
    ("connections", "connections"),
    ("state_store", "state_store"),
    ("sla", "sla"),
    ("assets", "assets"),
    ("dag_processor", "dag_processor"),
    ("scheduler", "scheduler"),
    ("triggerer", "triggerer"),
    ("standalone", "standalone"),
    ("celery", "celery"),
    ("fernet", "rotate_fernet_key"),
    ("users", "users"),
    ("webserver", "webserver"),
    ("webserver", "api_server"),
    ("info", "version"),
    ("info", "info"),
    ("info", "cheat_sheet"),
    ("info", "plugins"),
    ("config", "config"),
    ("jobs", "jobs"),
)
#: Modules that add subcommands to an existing group (``register()`` is called once).
EXTENSIONS: tuple[str, ...] = (
    "dags_runs",
    "dags_details",
    "tasks_manage",
    "tasks_run",
    "tasks_logs",
    "backfill",
    "transfer",
)


def _register() -> None:
    from importlib import import_module

    for module_name, attribute in COMMANDS:
        module = import_module(f"dagflow.cli.{module_name}")
        cli.add_command(getattr(module, attribute))
    for module_name in EXTENSIONS:
        import_module(f"dagflow.cli.{module_name}").register()


def main(argv: list[str] | None = None) -> int:
    """Run the CLI; turn every error into one line on stderr and an exit code."""
    _dump_stacks_on_sigusr1()
    _register()
    try:
        result = cli.main(args=argv, prog_name="dagflow", standalone_mode=False)
    except click.exceptions.Abort:
        click.echo("Aborted.", err=True)
        return 130
    except click.ClickException as exc:
        exc.show()
        return exc.exit_code
    except DagflowError as exc:
        _debug_traceback()
        click.echo(f"Error: {_one_line(exc)}", err=True)
        return 2 if isinstance(exc, BAD_INPUT) else 1
    except KeyboardInterrupt:
        click.echo("Interrupted.", err=True)
        return 130
    except Exception as exc:  # noqa: BLE001 - the last boundary: never a bare traceback
        _debug_traceback()
        click.echo(
            f"Error: unexpected {type(exc).__name__}: {_one_line(exc)} (set DAGFLOW_DEBUG=1 for the traceback)",
            err=True,
        )
        return 1
    return result if isinstance(result, int) else 0


def _dump_stacks_on_sigusr1() -> None:
    """``kill -USR1 <pid>`` prints every thread's stack to stderr and the process goes on.

    For a process that seems stuck (a scheduler, a worker, a task): the same signal
    Celery's worker answers with its threads' tracebacks. Forked workers and task
    processes inherit it; a task process's stderr is its try's log.
    """
    if not hasattr(signal, "SIGUSR1"):
        return
    try:
        faulthandler.register(signal.SIGUSR1, all_threads=True)
    except (AttributeError, OSError, ValueError):  # stderr is not a file (an embedding, a test runner)
        return


def _one_line(exc: BaseException) -> str:
    text = str(exc).strip() or type(exc).__name__
    return text.splitlines()[0]


def _debug_traceback() -> None:
    if os.environ.get("DAGFLOW_DEBUG"):
        import traceback

        traceback.print_exc(file=sys.stderr)
