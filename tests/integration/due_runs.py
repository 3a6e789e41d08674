"""A database whose DAG folder holds one file of scheduled DAGs, unpaused, next runs computed at ``now``.

Shared by the tests of run creation and run starts (``create_due_runs``, ``start_queued_runs``).
"""

from __future__ import annotations

import textwrap
from collections.abc import Iterable
from datetime import datetime
from pathlib import Path

from dagflow.cli.dag_files import refresh
from dagflow.config import Settings, load_settings
from dagflow.db import Database
from dagflow.scheduler.dag_store import SerializedDagStore
from dagflow.scheduler.run_creation import refresh_next_dagruns
from dagflow.services.dag_runs import set_paused


def database_with_dags(
    home: Path, url: str, source: str, dag_ids: Iterable[str], *, now: datetime
) -> tuple[Settings, Database]:
    """Settings and a migrated database at ``url`` with ``source`` as ``dags.py``, ``dag_ids`` unpaused."""
    (home / "dags").mkdir(parents=True)
    (home / "dags" / "dags.py").write_text(textwrap.dedent(source))
    settings = load_settings(
        {
            "DAGFLOW_HOME": str(home),
            "DAGFLOW__DATABASE__SQL_ALCHEMY_CONN": url,
            "DAGFLOW__CORE__DAGS_FOLDER": str(home / "dags"),
            "DAGFLOW__CORE__LOAD_EXAMPLES": "false",
        }
    )
    db = Database(settings)
    db.migrate()
    refresh(settings, db)
    for dag_id in dag_ids:
        set_paused(settings, db, dag_id, paused=False)
    with db.transaction() as session:
        refresh_next_dagruns(session, SerializedDagStore(), {}, now=now)
    return settings, db
