"""Compare-and-set on the state store from several real processes: no update is lost.

Each worker is a plain Python script (no task runtime) with ``DAGFLOW_HOME`` set, so this
also covers ``dagflow.state_store`` opening the database from the settings.
"""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

from dagflow.db import Database
from dagflow.storage.state_store import StateStore

WORKERS, INCREMENTS = 4, 25

WORKER = """
import sys
from dagflow.exceptions import StateStoreConflict
from dagflow.state_store import state_store

conflicts = 0
for _ in range(int(sys.argv[1])):
    while True:
        value, version = state_store.get_versioned("counter", namespace="cas")
        try:
            state_store.set("counter", (value or 0) + 1, namespace="cas", expected_version=version)
            break
        except StateStoreConflict:
            conflicts += 1
print(conflicts)
"""


def _env(db: Database) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("DAGFLOW")}
    env["DAGFLOW_HOME"] = str(db.settings.home)
    if db.settings.database.sql_alchemy_conn:
        env["DAGFLOW__DATABASE__SQL_ALCHEMY_CONN"] = db.settings.database.sql_alchemy_conn
    return env


def test_concurrent_compare_and_set_loses_no_update(db_any: Database, tmp_path: Path) -> None:
    script = tmp_path / "worker.py"
    script.write_text(WORKER)
    procs = [
        subprocess.Popen(
            [sys.executable, str(script), str(INCREMENTS)],
            env=_env(db_any),
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
        )
        for _ in range(WORKERS)
    ]
    outputs = [p.communicate(timeout=60) for p in procs]
    for proc, (_out, err) in zip(procs, outputs):
        assert proc.returncode == 0, err[-2000:]

    store = StateStore(db_any)
    assert store.get_versioned("counter", namespace="cas") == (WORKERS * INCREMENTS, WORKERS * INCREMENTS)
    print("compare-and-set retries:", sum(int(out) for out, _ in outputs))


def test_plain_python_without_a_migrated_database_is_one_clear_error(tmp_path: Path) -> None:
    env = {k: v for k, v in os.environ.items() if not k.startswith("DAGFLOW")}
    env["DAGFLOW_HOME"] = str(tmp_path)
    code = "from dagflow.state_store import state_store\nstate_store.get('k')"
    proc = subprocess.run([sys.executable, "-c", code], env=env, capture_output=True, text=True, timeout=60)
    assert proc.returncode == 1
    assert "dagflow db migrate" in proc.stderr
