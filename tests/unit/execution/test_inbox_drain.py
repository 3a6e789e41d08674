"""``Inbox.drain`` at shutdown: what was sent and not read comes back; a broken rest is left, not raised."""

from __future__ import annotations

import multiprocessing

import pytest

from dagflow.execution.local_worker import Inbox


def test_drain_returns_what_no_worker_read() -> None:
    inbox = Inbox(multiprocessing.get_context("fork"))
    inbox.put({"ti_id": 1})
    inbox.put(None)
    assert inbox.drain() == [{"ti_id": 1}, None]
    assert inbox.drain() == []
    inbox.close()


def test_drain_stops_at_a_message_that_no_longer_parses(caplog: pytest.LogCaptureFixture) -> None:
    """A worker killed while reading leaves a rest that does not unpickle: the scheduler's shutdown goes on."""
    inbox = Inbox(multiprocessing.get_context("fork"))
    inbox.put({"ti_id": 1})
    inbox._writer.send_bytes(b"")  # what recv() then sees: "Ran out of input"
    inbox.put({"ti_id": 2})
    assert inbox.drain() == [{"ti_id": 1}]
    assert "could not be read to its end" in caplog.text
    inbox.close()
