"""The state store service on a real (SQLite and PostgreSQL) database."""

from __future__ import annotations

import pytest

from dagflow.db import Database
from dagflow.storage.state_store import StateStore


def test_set_get_overwrite_delete_list(db_any: Database) -> None:
    store = StateStore(db_any)
    assert store.get("k", default="none") == "none"
    store.set("k", {"rows": 1})
    store.set("k", {"rows": 2})
    store.set("k", [1, 2], namespace="other")
    assert store.get("k") == {"rows": 2}
    assert store.get("k", namespace="other") == [1, 2]
    assert store.list() == [("default", "k", {"rows": 2}), ("other", "k", [1, 2])]
    assert store.list(namespace="other") == [("other", "k", [1, 2])]
    assert store.delete("k") is True
    assert store.delete("k") is False
    assert store.get("k") is None


def test_values_must_be_json(db_any: Database) -> None:
    with pytest.raises(TypeError, match="JSON-serializable"):
        StateStore(db_any).set("k", object())
