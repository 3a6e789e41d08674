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
        say(f"Error: {str(exc).strip().splitlines()[0]}")
        sys.exit(1)


def wait_for(database: Database, *, timeout: float) -> None:
    """Retry a connection every 2 s until it works; ``DatabaseError`` after ``timeout``."""
    from dagflow.exceptions import DatabaseError

    deadline = time.monotonic() + timeout
    said_waiting = False
    while True:
        try:
            database.current_revision()
            return
        except DatabaseError as exc:
            if time.monotonic() >= deadline:
                raise DatabaseError(f"gave up after {timeout:.0f}s: {exc}") from None
            if not said_waiting:
                say(f"waiting for the metadata database: {exc}")
                said_waiting = True
        time.sleep(2)


def say(line: str) -> None:
    """One line on stderr, tagged so it is clear the entrypoint (not dagflow) wrote it."""
    print(f"dagflow-entrypoint: {line}", file=sys.stderr, flush=True)


def _truthy(raw: str) -> bool:
    return raw.strip().lower() in {"1", "true", "yes", "on"}


if __name__ == "__main__":
    main(sys.argv[1:])
