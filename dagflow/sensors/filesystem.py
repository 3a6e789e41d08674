"""``FileSensor``: wait for a file or a non-empty folder (glob patterns allowed)."""

from __future__ import annotations

import glob
import os
from collections.abc import Mapping, Sequence
from typing import Any

from dagflow.sdk.sensor import BaseSensorOperator
from dagflow.triggers.file import FileTrigger


class FileSensor(BaseSensorOperator):
    """Done when ``filepath`` (templated, may be a glob) matches a file or a non-empty folder."""

    template_fields: Sequence[str] = ("filepath",)
    ui_color = "#91818a"

    def __init__(self, *, filepath: str, recursive: bool = False, fs_conn_id: str | None = None, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self.filepath = filepath
        self.recursive = recursive
        self.fs_conn_id = fs_conn_id

    def execute(self, context: Mapping[str, Any]) -> Any:
        """Poke (or reschedule); with ``deferrable=True`` wait for a file in the triggerer."""
        if self.deferrable and not self.poke(context):
            self.defer_with(
                FileTrigger(os.path.expanduser(self.filepath), self.recursive, poll_interval=self.poke_interval)
            )
        return None if self.deferrable else super().execute(context)

    def poke(self, context: Mapping[str, Any]) -> bool:
        """Does anything match?"""
        path = os.path.expanduser(self.filepath)
        for match in glob.glob(path, recursive=self.recursive):
            if os.path.isfile(match):
                print(f"found file {match}", flush=True)
                return True
            if os.path.isdir(match) and any(os.scandir(match)):
                print(f"found non-empty folder {match}", flush=True)
                return True
        print(f"nothing at {path} yet", flush=True)
        return False
