"""The authoring SDK: DAG, BaseOperator, TaskGroup, ``@task``/``@dag``, XComArg, Param, templating.

Imports nothing from the DB layer (no SQLAlchemy, Flask, Celery) and nothing from
``dagflow.operators``/``dagflow.sensors``: parsing a DAG file stays cheap. Task code reaches
the running system only through ``dagflow.sdk.runtime``.
"""

from __future__ import annotations

from dagflow.sdk.baseoperator import BaseOperator
from dagflow.sdk.dag import DAG
from dagflow.sdk.dag_decorator import dag
from dagflow.sdk.decorators import task
from dagflow.sdk.dependencies import chain, chain_linear, cross_downstream
from dagflow.sdk.mappedoperator import MappedOperator
from dagflow.sdk.params import Param, ParamsDict
from dagflow.sdk.sensor import BaseSensorOperator, PokeReturnValue
from dagflow.sdk.taskgroup import TaskGroup, task_group
from dagflow.sdk.xcom_arg import XComArg

__all__ = [
    "DAG",
    "BaseOperator",
    "BaseSensorOperator",
    "MappedOperator",
    "Param",
    "ParamsDict",
    "PokeReturnValue",
    "TaskGroup",
    "XComArg",
    "chain",
    "chain_linear",
    "cross_downstream",
    "dag",
    "task",
    "task_group",
]
