"""DAG <-> JSON: versioned, hashed, code-free serialized DAGs for the scheduler and UI.

``serialize_dag(dag) -> dict``, ``dag_hash(data) -> str`` and
``deserialize_dag(data) -> SerializedDag`` live in ``serialized_dag``; the plain
``SerializedDag``/``SerializedTask`` objects in ``objects``. Imports the SDK objects only
to read them (never executes user code) and nothing above ``models``.
"""
