"""``FileTrigger``: fires when a file (or a glob match) exists."""

from __future__ import annotations

import asyncio
import glob
import os
from collections.abc import AsyncIterator
from typing import Any

from dagflow.triggers.base import BaseTrigger, TriggerEvent


class FileTrigger(BaseTrigger):
    """Fires once ``filepath`` (a path or a glob) matches a file; polls every ``poll_interval`` seconds.

    The event payload is ``{"status": "success", "files": [...]}``.
    """

    def __init__(self, filepath: str, recursive: bool = False, poll_interval: float = 5.0) -> None:
        self.filepath = str(filepath)
        self.recursive = bool(recursive)
        self.poll_interval = float(poll_interval)

    def serialize(self) -> tuple[str, dict[str, Any]]:
        """Path, recursion and poll interval."""
        return (
            FileTrigger.classpath(),
            {"filepath": self.filepath, "recursive": self.recursive, "poll_interval": self.poll_interval},
        )

    def _matches(self) -> list[str]:
        return sorted(path for path in glob.glob(self.filepath, recursive=self.recursive) if os.path.isfile(path))

    async def run(self) -> AsyncIterator[TriggerEvent]:
        """Poll (the glob runs in a thread) until something matches."""
        while True:
            found = await asyncio.to_thread(self._matches)
            if found:
                yield TriggerEvent({"status": "success", "files": found})
                return
            await asyncio.sleep(self.poll_interval)
