"""Event payloads (``dagflow.execution.events``): encoding, decoding, limits, SQLite no-op."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from dagflow.config import load_settings
from dagflow.db import Database
from dagflow.execution.events import (
    CHANNEL,
    MAX_PAYLOAD_BYTES,
    TI_DONE,
    EventListener,
    decode,
    encode,
    listener_conninfo,
    publish,
)
from dagflow.state import TaskInstanceState


def test_encode_is_compact_sorted_json_with_the_kind() -> None:
    payload = encode(
        TI_DONE, {"ti_id": 7, "try_number": 2, "state": TaskInstanceState.SUCCESS, "dag_id": "d", "run_id": "manual__x"}
    )
    assert " " not in payload
    assert json.loads(payload) == {
        "kind": "ti_done",
        "ti_id": 7,
        "try_number": 2,
        "state": "success",
        "dag_id": "d",
        "run_id": "manual__x",
    }
    assert decode(payload) == (
        "ti_done",
        {"ti_id": 7, "try_number": 2, "state": "success", "dag_id": "d", "run_id": "manual__x"},
    )


def test_encode_round_trips_unicode_and_datetimes() -> None:
    import pendulum

    when = pendulum.datetime(2024, 1, 2, 3, 4, 5, tz="UTC")
    kind, fields = decode(encode("run_queued", {"dag_id": "daß_ü", "run_id": "r", "at": when})) or ("", {})
    assert (kind, fields) == ("run_queued", {"dag_id": "daß_ü", "run_id": "r", "at": when.isoformat()})


@pytest.mark.parametrize("kind,fields", [("", {}), ("x", {"kind": "y"}), ("x", {"big": "a" * MAX_PAYLOAD_BYTES})])
def test_encode_refuses_bad_events(kind: str, fields: dict) -> None:
    with pytest.raises(ValueError):
        encode(kind, fields)


def test_encode_refuses_values_that_are_not_json() -> None:
    with pytest.raises(TypeError):
        encode("x", {"obj": object()})


@pytest.mark.parametrize("payload", ["", "not json", "[1, 2]", '{"no_kind": 1}', '{"kind": 3}'])
def test_decode_ignores_foreign_payloads(payload: str) -> None:
    assert decode(payload) is None


def test_publish_and_listener_do_nothing_on_sqlite(db: Database, tmp_path: Path) -> None:
    with db.transaction() as session:
        publish(session, TI_DONE, ti_id=1)  # no pg_notify on SQLite, no error
    settings = load_settings({"DAGFLOW_HOME": str(tmp_path)})
    assert listener_conninfo(settings) is None
    listener = EventListener(settings, lambda kind, fields: None)
    assert not listener.enabled
    listener.start()
    assert not listener.wait_connected(0.01)
    listener.stop()


def test_listener_conninfo_is_a_libpq_url(tmp_path: Path) -> None:
    settings = load_settings(
        {"DAGFLOW_HOME": str(tmp_path), "DAGFLOW__DATABASE__SQL_ALCHEMY_CONN": "postgresql+psycopg://u:pw@h:5433/db"}
    )
    assert listener_conninfo(settings) == "postgresql://u:pw@h:5433/db"
    assert CHANNEL == "dagflow_events"
