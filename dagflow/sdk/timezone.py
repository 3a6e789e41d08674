"""The zone in which a naive ``start_date``/``end_date`` of a DAG file is read.

Airflow's ``core.default_timezone``. The SDK reads no configuration: each entry point
that imports DAG files (the CLI, the parse server, the callback processes) calls
``set_default_timezone`` once with the value from ``Settings``; until then it is UTC.
Processes forked after that inherit it.
"""

from __future__ import annotations

from datetime import tzinfo

import pendulum
from pendulum import FixedTimezone, Timezone
from pendulum.tz.local_timezone import get_local_timezone

from dagflow.timetables.timezones import resolve_timezone

#: ``core.default_timezone = "system"`` means the machine's local zone (as in Airflow).
SYSTEM = "system"

_default: Timezone | FixedTimezone = pendulum.UTC


def parse_timezone(value: str | tzinfo) -> Timezone | FixedTimezone:
    """An IANA name, ``"system"`` or a tzinfo as a pendulum zone; raises ``DagDefinitionError``."""
    if isinstance(value, str) and value.lower() == SYSTEM:
        return get_local_timezone()
    return resolve_timezone(value)


def set_default_timezone(value: str | tzinfo) -> Timezone | FixedTimezone:
    """Read naive DAG dates in ``value`` from now on (in this process and its forks)."""
    global _default
    _default = parse_timezone(value)
    return _default


def default_timezone() -> Timezone | FixedTimezone:
    """The zone naive DAG dates are read in (UTC unless an entry point set another)."""
    return _default
