"""A task's durations over its recent runs as an SVG bar chart, laid out here and drawn by a template.

Pure geometry (no I/O): the template ``_duration_chart.html`` turns a ``Chart`` into
``<rect>``/``<text>`` elements; every label goes through autoescape.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

from dagflow.services.durations import TaskDurations

#: Airflow's state colours (the grid's), as SVG fills.
STATE_FILL = {
    "success": "green",
    "failed": "red",
    "running": "lime",
    "queued": "gray",
    "scheduled": "tan",
    "up_for_retry": "gold",
    "up_for_reschedule": "turquoise",
    "upstream_failed": "orange",
    "skipped": "hotpink",
    "deferred": "mediumpurple",
    "removed": "lightgrey",
    "restarting": "violet",
}
LEFT, RIGHT, TOP, BOTTOM = 64, 8, 8, 22
#: Widest bar (a chart of a few runs keeps thin bars).
MAX_BAR_WIDTH = 28.0


@dataclass(frozen=True)
class Bar:
    """One run's bar: where it is drawn, its fill and its hover text."""

    x: float
    y: float
    width: float
    height: float
    fill: str
    title: str


@dataclass(frozen=True)
class Tick:
    """A horizontal guide line at ``y`` labelled with a duration."""

    y: float
    label: str


@dataclass(frozen=True)
class Chart:
    """What the template draws for one task."""

    task_id: str
    width: int
    height: int
    bars: tuple[Bar, ...]
    ticks: tuple[Tick, ...]
    first_label: str
    last_label: str
    baseline: float


def human_seconds(seconds: float) -> str:
    """``42 s``, ``3 min 5 s``, ``2 h 10 min``."""
    if seconds < 60:
        return f"{seconds:.1f} s" if seconds < 10 else f"{seconds:.0f} s"
    if seconds < 3600:
        return f"{int(seconds // 60)} min {int(seconds % 60)} s"
    return f"{int(seconds // 3600)} h {int(seconds % 3600 // 60)} min"


def nice_ceiling(value: float) -> float:
    """The smallest 1, 2, 2.5 or 5 times a power of ten at or above ``value`` (at least 1 second)."""
    if value <= 1:
        return 1.0
    power = 10 ** math.floor(math.log10(value))
    for step in (1, 2, 2.5, 5, 10):
        if step * power >= value:
            return float(step * power)
    return float(10 * power)


def layout(task: TaskDurations, *, width: int = 640, height: int = 150) -> Chart:
    """Bars for ``task``'s points, oldest left, heights scaled to a rounded maximum; unfinished runs get none."""
    inner_w, inner_h = width - LEFT - RIGHT, height - TOP - BOTTOM
    top = nice_ceiling(max((p.duration or 0.0 for p in task.points), default=0.0))
    slot = inner_w / max(len(task.points), 1)
    bars = []
    for i, point in enumerate(task.points):
        when = point.logical_date.strftime("%Y-%m-%d %H:%M")
        if point.duration is None:
            continue
        h = inner_h * point.duration / top
        title = f"{point.run_id} ({when}): {human_seconds(point.duration)}, {point.state or 'no status'}"
        if point.try_number > 1:
            title += f", try {point.try_number}"
        bar_w = min(max(slot * 0.7, 1.0), MAX_BAR_WIDTH)
        bars.append(
            Bar(
                x=round(LEFT + i * slot + (slot - bar_w) / 2, 1),
                y=round(TOP + inner_h - h, 1),
                width=round(bar_w, 1),
                height=round(max(h, 0.5), 1),
                fill=STATE_FILL.get(point.state or "", "#9aa5b1"),
                title=title,
            )
        )
    ticks = tuple(Tick(round(TOP + inner_h * (1 - f), 1), human_seconds(top * f)) for f in (0.0, 0.5, 1.0))
    dates = [p.logical_date.strftime("%Y-%m-%d") for p in task.points]
    return Chart(
        task.task_id,
        width,
        height,
        tuple(bars),
        ticks,
        dates[0] if dates else "",
        dates[-1] if dates else "",
        TOP + inner_h,
    )
