"""Paging and ordering for list services: ``limit``, ``offset``, ``order_by`` as Airflow's REST API takes them."""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any, TypeVar

import sqlalchemy as sa
from sqlalchemy.orm import Session

from dagflow.exceptions import InvalidInput
from dagflow.services.records import Page

T = TypeVar("T")


@dataclass(frozen=True)
class Slice:
    """Which part of a list: ``order_by`` names (``-name`` for descending), then ``offset`` and ``limit``."""

    limit: int = 50
    offset: int = 0
    order_by: tuple[str, ...] = ()


def ordering(
    order_by: Sequence[str], columns: Mapping[str, Any], default: Sequence[Any]
) -> list[sa.ColumnElement[Any]]:
    """ORDER BY clauses for ``order_by`` (``InvalidInput`` for a name not in ``columns``), then ``default``."""
    clauses: list[sa.ColumnElement[Any]] = []
    for name in order_by:
        descending = name.startswith("-")
        column = columns.get(name.lstrip("-"))
        if column is None:
            raise InvalidInput(
                f"ordering with {name.lstrip('-')!r} is not allowed: use one of {', '.join(sorted(columns))}"
            )
        clauses.append(column.desc() if descending else column.asc())
    return clauses + list(default)


def paged(
    session: Session,
    query: sa.Select[*tuple[Any, ...]],
    part: Slice,
    columns: Mapping[str, Any],
    default_order: Sequence[Any],
    build: Callable[[Any], T],
) -> Page[T]:
    """Run ``query`` for one page (ordered, offset, limited) and count every matching row."""
    total = session.scalar(sa.select(sa.func.count()).select_from(query.order_by(None).subquery())) or 0
    ordered = query.order_by(*ordering(part.order_by, columns, default_order)).offset(part.offset).limit(part.limit)
    return Page([build(row) for row in session.execute(ordered)], int(total))
