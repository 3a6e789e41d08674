"""The state store service on a real (SQLite and PostgreSQL) database."""

from __future__ import annotations

from datetime import datetime, timedelta

import pytest

from dagflow.db import Database
from dagflow.exceptions import InvalidInput, StateStoreConflict
from dagflow.models import StateStoreEntry
from dagflow.models.base import utcnow
from dagflow.storage.state_store import StateStore, expires_at_for


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


def _expired() -> datetime:
    return utcnow() - timedelta(seconds=1)


def test_versions_and_compare_and_set(db_any: Database) -> None:
    store = StateStore(db_any)
    assert store.get_versioned("k") == (None, 0)
    assert store.set("k", "a", expected_version=0) == 1
    with pytest.raises(StateStoreConflict, match="at version 1, expected 0") as lost:
        store.set("k", "b", expected_version=0)
    assert (lost.value.expected, lost.value.actual) == (0, 1)
    assert store.set("k", "b", expected_version=1) == 2
    with pytest.raises(StateStoreConflict, match="at version 2, expected 1"):
        store.set("k", "stale", expected_version=1)
    with pytest.raises(StateStoreConflict, match="at version 0, expected 3"):
        store.set("k", "x", namespace="other", expected_version=3)
    assert store.set("k", "c") == 3  # unconditional writes bump the version too
    assert store.get_versioned("k") == ("c", 3)
    assert store.get_versioned("k", namespace="other") == (None, 0)
    assert store.delete("k") is True
    assert store.set("k", "again", expected_version=0) == 1  # a deleted key starts over


def test_expired_keys_read_as_missing_and_are_overwritable(db_any: Database) -> None:
    store = StateStore(db_any)
    store.set("gone", 1, expires_at=_expired())
    store.set("gone2", 1)
    store.set("gone2", 2, expected_version=1, expires_at=_expired())
    store.set("kept", 1, expires_at=utcnow() + timedelta(hours=1))
    assert store.get("gone", default="missing") == "missing"
    assert store.get_versioned("gone2") == (None, 0)
    assert store.keys() == ["kept"]
    assert [k for _, k, _ in store.list()] == ["kept"]
    with pytest.raises(StateStoreConflict):
        store.set("gone2", 3, expected_version=2)  # expired: its version is 0 now
    assert store.set("gone", "new", expected_version=0) == 1
    assert store.set("gone2", "new") == 1
    assert store.get_versioned("gone") == ("new", 1)
    assert store.delete("gone2") is True
    store.set("old", 1, expires_at=_expired())
    assert store.delete("old") is False  # expired keys are missing for delete as well
    assert store.set("kept", 2) == 2  # a write without ttl clears the expiry
    with db_any.transaction() as session:
        assert session.get(StateStoreEntry, ("default", "kept")).expires_at is None  # type: ignore[union-attr]


def test_list_keys_by_prefix_and_namespace(db_any: Database) -> None:
    store = StateStore(db_any)
    for key in ("cursor/a", "cursor/b", "Cursor/c", "cursor_x", "other"):
        store.set(key, 1)
    store.set("cursor/z", 1, namespace="team")
    assert store.keys(prefix="cursor/") == ["cursor/a", "cursor/b"]
    assert store.keys(prefix="cursor") == ["cursor/a", "cursor/b", "cursor_x"]  # case-sensitive, no LIKE wildcards
    assert store.keys(prefix="cursor%") == []
    assert store.keys() == ["Cursor/c", "cursor/a", "cursor/b", "cursor_x", "other"]
    assert store.keys(namespace="team") == ["cursor/z"]


def test_bad_ttl_and_expected_version(db: Database) -> None:
    with pytest.raises(InvalidInput, match="ttl must be positive"):
        expires_at_for(0)
    with pytest.raises(InvalidInput, match="ttl must be seconds or a timedelta"):
        expires_at_for("10")  # type: ignore[arg-type]
    now = utcnow()
    assert expires_at_for(timedelta(minutes=1), now=now) == now + timedelta(seconds=60)
    assert expires_at_for(1.5, now=now) == now + timedelta(seconds=1.5)
    with pytest.raises(InvalidInput, match="expected_version"):
        StateStore(db).set("k", 1, expected_version=-1)
