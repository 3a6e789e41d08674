"""The package layers of DESIGN.md import downward only, and the SDK stays light."""

from __future__ import annotations

import shutil
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]


def test_import_linter_layers_hold() -> None:
    lint = shutil.which("lint-imports", path=str(Path(sys.executable).parent)) or shutil.which("lint-imports")
    assert lint, "import-linter is part of the dev extra"

    proc = subprocess.run([lint], cwd=ROOT, capture_output=True, text=True, timeout=120)

    assert proc.returncode == 0, proc.stdout[-3000:] + proc.stderr[-2000:]
    assert "Contracts: 1 kept, 0 broken" in proc.stdout


def test_import_dagflow_loads_no_db_web_or_broker_library() -> None:
    code = (
        "import sys, dagflow, dagflow.operators, dagflow.sensors, dagflow.state_store\n"
        "print(sorted(m for m in ('sqlalchemy', 'flask', 'celery', 'alembic', 'psycopg') if m in sys.modules))"
    )
    proc = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=60)

    assert proc.returncode == 0, proc.stderr
    assert proc.stdout.strip() == "[]"
