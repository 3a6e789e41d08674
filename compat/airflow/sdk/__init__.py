"""Airflow 3's authoring interface (``airflow.sdk``), mapped onto dagflow's SDK."""

from __future__ import annotations

from airflow._compat import Context, available, task, unsupported_names
from dagflow.sdk import (
    DAG,
    BaseOperator,
    BaseSensorOperator,
    Param,
    ParamsDict,
    PokeReturnValue,
    TaskGroup,
    XComArg,
    chain,
    chain_linear,
    cross_downstream,
    dag,
    task_group,
)
from dagflow.sdk.current_context import get_current_context
from dagflow.sdk.decorators import setup, teardown
from dagflow.sdk.edges import EdgeModifier, Label
from dagflow.sdk.variable import Variable
from dagflow.state import TriggerRule

#: Assets (data-aware scheduling), once dagflow has them.
_ASSETS = available("dagflow.sdk.assets", ["Asset", "AssetAll", "AssetAny", "Dataset"])
_ASSETS.update(available("dagflow.notifications", ["BaseNotifier"]))
globals().update(_ASSETS)

__all__ = [
    *_ASSETS,
    "DAG",
    "BaseOperator",
    "BaseSensorOperator",
    "Context",
    "EdgeModifier",
    "Label",
    "Param",
    "ParamsDict",
    "PokeReturnValue",
    "TaskGroup",
    "TriggerRule",
    "Variable",
    "XComArg",
    "chain",
    "chain_linear",
    "cross_downstream",
    "dag",
    "get_current_context",
    "setup",
    "task",
    "task_group",
    "teardown",
]


__getattr__ = unsupported_names(
    __name__,
    {
        "AssetAccessControl": "asset access control is not available",
        "Asset": "assets and data-aware scheduling are not available in dagflow's Airflow layer yet",
        "AssetAlias": "asset aliases are not available (dagflow has Asset, AssetAll and AssetAny)",
        "AssetAll": "assets and data-aware scheduling are not available in dagflow's Airflow layer yet",
        "AssetAny": "assets and data-aware scheduling are not available in dagflow's Airflow layer yet",
        "AssetWatcher": "asset watchers (event-driven scheduling) are not available",
        "Metadata": "yielding Metadata is not available (set context['outlet_events'][asset].extra instead)",
        "asset": "the @asset decorator is not available (declare an Asset and a DAG with outlets=[asset])",
        "AssetOrTimeSchedule": "AssetOrTimeSchedule is not available (schedule on assets, or on time)",
        "Dataset": "assets and data-aware scheduling are not available in dagflow's Airflow layer yet",
        "ObjectStoragePath": "object storage paths are not available (use context['storage'])",
        "BaseNotifier": "notifiers are not available in dagflow's Airflow layer yet",
        "BaseHook": "hooks are not available (read connections with context['conn'])",
        "Connection": "Connection objects are not available (read connections with context['conn'])",
        "CronTriggerTimetable": "CronTriggerTimetable is not available (use a cron string as schedule)",
        "ExceptionRetryPolicy": "retry policies are not available (use retries and retry_delay)",
        "RetryAction": "retry policies are not available (use retries and retry_delay)",
        "RetryRule": "retry policies are not available (use retries and retry_delay)",
        "get_parsing_context": "get_parsing_context is not available",
        "PartitionedAssetTimetable": "partitioned assets are not available",
        "CronPartitionTimetable": "partitioned assets are not available",
    },
)
