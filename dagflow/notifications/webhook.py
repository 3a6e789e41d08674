"""``WebhookNotifier``: POST a Slack-compatible JSON body to a webhook URL."""

from __future__ import annotations

import json
import urllib.request
from collections.abc import Mapping, Sequence
from typing import Any

from dagflow.notifications.base import BaseNotifier, connection, describe

#: Body keys a Slack incoming webhook (and Mattermost, Rocket.Chat, Teams' Slack mode) understands.
SLACK_KEYS = ("text", "blocks", "attachments", "username", "channel", "icon_emoji", "icon_url")


class WebhookNotifier(BaseNotifier):
    """POST ``{"text": ..., "blocks": ..., ...}`` (Slack's incoming-webhook body) as JSON.

    The URL is ``url``, or built from the connection ``webhook_conn_id``: its ``host`` (with
    ``port`` and ``schema`` as path), then ``/password`` if it has one (Slack's
    ``https://hooks.slack.com/services`` as host, the ``T…/B…/…`` token as password). The
    default ``text`` names the DAG, run, task, try, state and error. ``text``, ``blocks``,
    ``attachments``, ``channel`` and ``username`` are Jinja templates. A response other than
    2xx, or no answer within ``timeout`` seconds, raises (the callback machinery logs it).
    """

    template_fields: Sequence[str] = ("text", "blocks", "attachments", "channel", "username")

    def __init__(
        self,
        url: str | None = None,
        *,
        webhook_conn_id: str | None = None,
        text: str | None = None,
        blocks: list[dict[str, Any]] | None = None,
        attachments: list[dict[str, Any]] | None = None,
        username: str | None = None,
        channel: str | None = None,
        icon_emoji: str | None = None,
        icon_url: str | None = None,
        headers: Mapping[str, str] | None = None,
        timeout: float = 10.0,
    ) -> None:
        """A webhook notifier; one of ``url`` or ``webhook_conn_id`` is required."""
        if not url and not webhook_conn_id:
            raise ValueError("WebhookNotifier needs url= or webhook_conn_id=")
        self.url = url
        self.webhook_conn_id = webhook_conn_id
        self.text = text
        self.blocks = blocks
        self.attachments = attachments
        self.username = username
        self.channel = channel
        self.icon_emoji = icon_emoji
        self.icon_url = icon_url
        self.headers = dict(headers or {})
        self.timeout = timeout

    def body(self, context: Mapping[str, Any]) -> dict[str, Any]:
        """The JSON body (keys left out when not set)."""
        values = {key: getattr(self, key) for key in SLACK_KEYS}
        if not values["text"]:
            values["text"] = describe(context)
        return {key: value for key, value in values.items() if value not in (None, "", [])}

    def notify(self, context: Mapping[str, Any]) -> None:
        """POST the body; raise on a non-2xx answer."""
        data = json.dumps(self.body(context), default=str).encode()
        headers = {"Content-Type": "application/json", **self.headers}
        request = urllib.request.Request(self._url(), data=data, headers=headers, method="POST")
        with urllib.request.urlopen(request, timeout=self.timeout) as response:
            if not 200 <= response.status < 300:
                raise RuntimeError(f"webhook answered HTTP {response.status}")

    def _url(self) -> str:
        url = self.url
        if not url:
            assert self.webhook_conn_id is not None
            url = _connection_url(connection(self.webhook_conn_id))
        if not url.startswith(("http://", "https://")):
            raise ValueError(f"webhook URL must be http(s): {url!r}")
        return url

    def __repr__(self) -> str:
        return f"<WebhookNotifier {self.webhook_conn_id or 'url'}>"


def _connection_url(conn: Mapping[str, Any]) -> str:
    """``scheme://host[:port][/schema][/password]``: the host may hold the scheme and a path already."""
    host = str(conn.get("host") or "")
    if "://" not in host:
        scheme = conn.get("conn_type") if conn.get("conn_type") in ("http", "https") else "https"
        host = f"{scheme}://{host}"
        if conn.get("port"):
            host += f":{conn['port']}"
    url = host.rstrip("/")
    for part in (conn.get("schema"), conn.get("password")):
        if part:
            url += "/" + str(part).strip("/")
    return url
