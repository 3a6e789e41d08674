"""Shared logic of the periodic timetables (cron and timedelta): data intervals and catchup."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import datetime

from pendulum import DateTime

from dagflow.timetables.base import (
    EPSILON,
    DagRunInfo,
    DataInterval,
    TimeRestriction,
    Timetable,
    to_utc,
)


class DataIntervalTimetable(Timetable):
    """A timetable whose runs cover back-to-back intervals between schedule points.

    Subclasses define the schedule points with :meth:`next_after` and :meth:`prev_before`
    (strictly after / before an instant, UTC). A run over ``[start, end)`` may start at
    ``end``; its logical date is ``start``.
    """

    def next_after(self, instant: DateTime) -> DateTime:
        """The first schedule point strictly after ``instant``."""
        raise NotImplementedError

    def prev_before(self, instant: DateTime) -> DateTime:
        """The last schedule point strictly before ``instant``."""
        raise NotImplementedError

    def align_to_next(self, instant: DateTime) -> DateTime:
        """``instant`` if it is a schedule point, else the next one."""
        return self.next_after(instant - EPSILON)

    def align_to_prev(self, instant: DateTime) -> DateTime:
        """``instant`` if it is a schedule point, else the previous one."""
        return self.prev_before(instant + EPSILON)

    def latest_complete_start(self, now: DateTime) -> DateTime:
        """Start of the newest interval that has fully ended at ``now``."""
        return self.prev_before(self.align_to_prev(now))

    def next_dagrun_info(
        self,
        *,
        last_automated_data_interval: DataInterval | None,
        restriction: TimeRestriction,
    ) -> DagRunInfo | None:
        """Next interval: after the last one, not before start_date, skipping ahead without catchup."""
        last = last_automated_data_interval
        if last is None and restriction.earliest is None:
            return None  # never run automatically without a start_date
        earliest = self._earliest_start(restriction)
        starts = [] if last is None else [self.align_to_prev(last.end)]
        if earliest is not None:
            starts.append(earliest)
        start = max(starts)
        if restriction.latest is not None and start > restriction.latest:
            return None
        return DagRunInfo.interval(start, self.next_after(start))

    def _earliest_start(self, restriction: TimeRestriction) -> DateTime | None:
        """The earliest interval start allowed by start_date and (without catchup) by now."""
        earliest = restriction.earliest
        if earliest is not None:
            earliest = self.align_to_next(earliest)
        if restriction.catchup:
            return earliest
        latest_complete = self.latest_complete_start(restriction.current_time())
        return latest_complete if earliest is None else max(earliest, latest_complete)

    def iter_intervals(self, start: datetime, end: datetime) -> Iterator[DataInterval]:
        """Every interval whose start lies in ``[start, end]``: cron points from ``start`` on."""
        point, last = self.align_to_next(to_utc(start)), to_utc(end)
        while point <= last:
            following = self.next_after(point)
            yield DataInterval(point, following)
            point = following

    def infer_manual_data_interval(self, run_after: datetime) -> DataInterval:
        """The last complete interval before ``run_after`` (a 01:00 trigger of @daily gets yesterday)."""
        end = self.align_to_prev(to_utc(run_after))
        return DataInterval(self.prev_before(end), end)

    def infer_automated_data_interval(self, logical_date: datetime) -> DataInterval:
        """The interval starting at ``logical_date`` and ending at the next schedule point."""
        start = to_utc(logical_date)
        return DataInterval(start, self.next_after(start))
