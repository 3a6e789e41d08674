from __future__ import annotations

import subprocess
import sys


def test_import_dagflow_loads_no_db_web_or_celery() -> None:
    code = (
        "import sys, dagflow, dagflow.operators, dagflow.sensors, dagflow.state_store\n"
        "from dagflow import DAG, dag, task, task_group, TaskGroup, Param, chain, cross_downstream, XComArg\n"
        "bad = sorted(m for m in sys.modules if m.split('.')[0] in {'sqlalchemy', 'flask', 'celery'})\n"
        "print(','.join(bad))\n"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == ""


def test_public_names() -> None:
    import dagflow

    for name in ("DAG", "dag", "task", "task_group", "TaskGroup", "Param", "chain", "cross_downstream", "XComArg"):
        assert hasattr(dagflow, name), name
    assert isinstance(dagflow.__version__, str)
