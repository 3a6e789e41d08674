"""Round trips on real DAG files: every acceptance DAG and every file in dags_example/.

Each file is imported by path; every ``DAG`` created while it runs is collected, then
``serialize -> json.dumps -> json.loads -> deserialize -> serialize`` must give the
same document and the same hash. Files that cannot be imported yet (the SDK is still
growing) are skipped with the reason, not failed: the loader's own tests own that.
"""

from __future__ import annotations

import importlib.util
import json
import sys
import uuid
from pathlib import Path
from typing import Any

import pytest

from dagflow.serialization import dag_hash, deserialize_dag, serialize_dag

REPO = Path(__file__).resolve().parents[3]
ACCEPTANCE = REPO / "tests" / "acceptance" / "dags"
EXAMPLES = REPO / "dags_example"
FILES = sorted(ACCEPTANCE.glob("acc_*.py")) + sorted(p for p in EXAMPLES.glob("*.py") if not p.name.startswith("_"))


def load_dags(path: Path, monkeypatch: pytest.MonkeyPatch) -> list[Any]:
    """Import ``path`` under a unique name; return every DAG created meanwhile."""
    try:
        from dagflow.sdk.dag import DAG
    except ImportError as exc:
        pytest.skip(f"SDK not importable yet: {exc}")
    created: list[Any] = []
    original = DAG.__init__

    def recording_init(self: Any, *args: Any, **kwargs: Any) -> None:
        original(self, *args, **kwargs)
        created.append(self)

    monkeypatch.setattr(DAG, "__init__", recording_init)
    name = f"dagflow_serialization_test_{path.stem}_{uuid.uuid4().hex[:8]}"
    spec = importlib.util.spec_from_file_location(name, path)
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    sys.modules[name] = module
    try:
        spec.loader.exec_module(module)
    except Exception as exc:
        pytest.skip(f"{path.name} does not import yet: {type(exc).__name__}: {exc}")
    finally:
        sys.modules.pop(name, None)
    return [d for d in created if d.task_dict]


@pytest.mark.parametrize("path", FILES, ids=[p.name for p in FILES])
def test_round_trip(path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    dags = load_dags(path, monkeypatch)
    assert dags, f"{path.name} defines no DAG"
    for dag in dags:
        doc = serialize_dag(dag)
        restored = deserialize_dag(json.loads(json.dumps(doc)))
        again = serialize_dag(restored)
        assert again == doc, dag.dag_id
        assert dag_hash(again) == dag_hash(doc)
        assert set(restored.tasks) == set(dag.task_dict)
        for task_id, task in dag.task_dict.items():
            assert restored.get_task(task_id).upstream_task_ids == set(task.upstream_task_ids)
            assert restored.priority_weight_total(task_id) == task.priority_weight_total


@pytest.mark.parametrize("path", FILES[:1], ids=[p.name for p in FILES[:1]])
def test_hash_is_stable_across_imports(path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    first = [dag_hash(serialize_dag(d)) for d in load_dags(path, monkeypatch)]
    second = [dag_hash(serialize_dag(d)) for d in load_dags(path, monkeypatch)]
    assert first == second
