"""The filters the cross-DAG lists share (state, DAG, tag, date range, page), read from the query string."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any

import pendulum
from flask import request

from dagflow.db import Database
from dagflow.exceptions import InvalidInput
from dagflow.sdk.ids import check_key
from dagflow.services.dag_access import CAN_READ
from dagflow.services.dags import DagFilter, query_dags
from dagflow.services.listing import Slice
from dagflow.web.auth import hidden_dags

#: Which date a list's range applies to.
DATE_FIELDS = ("logical_date", "start_date", "end_date")
#: Most DAGs a tag can stand for in one filter.
TAG_DAG_LIMIT = 10_000


@dataclass(frozen=True)
class ListArgs:
    """A list page's filters as the query string gave them (checked)."""

    states: tuple[str, ...] = ()
    dag_id: str = ""
    tag: str = ""
    date_field: str = "logical_date"
    start: datetime | None = None
    end: datetime | None = None
    offset: int = 0

    def url_args(self) -> dict[str, Any]:
        """The filters as ``url_for`` arguments (the pager and the forms keep them)."""
        args: dict[str, Any] = {"state": list(self.states), "dag_id": self.dag_id, "tag": self.tag}
        args["date_field"] = self.date_field
        args["start"] = _as_input(self.start)
        args["end"] = _as_input(self.end)
        return {k: v for k, v in args.items() if v}

    def date_range(self) -> dict[str, Any]:
        """``{"<field>_gte": start, "<field>_lte": end}`` for the service's filter."""
        bounds = {f"{self.date_field}_gte": self.start, f"{self.date_field}_lte": self.end}
        return {k: v for k, v in bounds.items() if v is not None}

    def dag_ids(self, db: Database) -> tuple[str, ...] | None:
        """The DAGs the tag stands for (None: no tag filter)."""
        if not self.tag:
            return None
        page = query_dags(db, DagFilter(tags=(self.tag,), only_active=False), Slice(limit=TAG_DAG_LIMIT))
        return tuple(d.dag_id for d in page.items)


def list_args(states: Sequence[str]) -> ListArgs:
    """The filters of this request; ``InvalidInput`` (422 page) for a state, DAG id or date that is not one."""
    wanted = tuple(s for s in request.args.getlist("state") if s)
    bad = [s for s in wanted if s not in states]
    if bad:
        raise InvalidInput(f"unknown state {bad[0][:60]!r}: use one of {', '.join(states)}")
    dag_id = request.args.get("dag_id", "").strip()
    if dag_id:
        check_key("dag_id", dag_id)
    date_field = request.args.get("date_field", "logical_date")
    if date_field not in DATE_FIELDS:
        raise InvalidInput(f"unknown date field {date_field[:60]!r}: use one of {', '.join(DATE_FIELDS)}")
    return ListArgs(
        states=wanted,
        dag_id=dag_id,
        tag=request.args.get("tag", "").strip()[:100],
        date_field=date_field,
        start=parse_when(request.args.get("start", ""), "start"),
        end=parse_when(request.args.get("end", ""), "end"),
        offset=max(request.args.get("offset", 0, type=int) or 0, 0),
    )


def parse_when(text: str, name: str) -> datetime | None:
    """A date or date-time from a form (``2026-12-06``, ``2026-12-06T08:30``; UTC unless it says); "" is None."""
    text = text.strip()
    if not text:
        return None
    try:
        value = pendulum.parse(text, tz="UTC")
    except (ValueError, pendulum.parsing.exceptions.ParserError):
        value = None
    if not isinstance(value, datetime):
        raise InvalidInput(f"{name}: not a date or date-time: {text[:60]!r} (use 2026-12-06 or 2026-12-06T08:30)")
    return pendulum.instance(value).in_tz("UTC")


def since_midnight() -> str:
    """Today's midnight (UTC) as a form value: the start of "what failed today"."""
    return pendulum.now("UTC").start_of("day").format("YYYY-MM-DDTHH:mm")


def _as_input(value: datetime | None) -> str:
    return "" if value is None else pendulum.instance(value).in_tz("UTC").format("YYYY-MM-DDTHH:mm")


def hidden(action: str = CAN_READ) -> frozenset[str]:
    """The DAGs whose ``access_control`` refuses the caller ``action``: left out of lists, refused in bulk actions."""
    return hidden_dags(action)
