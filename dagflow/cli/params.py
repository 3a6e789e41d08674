"""Click parameter types shared by the commands: dates and JSON objects."""

from __future__ import annotations

import json
from datetime import datetime
from typing import Any

import click
import pendulum


class LogicalDateType(click.ParamType[datetime]):
    """A date or datetime (ISO-8601); naive values are UTC."""

    name = "DATE"

    def convert(self, value: Any, param: click.Parameter | None, ctx: click.Context | None) -> datetime:
        """Parse with pendulum, failing with one clear line."""
        if isinstance(value, datetime):
            return pendulum.instance(value)
        try:
            parsed = pendulum.parse(str(value), tz="UTC")
        except (ValueError, pendulum.parsing.exceptions.ParserError):
            self.fail(f"{value!r} is not an ISO-8601 date or datetime", param, ctx)
        if not isinstance(parsed, datetime):
            self.fail(f"{value!r} is not a date or datetime", param, ctx)
        return parsed.in_tz("UTC")


class JsonObjectType(click.ParamType[dict[str, Any]]):
    """A JSON object given on the command line."""

    name = "JSON"

    def convert(self, value: Any, param: click.Parameter | None, ctx: click.Context | None) -> dict[str, Any]:
        """Parse JSON and insist on an object."""
        if isinstance(value, dict):
            return value
        try:
            parsed = json.loads(value)
        except json.JSONDecodeError as exc:
            self.fail(f"not valid JSON ({exc.msg} at position {exc.pos})", param, ctx)
        if not isinstance(parsed, dict):
            self.fail('must be a JSON object, like \'{"key": "value"}\'', param, ctx)
        return parsed


LOGICAL_DATE = LogicalDateType()
JSON_OBJECT = JsonObjectType()
