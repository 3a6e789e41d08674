"""The declarative base, the constraint naming convention and dagflow's column types.

Column types defined here:

- ``UTCDateTime``: always UTC. Binds aware datetimes only (a naive one is a bug and
  raises); stores naive UTC on SQLite and ``timestamptz`` on PostgreSQL; returns an
  aware pendulum ``DateTime`` in UTC.
- ``JSONText``: any JSON value stored as compact text (the same on every backend).
  Assign a new value to change it; in-place mutation is not tracked.
- ``TIStateType`` / ``DagRunStateType``: the state enums of ``dagflow.state``.
  ``TaskInstanceState.NONE`` is stored as NULL, and SQL comparisons written with the
  enum do the NULL-aware thing: ``state == NONE`` is ``IS NULL``, ``state.in_(UNFINISHED)``
  includes NULL rows, ``state != X`` and ``state.not_in(...)`` keep NULL rows.
"""

from __future__ import annotations

import json
from collections.abc import Iterable
from datetime import UTC, datetime
from typing import TYPE_CHECKING, Any, ClassVar, TypeGuard

import pendulum
import sqlalchemy as sa
from sqlalchemy.engine import Dialect
from sqlalchemy.orm import DeclarativeBase
from sqlalchemy.sql import operators
from sqlalchemy.types import TypeDecorator

from dagflow.state import DagRunState, TaskInstanceState

#: Length of identifier columns (dag_id, task_id, run_id, pool, ...).
ID_LEN = 250

NAMING_CONVENTION: dict[str, str] = {
    "ix": "ix_%(table_name)s_%(column_0_N_name)s",
    "uq": "uq_%(table_name)s_%(column_0_N_name)s",
    "ck": "ck_%(table_name)s_%(constraint_name)s",
    "fk": "fk_%(table_name)s_%(column_0_N_name)s_%(referred_table_name)s",
    "pk": "pk_%(table_name)s",
}


def utcnow() -> pendulum.DateTime:
    """The current time as an aware pendulum ``DateTime`` in UTC."""
    return pendulum.now("UTC")


def as_utc(value: datetime) -> pendulum.DateTime:
    """An aware datetime converted to a pendulum ``DateTime`` in UTC; naive raises."""
    if value.tzinfo is None or value.tzinfo.utcoffset(value) is None:
        raise ValueError(f"naive datetime {value!r}: dagflow stores only aware datetimes")
    return pendulum.instance(value).in_timezone("UTC")


class UTCDateTime(TypeDecorator[datetime]):
    """A timestamp that is UTC in the database and aware (pendulum, UTC) in Python."""

    impl = sa.DateTime(timezone=True)
    cache_ok = True

    def process_bind_param(self, value: datetime | None, dialect: Dialect) -> datetime | None:
        """Aware → UTC; naive on SQLite (which has no time zone), aware elsewhere."""
        if value is None:
            return None
        if not isinstance(value, datetime):
            raise TypeError(f"expected a datetime, got {type(value).__name__}")
        offset = value.utcoffset()
        if offset is None:
            raise ValueError(f"naive datetime {value!r}: dagflow stores only aware datetimes")
        # The standard library's conversion, not pendulum's (``as_utc``): 5-10x cheaper, and every
        # write binds a few of these (a try's claim and record about ten, in its worker).
        tz = None if dialect.name == "sqlite" else UTC
        wall = datetime(
            value.year, value.month, value.day, value.hour, value.minute, value.second, value.microsecond, tz
        )
        return wall - offset if offset else wall

    def process_result_value(self, value: datetime | None, dialect: Dialect) -> pendulum.DateTime | None:
        """A stored timestamp as an aware pendulum ``DateTime`` in UTC."""
        if value is None:
            return None
        if value.tzinfo is not None:
            value = value.astimezone(UTC)
        # Built field by field: ~10x cheaper than pendulum.instance(...).in_timezone(...), and
        # the scheduler reads ~8 of these per running run on every pass.
        return pendulum.DateTime(
            value.year,
            value.month,
            value.day,
            value.hour,
            value.minute,
            value.second,
            value.microsecond,
            tzinfo=pendulum.UTC,
        )


class JSONText(TypeDecorator[Any]):
    """A JSON value stored as text; ``None`` is SQL NULL."""

    impl = sa.Text
    cache_ok = True

    def process_bind_param(self, value: Any, dialect: Dialect) -> str | None:
        """Dump to compact JSON (raises ``TypeError`` for values JSON cannot hold)."""
        if value is None:
            return None
        return json.dumps(value, separators=(",", ":"), allow_nan=False)

    def process_result_value(self, value: str | None, dialect: Dialect) -> Any:
        """Load the stored JSON text."""
        if value is None:
            return None
        return json.loads(value)


def _is_none_state(value: object) -> bool:
    return value is None or value is TaskInstanceState.NONE


class _TIStateComparator(TypeDecorator.Comparator[TaskInstanceState]):
    """Makes comparisons with ``TaskInstanceState.NONE`` (NULL) mean what they say."""

    def operate(self, op: Any, *other: Any, **kwargs: Any) -> Any:
        """``==``, ``!=``, ``in_`` and ``not_in`` with NULL-aware semantics; the rest as usual."""
        expr = self.expr
        value = other[0] if other else None
        if op in (operators.eq, operators.ne) and _is_none_state(value) and other:
            return expr.is_(None) if op is operators.eq else expr.is_not(None)
        if op is operators.ne and isinstance(value, str):
            return sa.or_(super().operate(op, *other, **kwargs), expr.is_(None))
        if op in (operators.in_op, operators.not_in_op) and _is_value_list(value):
            states = list(value)
            with_null = any(_is_none_state(s) for s in states)
            rest = [s for s in states if not _is_none_state(s)]
            listed = super().operate(op, rest) if rest else None
            if op is operators.in_op:
                return _either(expr.is_(None) if with_null else None, listed)
            if with_null:
                return _both(expr.is_not(None), listed)
            return _either(expr.is_(None), listed)
        return super().operate(op, *other, **kwargs)


def _either(a: Any, b: Any) -> Any:
    return b if a is None else a if b is None else sa.or_(a, b)


def _both(a: Any, b: Any) -> Any:
    return a if b is None else sa.and_(a, b)


def _is_value_list(value: object) -> TypeGuard[Iterable[Any]]:
    """A plain collection of values (not a subquery or other SQL construct)."""
    if isinstance(value, (str, bytes, sa.sql.ClauseElement)) or hasattr(value, "__clause_element__"):
        return False
    return isinstance(value, Iterable)


#: Stored value -> state (the scheduler converts every task instance it reads; ``TaskInstanceState(v)`` is slower).
_TI_STATE_BY_VALUE = {state.value: state for state in TaskInstanceState}


def ti_state_of(value: str | None) -> TaskInstanceState:
    """The state for a stored value (NULL → ``NONE``): a dict lookup; an unknown value raises ``ValueError``."""
    if value is None:
        return TaskInstanceState.NONE
    state = _TI_STATE_BY_VALUE.get(value)
    return state if state is not None else TaskInstanceState(value)


class TIStateType(TypeDecorator[TaskInstanceState]):
    """A ``TaskInstanceState``; ``NONE`` is NULL in the database."""

    impl = sa.String(20)
    cache_ok = True
    comparator_factory = _TIStateComparator

    def process_bind_param(self, value: Any, dialect: Dialect) -> str | None:
        """The stored form of a state (``none`` → NULL); unknown strings raise."""
        if _is_none_state(value):
            return None
        return TaskInstanceState(value).value

    def process_result_value(self, value: str | None, dialect: Dialect) -> TaskInstanceState:
        """The state for a stored value (NULL → ``NONE``)."""
        return ti_state_of(value)

    def process_literal_param(self, value: Any, dialect: Dialect) -> str:
        """Inline rendering (used by ``literal_binds``)."""
        stored = self.process_bind_param(value, dialect)
        return "NULL" if stored is None else f"'{stored}'"


class DagRunStateType(TypeDecorator[DagRunState]):
    """A ``DagRunState`` stored as its string value."""

    impl = sa.String(20)
    cache_ok = True

    def process_bind_param(self, value: Any, dialect: Dialect) -> str | None:
        """The stored form; unknown strings raise."""
        return None if value is None else DagRunState(value).value

    def process_result_value(self, value: str | None, dialect: Dialect) -> DagRunState | None:
        """The state for a stored value."""
        return None if value is None else DagRunState(value)


_SCALAR_DEFAULTS: dict[type, dict[str, Any]] = {}


def _scalar_defaults(cls: type) -> dict[str, Any]:
    """Initial attribute values for ``Base.__init__``: constant defaults, else None.

    Columns without any default start as None, so every column is loaded on a new
    object (an ORM ``UPDATE`` only refreshes loaded attributes of objects in the session).
    Columns with a callable or server default are left unset so the default fires.
    """
    found = _SCALAR_DEFAULTS.get(cls)
    if found is None:
        found = {}
        mapper: sa.orm.Mapper[Any] = sa.inspect(cls)
        for attr in mapper.column_attrs:
            column = attr.columns[0]
            default = column.default
            if default is not None and getattr(default, "is_scalar", False):
                found[attr.key] = default.arg
            elif default is None and column.server_default is None and not column.primary_key:
                found[attr.key] = None
        _SCALAR_DEFAULTS[cls] = found
    return found


class Base(DeclarativeBase):
    """Declarative base of every dagflow table."""

    if TYPE_CHECKING:
        # Every dagflow model maps a plain Table (DeclarativeBase allows any FromClause).
        __table__: ClassVar[sa.Table]

    metadata = sa.MetaData(naming_convention=NAMING_CONVENTION)
    type_annotation_map: ClassVar[dict[Any, Any]] = {
        datetime: UTCDateTime(),
        TaskInstanceState: TIStateType(),
        DagRunState: DagRunStateType(),
    }

    def __init__(self, **kwargs: Any) -> None:
        """Set the given attributes; the others start at their constant default or None."""
        cls = type(self)
        for key, value in _scalar_defaults(cls).items():
            kwargs.setdefault(key, value)
        for key, value in kwargs.items():
            if not hasattr(cls, key):
                raise TypeError(f"{key!r} is an invalid keyword argument for {cls.__name__}")
            setattr(self, key, value)

    def __repr__(self) -> str:
        mapper = sa.inspect(type(self))
        keys = [mapper.get_property_by_column(column).key for column in mapper.primary_key]
        ident = ", ".join(f"{key}={getattr(self, key, None)!r}" for key in keys)
        return f"<{type(self).__name__} {ident}>"
