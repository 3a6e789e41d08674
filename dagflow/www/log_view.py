"""A task log as lines with levels, filtered by the least level and a text, for the log panel of the task page.

dagflow's task log lines read ``[time] LEVEL logger: message``; a line without that head
(a traceback, a command's output) belongs to the line above it.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

LEVELS = ("DEBUG", "INFO", "WARNING", "ERROR", "CRITICAL")
_HEAD = re.compile(r"^\[[^\]]+\] (DEBUG|INFO|WARNING|ERROR|CRITICAL) ")


@dataclass(frozen=True)
class LogLine:
    """One line and the level it belongs to."""

    number: int
    level: str
    text: str


def log_lines(text: str, *, level: str = "", contains: str = "") -> list[LogLine]:
    """The lines at ``level`` or above (any when empty) that contain ``contains`` (case-insensitive)."""
    least = LEVELS.index(level) if level in LEVELS else 0
    needle = contains.lower()
    current = "INFO"
    kept = []
    for number, line in enumerate(text.splitlines(), start=1):
        head = _HEAD.match(line)
        if head:
            current = head.group(1)
        if LEVELS.index(current) < least or (needle and needle not in line.lower()):
            continue
        kept.append(LogLine(number, current, line))
    return kept
