"""The metadata database schema: typed SQLAlchemy 2 models, one module per idea.

``base`` (declarative base, UTC datetimes, JSON text, state column types), ``dag`` (with ``dag_code``),
``rendered_fields`` (what a task instance's template fields rendered to),
``dagrun``, ``taskinstance`` (with try history), ``xcom`` (with ``task_map``), ``pool``,
``variable``, ``connection``, ``import_error``, ``sla_miss``, ``job``, ``state_store``, ``task_switch``,
``backfill``, ``user`` (with ``api_token``), ``event_log`` (the audit log), ``asset`` (events, queues, references),
``trigger``; and ``transitions``, the only code that writes state columns.

This package may import ``dagflow.state``, ``dagflow.exceptions`` and ``dagflow.config``;
it must never import ``scheduler``, ``executors``, ``execution``, ``services``, ``cli``,
``www`` or ``api``. Importing it has no side effects (no engine, no config read).
"""

from __future__ import annotations

from dagflow.models.asset import (
    AssetDagRunQueue,
    AssetEvent,
    AssetModel,
    DagRunAssetEvent,
    DagScheduleAssetReference,
    TaskOutletAssetReference,
)
from dagflow.models.backfill import Backfill
from dagflow.models.base import Base, JSONText, UTCDateTime, utcnow
from dagflow.models.connection import Connection
from dagflow.models.dag import DagCode, DagFile, DagModel, SerializedDagModel
from dagflow.models.dagrun import DagRun
from dagflow.models.event_log import EventLog
from dagflow.models.import_error import ImportError_
from dagflow.models.job import Job
from dagflow.models.pool import DEFAULT_POOL_NAME, Pool
from dagflow.models.rendered_fields import RenderedTaskInstanceFields
from dagflow.models.sla_miss import SlaMiss
from dagflow.models.state_store import StateStoreEntry
from dagflow.models.task_switch import TaskSwitch
from dagflow.models.taskinstance import TaskInstance, TaskInstanceHistory
from dagflow.models.transitions import set_dagrun_state, set_ti_state, set_ti_state_where
from dagflow.models.trigger import Trigger
from dagflow.models.user import ApiToken, User
from dagflow.models.variable import Variable
from dagflow.models.xcom import XCOM_RETURN_KEY, TaskMap, XCom

__all__ = [
    "AssetDagRunQueue",
    "AssetEvent",
    "AssetModel",
    "DagRunAssetEvent",
    "DagScheduleAssetReference",
    "TaskOutletAssetReference",
    "Trigger",
    "ApiToken",
    "DEFAULT_POOL_NAME",
    "XCOM_RETURN_KEY",
    "Backfill",
    "Base",
    "Connection",
    "DagCode",
    "DagFile",
    "DagModel",
    "DagRun",
    "EventLog",
    "ImportError_",
    "JSONText",
    "Job",
    "Pool",
    "RenderedTaskInstanceFields",
    "SerializedDagModel",
    "SlaMiss",
    "StateStoreEntry",
    "TaskSwitch",
    "TaskInstance",
    "TaskInstanceHistory",
    "TaskMap",
    "UTCDateTime",
    "User",
    "Variable",
    "XCom",
    "set_dagrun_state",
    "set_ti_state",
    "set_ti_state_where",
    "utcnow",
]
