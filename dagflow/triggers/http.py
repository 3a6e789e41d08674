"""``HttpTrigger``: poll a URL until it answers with an expected status."""

from __future__ import annotations

import asyncio
import urllib.error
import urllib.request
from collections.abc import AsyncIterator, Sequence
from typing import Any

from dagflow.exceptions import DagDefinitionError
from dagflow.triggers.base import BaseTrigger, TriggerEvent


class HttpTrigger(BaseTrigger):
    """Fires when ``GET url`` answers with a status in ``ok_statuses`` (polled every ``poll_interval`` s).

    The event payload is ``{"status": "success", "status_code": N, "body": first 64 KiB as text}``.
    Connection errors and other statuses are retried at the next poll.
    """

    def __init__(
        self,
        url: str,
        ok_statuses: Sequence[int] = (200,),
        poll_interval: float = 30.0,
        headers: dict[str, str] | None = None,
        request_timeout: float = 10.0,
    ) -> None:
        if not str(url).startswith(("http://", "https://")):
            raise DagDefinitionError(f"HttpTrigger: {url!r} is not an http(s) URL")
        self.url = str(url)
        self.ok_statuses = [int(s) for s in ok_statuses]
        self.poll_interval = float(poll_interval)
        self.headers = dict(headers or {})
        self.request_timeout = float(request_timeout)

    def serialize(self) -> tuple[str, dict[str, Any]]:
        """The URL, statuses, interval, headers and request timeout."""
        return (
            HttpTrigger.classpath(),
            {
                "url": self.url,
                "ok_statuses": self.ok_statuses,
                "poll_interval": self.poll_interval,
                "headers": self.headers,
                "request_timeout": self.request_timeout,
            },
        )

    def _get(self) -> tuple[int, str] | None:
        request = urllib.request.Request(self.url, headers=self.headers)
        try:
            with urllib.request.urlopen(request, timeout=self.request_timeout) as response:
                return int(response.status), response.read(65536).decode("utf-8", "replace")
        except urllib.error.HTTPError as exc:
            return int(exc.code), ""
        except (urllib.error.URLError, OSError):
            return None

    async def run(self) -> AsyncIterator[TriggerEvent]:
        """Poll until an expected status."""
        while True:
            answer = await asyncio.to_thread(self._get)
            if answer is not None and answer[0] in self.ok_statuses:
                yield TriggerEvent({"status": "success", "status_code": answer[0], "body": answer[1]})
                return
            await asyncio.sleep(self.poll_interval)
