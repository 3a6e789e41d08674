"""Database lifecycle seen from the user's side: is the schema there, and (at a start) create it.

A read never migrates: ``ensure_schema`` refuses a database that was never migrated or is
at another revision. Only explicit starts migrate (``dagflow db migrate``, and the long-running
components at their start: ``standalone``, ``scheduler``, ``dag-processor``, ``webserver``).
"""

from __future__ import annotations

import weakref

from dagflow.db import Database, when_reachable
from dagflow.exceptions import DatabaseError

#: Databases already seen at head in this process: the revision check runs once per ``Database``.
_AT_HEAD: weakref.WeakSet[Database] = weakref.WeakSet()


def ensure_schema(db: Database) -> None:
    """Refuse a database that is not migrated to this dagflow's revision (``DatabaseError``)."""
    if db in _AT_HEAD:
        return
    current = db.current_revision()
    if current is None:
        raise DatabaseError("the metadata database is not initialised: run `dagflow db migrate`")
    head = db.head_revision()
    if current != head:
        raise DatabaseError(
            f"the metadata database is at revision {current}, this dagflow needs {head}: run `dagflow db migrate`"
        )
    _AT_HEAD.add(db)


def migrate_fresh(db: Database) -> None:
    """At a component's start: create the schema in a brand-new database, then ``ensure_schema``."""
    if db.current_revision() is None:
        db.migrate()
    ensure_schema(db)


def start_component(db: Database, what: str) -> None:
    """``migrate_fresh`` for a long-running component, waiting out a DB server that is away.

    A scheduler or DAG processor started (by systemd, Kubernetes, a supervisor) while
    PostgreSQL restarts or fails over would otherwise exit at once with "cannot connect";
    it retries for ``database.startup_wait_timeout`` seconds instead. A wrong setting
    (a bad password, a missing database) still fails at once.
    """
    when_reachable(lambda: migrate_fresh(db), db.settings.database.startup_wait_timeout, what)
