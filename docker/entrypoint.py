#!/usr/bin/env python
"""The image's entrypoint: wait for the metadata DB, migrate if asked, then become ``dagflow``.

``docker run IMAGE scheduler`` runs ``dagflow scheduler``; ``celery worker --queues q``,
``dag-processor``, ``db migrate``, ``standalone`` and every other dagflow command work the
same way (a leading ``dagflow`` is accepted too). ``bash``, ``sh``, ``python`` and
``python3`` run as they are, without waiting for anything.

Before the command starts, the entrypoint waits until the metadata database accepts a
connection (PostgreSQL only; ``DAGFLOW_DB_WAIT_TIMEOUT`` seconds, default 120), and with
``DAGFLOW_DB_MIGRATE=true`` it upgrades the schema first (for single-container setups; the
compose file uses a one-shot ``db migrate`` service instead). Then it ``exec``s dagflow,
so dagflow keeps this process id and receives the signals tini forwards (SIGTERM on
``docker stop``).
"""

from __future__ import annotations

import os
import sys
import time
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from dagflow.db import Database

PASSTHROUGH = ("bash", "sh", "python", "python3")
NO_DB_FLAGS = ("-h", "--help", "--version")


def main(argv: list[str]) -> None:
    """Dispatch ``argv`` (the container's command) and never return."""
    if argv and argv[0] in PASSTHROUGH:
        os.execvp(argv[0], argv)
    args = argv[1:] if argv and argv[0] == "dagflow" else argv
    if args and not any(flag in args for flag in NO_DB_FLAGS):
        prepare_database(migrate=_truthy(os.environ.get("DAGFLOW_DB_MIGRATE", "")))
    os.execvp("dagflow", ["dagflow", *args])


def prepare_database(*, migrate: bool) -> None:
    """Wait for a PostgreSQL metadata DB to accept connections; migrate it if ``migrate``."""
    from dagflow.config import load_settings
    from dagflow.db import Database
    from dagflow.exceptions import DagflowError

    try:
        database = Database(load_settings())
        if database.dialect != "sqlite":
            wait_for(database, timeout=float(os.environ.get("DAGFLOW_DB_WAIT_TIMEOUT", "120")))
        if migrate:
            database.migrate()
            say(f"database migrated to revision {database.head_revision()}")
        database.dispose()
    except (DagflowError, ValueError) as exc:
        say(f"Error: {_one_line(exc)}")
        sys.exit(1)
    except Exception as exc:  # noqa: BLE001 - never a bare traceback from the entrypoint
        say(f"Error: unexpected {type(exc).__name__}: {_one_line(exc)}")
        sys.exit(1)


def wait_for(database: Database, *, timeout: float) -> None:
    """Retry a connection every 2 s until it works; ``DatabaseError`` after ``timeout``.

    Any ``OperationalError`` counts as "not up yet", not only the ones dagflow recognises
    as connection errors: while the DB container starts, its host name may not resolve.
    """
    from sqlalchemy.exc import OperationalError

    from dagflow.exceptions import DatabaseError

    deadline = time.monotonic() + timeout
    said_waiting = False
    while True:
        try:
            database.current_revision()
            return
        except (DatabaseError, OperationalError) as exc:
            reason = _one_line(exc.orig if isinstance(exc, OperationalError) and exc.orig else exc)
            if time.monotonic() >= deadline:
                raise DatabaseError(f"gave up after {timeout:.0f}s: {reason}") from None
            if not said_waiting:
                say(f"waiting for the metadata database: {reason}")
                said_waiting = True
        time.sleep(2)


def say(line: str) -> None:
    """One line on stderr, tagged so it is clear the entrypoint (not dagflow) wrote it."""
    print(f"dagflow-entrypoint: {line}", file=sys.stderr, flush=True)


def _one_line(exc: BaseException) -> str:
    text = str(exc).strip()
    return text.splitlines()[0] if text else type(exc).__name__


def _truthy(raw: str) -> bool:
    return raw.strip().lower() in {"1", "true", "yes", "on"}


if __name__ == "__main__":
    main(sys.argv[1:])
