"""A run's conf checked against a serialized DAG's params, as Airflow checks a trigger's conf.

The schemas are the ones the DAG file declared (``Param(type=…, enum=…, pattern=…)``),
kept whole by serialization, so the scheduler, the CLI, the API and a worker running
``TriggerDagRunOperator`` can check a conf without importing the DAG file.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from typing import Any

from dagflow.exceptions import InvalidConf, ParamValidationError
from dagflow.sdk.params import NOTSET, Param, ParamsDict
from dagflow.serialization.objects import SerializedDag


def params_of(sdag: SerializedDag) -> ParamsDict:
    """The DAG's params rebuilt from their serialized form (default, description, schema)."""
    params = ParamsDict()
    for name, spec in sdag.params.items():
        params[name] = Param(spec.get("default", NOTSET), spec.get("description"), **dict(spec.get("schema") or {}))
    return params


def validate_conf(sdag: SerializedDag, conf: Any) -> dict[str, Any]:
    """The run's params (``conf`` over the defaults), or ``InvalidConf`` naming the param and the reason.

    ``conf`` must be a JSON object (``None`` is an empty one). Every param must end with a
    value that matches its schema; a param without a default must be set by ``conf``.
    """
    where = f"invalid conf for DAG {sdag.dag_id!r}"
    if conf is None:
        conf = {}
    if not isinstance(conf, Mapping):
        raise InvalidConf(f"{where}: conf must be a JSON object, got {type(conf).__name__}")
    try:
        json.dumps(conf, allow_nan=False)
    except (TypeError, ValueError) as exc:
        raise InvalidConf(f"{where}: conf must be a JSON object ({exc})") from None
    try:
        return params_of(sdag).resolve(dict(conf))
    except ParamValidationError as exc:
        raise InvalidConf(f"{where}: {exc}") from None
