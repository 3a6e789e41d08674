"""dagflow: an Airflow-style workflow scheduler.

``import dagflow`` loads only the authoring SDK (and the state and exception modules it
uses): never SQLAlchemy, Flask or Celery.
"""

from __future__ import annotations

from dagflow.sdk import (
    DAG,
    BaseOperator,
    Param,
    TaskGroup,
    XComArg,
    chain,
    cross_downstream,
    dag,
    task,
    task_group,
)
from dagflow.sdk.assets import Asset, AssetAll, AssetAny, Dataset

__version__ = "0.1.0.dev0"

__all__ = [
    "DAG",
    "Asset",
    "AssetAll",
    "AssetAny",
    "Dataset",
    "BaseOperator",
    "Param",
    "TaskGroup",
    "XComArg",
    "__version__",
    "chain",
    "cross_downstream",
    "dag",
    "task",
    "task_group",
]
