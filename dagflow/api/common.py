"""What every resource module uses : the blueprint, list parameters, id checks, dates and ids as Airflow shows them."""

from __future__ import annotations

import hashlib
import uuid
from datetime import UTC, datetime
from typing import Any, ClassVar, get_args, get_origin

from apiflask import APIBlueprint
from flask import request
from pydantic import BaseModel, ConfigDict, Field, model_validator

from dagflow.sdk.ids import check_key, check_run_id
from dagflow.services.dag_access import CAN_READ, check_dag_access
from dagflow.services.listing import Slice
from dagflow.web.auth import current_identity
from dagflow.web.auth import hidden_dags as hidden_dags  # re-exported for the resource modules
from dagflow.web.context import web_context

api = APIBlueprint("api", __name__, url_prefix="/api/v2")

#: Largest number a paging parameter takes (a 32-bit SQL integer).
MAX_INT = 2**31 - 1
#: Responses every route with ids in its path may give.
ID_ERRORS = {404: "Not Found", 422: "Invalid identifier or input"}


class Body(BaseModel):
    """A request body: unknown fields are refused, as Airflow's strict models do."""

    model_config = ConfigDict(extra="forbid")


class Query(BaseModel):
    """Query parameters; a ``list[...]`` field takes every repeated value (``?state=a&state=b``)."""

    model_config = ConfigDict(extra="ignore")
    _list_fields: ClassVar[frozenset[str]] = frozenset()

    @classmethod
    def __pydantic_init_subclass__(cls, **kwargs: Any) -> None:
        cls._list_fields = frozenset(name for name, f in cls.model_fields.items() if _is_list(f.annotation))

    @model_validator(mode="before")
    @classmethod
    def _repeated(cls, data: Any) -> Any:
        if isinstance(data, dict) and cls._list_fields and _in_request():
            data = dict(data)
            for name in cls._list_fields:
                values = request.args.getlist(name)
                if values:
                    data[name] = values
        return data


def _is_list(annotation: Any) -> bool:
    if get_origin(annotation) is list:
        return True
    return any(get_origin(a) is list for a in get_args(annotation))


def _in_request() -> bool:
    from flask import has_request_context

    return has_request_context()


class ListQuery(Query):
    """Airflow's paging and ordering: ``limit``, ``offset``, ``order_by`` (``-field`` for descending)."""

    limit: int = Field(default=50, ge=0, le=MAX_INT)
    offset: int = Field(default=0, ge=0, le=MAX_INT)
    order_by: list[str] = Field(default_factory=list)

    def slice(self) -> Slice:
        """The service's ``Slice``, ``limit`` capped by ``api.maximum_page_limit``."""
        cap = web_context().settings.api.maximum_page_limit
        return Slice(limit=min(self.limit, cap), offset=self.offset, order_by=tuple(o for o in self.order_by if o))


def check_dag(dag_id: str, action: str = CAN_READ) -> str:
    """Refuse a DAG named in a body or found by id whose ``access_control`` does not give the caller ``action``."""
    user = current_identity()
    check_dag_access(web_context().db, None if user is None else user.role, dag_id, action)
    return dag_id


def dag_id_arg(dag_id: str) -> str:
    """A DAG id from a path or body, checked by the shared id rule (422 if bad)."""
    return check_key("dag_id", dag_id)


def task_id_arg(task_id: str) -> str:
    """A task id from a path or body, checked by the shared id rule (422 if bad)."""
    return check_key("task_id", task_id)


def run_id_arg(run_id: str) -> str:
    """A run id from a path or body, checked by the shared id rule (422 if bad)."""
    return check_run_id(run_id)


def utc(value: datetime | None) -> datetime | None:
    """A datetime in UTC (a naive one is read as UTC)."""
    if value is None:
        return None
    return value.replace(tzinfo=UTC) if value.tzinfo is None else value.astimezone(UTC)


def ti_uuid(ti_id: int) -> uuid.UUID:
    """Airflow 3 gives task instances a UUID; dagflow's integer id, as a UUID."""
    return uuid.UUID(int=ti_id)


def file_token(fileloc: str | None) -> str:
    """An opaque, stable token for a DAG file (Airflow's ``file_token``)."""
    return hashlib.sha256((fileloc or "").encode()).hexdigest()[:32]
