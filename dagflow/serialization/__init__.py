"""DAG <-> JSON: versioned, hashed, code-free serialized DAGs for the scheduler and UI.

``serialize_dag(dag) -> dict``, ``dag_hash(data) -> str`` and
``deserialize_dag(data) -> SerializedDag`` live in ``serialized_dag``; the plain
``SerializedDag``/``SerializedTask`` objects in ``objects``; reading an SDK DAG in
``from_sdk``. Reads SDK objects by attribute (imports no DAG file and runs no user
code); imports nothing above ``models``.
"""

from __future__ import annotations

from dagflow.serialization.objects import SerializedDag, SerializedTask, SerializedTaskGroup
from dagflow.serialization.serialized_dag import (
    FORMAT_VERSION,
    SerializationError,
    dag_hash,
    deserialize_dag,
    serialize_dag,
)

__all__ = [
    "FORMAT_VERSION",
    "SerializationError",
    "SerializedDag",
    "SerializedTask",
    "SerializedTaskGroup",
    "dag_hash",
    "deserialize_dag",
    "serialize_dag",
]
