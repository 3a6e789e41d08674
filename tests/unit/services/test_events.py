"""The audit event log at the service layer: a trigger's conf is kept with sensitive values masked; actors nest."""

from __future__ import annotations

import pytest

from dagflow.db import Database
from dagflow.exceptions import EventLogNotFound
from dagflow.services import events
from dagflow.services.dag_runs import trigger_dag
from dagflow.services.events import EventFilter
from dagflow.services.listing import Slice
from tests.unit.services.seed import store_dags


def test_trigger_conf_is_recorded_with_secrets_masked(db: Database) -> None:
    store_dags(db)
    with events.acting_as("carol"):
        with events.acting_as("dave"):
            trigger_dag(db.settings, db, "etl", conf={"region": "eu", "db_password": "s3cret-value"})
        assert events.current_actor() == "carol"
    assert events.current_actor() is None
    [event] = events.query_events(db, EventFilter(event="trigger"), Slice()).items
    assert event.actor == "dave" and event.extra is not None
    assert event.extra["conf"] == {"region": "eu", "db_password": "***"}
    assert events.get_event(db, event.id) == event
    with pytest.raises(EventLogNotFound):
        events.get_event(db, event.id + 1)
