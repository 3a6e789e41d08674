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


def log_lines(
    text: str, *, level: str = "", contains: str = "", first: int = 1, level_at: str = "INFO"
) -> list[LogLine]:
    """The lines at ``level`` or above (any when empty) that contain ``contains`` (case-insensitive).

    ``first`` numbers the first line and ``level_at`` is the level it continues (a tail read from an offset).
    """
    least = LEVELS.index(level) if level in LEVELS else 0
    needle = contains.lower()
    current = level_at if level_at in LEVELS else "INFO"
    kept = []
    for number, line in enumerate(text.splitlines(), start=first):
        head = _HEAD.match(line)
        if head:
            current = head.group(1)
        if LEVELS.index(current) < least or (needle and needle not in line.lower()):
            continue
        kept.append(LogLine(number, current, line))
    return kept


def level_after(text: str, level_at: str = "INFO") -> str:
    """The level a line after ``text`` continues: the last head's level in it, else ``level_at``."""
    for line in reversed(text.splitlines()):
        head = _HEAD.match(line)
        if head:
            return head.group(1)
    return level_at if level_at in LEVELS else "INFO"


def complete_lines(text: str) -> str:
    """``text`` up to its last newline: a line still being written waits for the next read."""
    return text[: text.rfind("\n") + 1]
