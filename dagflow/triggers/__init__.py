"""Triggers: small async waits a deferred task hands to the triggerer (``dagflow triggerer``).

``BaseTrigger`` (``serialize()`` -> ``(classpath, kwargs)``, ``async run()`` yielding
``TriggerEvent``), and the built-in ones: ``DateTimeTrigger``, ``TimeDeltaTrigger``,
``FileTrigger``, ``HttpTrigger`` and ``DagStateTrigger``/``ExternalTaskTrigger`` (another
DAG's run or task reached a state). Kwargs are JSON so they can be stored in the
``trigger`` table. Imports nothing from the DB layer; a trigger that reads the metadata
DB does it through ``TriggerRuntime`` given to it by the triggerer.
"""

from __future__ import annotations

from dagflow.triggers.base import BaseTrigger, TriggerEvent, TriggerRuntime, trigger_from_classpath
from dagflow.triggers.external_task import DagStateTrigger, ExternalTaskTrigger
from dagflow.triggers.file import FileTrigger
from dagflow.triggers.http import HttpTrigger
from dagflow.triggers.temporal import DateTimeTrigger, TimeDeltaTrigger

__all__ = [
    "BaseTrigger",
    "DagStateTrigger",
    "DateTimeTrigger",
    "ExternalTaskTrigger",
    "FileTrigger",
    "HttpTrigger",
    "TimeDeltaTrigger",
    "TriggerEvent",
    "TriggerRuntime",
    "trigger_from_classpath",
]
