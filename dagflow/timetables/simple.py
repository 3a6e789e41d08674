"""Timetables without a period: ``None`` (manual only), ``@once`` and ``@continuous``."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import datetime
from typing import Any

from dagflow.timetables.base import DagRunInfo, DataInterval, TimeRestriction, Timetable


class NullTimetable(Timetable):
    """``schedule=None``: never scheduled; runs only when triggered."""

    type_name = "none"
    periodic = False
    can_be_scheduled = False
    description = "Never, external triggers only"

    @property
    def summary(self) -> str:
        """``None``."""
        return "None"

    def next_dagrun_info(
        self,
        *,
        last_automated_data_interval: DataInterval | None,
        restriction: TimeRestriction,
    ) -> DagRunInfo | None:
        """Always None."""
        return None

    def infer_manual_data_interval(self, run_after: datetime) -> DataInterval:
        """An empty interval at ``run_after``."""
        return DataInterval.exact(run_after)


class OnceTimetable(Timetable):
    """``@once``: one run at the start_date, whatever catchup says (Airflow's rule)."""

    type_name = "once"
    periodic = False
    description = "Once, as soon as possible"

    @property
    def summary(self) -> str:
        """``@once``."""
        return "@once"

    def next_dagrun_info(
        self,
        *,
        last_automated_data_interval: DataInterval | None,
        restriction: TimeRestriction,
    ) -> DagRunInfo | None:
        """The run at start_date if none ran yet and end_date allows it."""
        if last_automated_data_interval is not None or restriction.earliest is None:
            return None
        if restriction.latest is not None and restriction.earliest > restriction.latest:
            return None
        return DagRunInfo.exact(restriction.earliest)

    def infer_manual_data_interval(self, run_after: datetime) -> DataInterval:
        """An empty interval at ``run_after``."""
        return DataInterval.exact(run_after)


class ContinuousTimetable(Timetable):
    """``@continuous``: a new run as soon as the previous one ends, one at a time."""

    type_name = "continuous"
    active_runs_limit = 1
    description = "As frequently as possible, but only one run at a time"

    @property
    def summary(self) -> str:
        """``@continuous``."""
        return "@continuous"

    def next_dagrun_info(
        self,
        *,
        last_automated_data_interval: DataInterval | None,
        restriction: TimeRestriction,
    ) -> DagRunInfo | None:
        """The interval from the last run's end (or start_date) to now."""
        if restriction.earliest is None:
            return None
        now = restriction.current_time()
        last = last_automated_data_interval
        if last is None:
            start, end = restriction.earliest, max(restriction.earliest, now)
        elif last.end > now:  # the start_date moved into the future
            start = restriction.earliest
            end = start + (last.end - last.start)
        else:
            start, end = last.end, now
        if restriction.latest is not None and end > restriction.latest:
            return None
        return DagRunInfo.interval(start, end)

    def infer_manual_data_interval(self, run_after: datetime) -> DataInterval:
        """An empty interval at ``run_after``."""
        return DataInterval.exact(run_after)

    def iter_intervals(self, start: datetime, end: datetime) -> Iterator[DataInterval]:
        """Nothing: a continuous DAG has no intervals to backfill."""
        return iter(())


class AssetTriggeredTimetable(Timetable):
    """``schedule=[asset, ...]`` or an asset expression: runs are made when assets get events.

    The scheduler never creates a run from time; it creates an ``asset_triggered`` run when
    ``condition`` (a URI, or ``{"all"|"any": [...]}``) holds over the assets with new events.
    """

    type_name = "asset"
    periodic = False
    can_be_scheduled = False
    description = "Triggered by assets"

    def __init__(self, condition: Any) -> None:
        self.condition = condition

    @property
    def summary(self) -> str:
        """``Asset``, as Airflow shows it."""
        return "Asset"

    def next_dagrun_info(
        self,
        *,
        last_automated_data_interval: DataInterval | None,
        restriction: TimeRestriction,
    ) -> DagRunInfo | None:
        """Always None: asset events, not time, make the runs."""
        return None

    def infer_manual_data_interval(self, run_after: datetime) -> DataInterval:
        """An empty interval at ``run_after``."""
        return DataInterval.exact(run_after)

    def serialize(self) -> dict[str, Any]:
        """The type and the condition."""
        return {"type": self.type_name, "condition": self.condition}

    @classmethod
    def deserialize(cls, data: dict[str, Any]) -> Timetable:
        """Rebuild from :meth:`serialize` output."""
        return cls(data.get("condition"))
