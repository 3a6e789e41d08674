"""A Gantt chart of a run's tries as SVG geometry (rendered by the template; no script, no inline style)."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime

from dagflow.services.records import TryRecord

ROW_HEIGHT = 18
LABEL_WIDTH = 220
CHART_WIDTH = 760


@dataclass(frozen=True)
class Bar:
    """One try's bar: its row, x offset and width in pixels, and what its tooltip says."""

    label: str
    task_id: str
    map_index: int
    try_number: int
    state: str
    y: int
    x: float
    width: float
    seconds: float | None


@dataclass(frozen=True)
class Gantt:
    """The bars, the chart's height and the time span it covers."""

    bars: tuple[Bar, ...]
    height: int
    start: datetime | None
    end: datetime | None
    seconds: float


def gantt(tries: Sequence[TryRecord], now: datetime) -> Gantt:
    """Bars of the tries that started, on one time axis from the first start to the last end (``now`` if running)."""
    started = [t for t in tries if t.start_date is not None]
    if not started:
        return Gantt((), 0, None, None, 0.0)
    start = min(t.start_date for t in started if t.start_date)
    end = max((t.end_date or now) for t in started)
    span = max((end - start).total_seconds(), 0.001)
    rows: dict[tuple[str, int], int] = {}
    bars = []
    for t in started:
        assert t.start_date is not None
        row = rows.setdefault((t.task_id, t.map_index), len(rows))
        finish = t.end_date or now
        x = (t.start_date - start).total_seconds() / span * CHART_WIDTH
        width = max((finish - t.start_date).total_seconds() / span * CHART_WIDTH, 2.0)
        label = t.task_id if t.map_index < 0 else f"{t.task_id} [{t.map_index}]"
        seconds = (finish - t.start_date).total_seconds()
        bars.append(
            Bar(label, t.task_id, t.map_index, t.try_number, t.state or "none", row * ROW_HEIGHT, x, width, seconds)
        )
    return Gantt(tuple(bars), len(rows) * ROW_HEIGHT, start, end, span)
