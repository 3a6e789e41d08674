"""The timetable protocol: data intervals, run infos, time restrictions, the ``Timetable`` base."""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any, ClassVar

import pendulum
from pendulum import DateTime

#: One microsecond: the step used to ask "is this instant itself on the schedule?".
EPSILON = timedelta(microseconds=1)


def to_utc(value: datetime) -> DateTime:
    """Return ``value`` as a pendulum UTC ``DateTime``; a naive value is taken as UTC."""
    if value.tzinfo is None:
        value = value.replace(tzinfo=pendulum.UTC)
    return pendulum.instance(value).in_timezone(pendulum.UTC)


def _optional_utc(value: datetime | None) -> DateTime | None:
    return None if value is None else to_utc(value)


@dataclass(frozen=True)
class DataInterval:
    """The span of data a DAG run processes: ``[start, end)``, both UTC."""

    start: DateTime
    end: DateTime

    def __post_init__(self) -> None:
        object.__setattr__(self, "start", to_utc(self.start))
        object.__setattr__(self, "end", to_utc(self.end))
        if self.end < self.start:
            raise ValueError(f"data interval ends ({self.end}) before it starts ({self.start})")

    @classmethod
    def exact(cls, at: datetime) -> DataInterval:
        """An empty interval at one instant (``@once``, ``None`` and manual runs of those)."""
        instant = to_utc(at)
        return cls(instant, instant)


@dataclass(frozen=True)
class DagRunInfo:
    """What the scheduler needs to create the next run: when it may start and its interval."""

    run_after: DateTime
    data_interval: DataInterval

    def __post_init__(self) -> None:
        object.__setattr__(self, "run_after", to_utc(self.run_after))

    @classmethod
    def interval(cls, start: datetime, end: datetime) -> DagRunInfo:
        """A run over ``[start, end)`` that may start once ``end`` has passed."""
        interval = DataInterval(to_utc(start), to_utc(end))
        return cls(run_after=interval.end, data_interval=interval)

    @classmethod
    def exact(cls, at: datetime) -> DagRunInfo:
        """A run at one instant with an empty data interval."""
        return cls(run_after=to_utc(at), data_interval=DataInterval.exact(at))

    @property
    def logical_date(self) -> DateTime:
        """The run's logical date: the start of its data interval (Airflow's definition)."""
        return self.data_interval.start


@dataclass(frozen=True)
class TimeRestriction:
    """Limits on automated runs: the DAG's start_date, end_date, catchup, and the current time.

    ``now`` is the scheduler's clock; pass it explicitly (tests, the scheduler's ``tick(now)``).
    When it is ``None``, :meth:`current_time` reads the wall clock, the only place that does.
    """

    earliest: DateTime | None
    latest: DateTime | None
    catchup: bool
    now: DateTime | None = field(default=None, compare=False)

    def __post_init__(self) -> None:
        object.__setattr__(self, "earliest", _optional_utc(self.earliest))
        object.__setattr__(self, "latest", _optional_utc(self.latest))
        object.__setattr__(self, "now", _optional_utc(self.now))

    def current_time(self) -> DateTime:
        """The restriction's ``now``, or the wall clock (UTC) when none was given."""
        return self.now if self.now is not None else pendulum.now(pendulum.UTC)


class Timetable:
    """Decides when a DAG runs and which data interval each run covers.

    Subclasses set ``type_name`` (the key in :meth:`serialize`) and implement
    :meth:`next_dagrun_info`, :meth:`infer_manual_data_interval` and :meth:`serialize`.
    """

    type_name: ClassVar[str] = ""
    #: Whether runs are created automatically on a recurring schedule.
    periodic: ClassVar[bool] = True
    #: Whether the scheduler ever creates runs for this timetable by itself.
    can_be_scheduled: ClassVar[bool] = True
    #: The most runs that may be active at once because of the timetable (None: no limit).
    active_runs_limit: ClassVar[int | None] = None
    description: str = ""

    @property
    def summary(self) -> str:
        """Short text for lists and the UI, such as ``0 6 * * *`` or ``@daily``."""
        return self.type_name

    def next_dagrun_info(
        self,
        *,
        last_automated_data_interval: DataInterval | None,
        restriction: TimeRestriction,
    ) -> DagRunInfo | None:
        """The next automated run after ``last_automated_data_interval``, or None for none."""
        raise NotImplementedError

    def infer_manual_data_interval(self, run_after: datetime) -> DataInterval:
        """The data interval of a run triggered by hand (or by logical date) at ``run_after``."""
        raise NotImplementedError

    def infer_automated_data_interval(self, logical_date: datetime) -> DataInterval:
        """The data interval of a scheduled run whose logical date is ``logical_date``."""
        return DataInterval.exact(logical_date)

    def iter_intervals(self, start: datetime, end: datetime) -> Iterator[DataInterval]:
        """Every data interval whose start lies in ``[start, end]``, in order (for backfill)."""
        first, last_start = to_utc(start), to_utc(end)
        restriction = TimeRestriction(earliest=first, latest=last_start, catchup=True, now=last_start)
        last: DataInterval | None = None
        while True:
            info = self.next_dagrun_info(last_automated_data_interval=last, restriction=restriction)
            if info is None or info.data_interval == last:
                return
            yield info.data_interval
            last = info.data_interval

    def serialize(self) -> dict[str, Any]:
        """A JSON-safe dict that :func:`dagflow.timetables.timetable_from_dict` rebuilds."""
        return {"type": self.type_name}

    @classmethod
    def deserialize(cls, data: dict[str, Any]) -> Timetable:
        """Rebuild a timetable of this class from :meth:`serialize` output."""
        return cls()

    def validate(self) -> None:
        """Raise ``DagDefinitionError`` if the timetable cannot work (checked at DAG parse)."""

    def __eq__(self, other: object) -> bool:
        if not isinstance(other, Timetable):
            return NotImplemented
        return type(self) is type(other) and self.serialize() == other.serialize()

    def __hash__(self) -> int:
        return hash((type(self), repr(sorted(self.serialize().items()))))

    def __repr__(self) -> str:
        return f"{type(self).__name__}({self.summary!r})"
