"""Params survive serialization whole, and a run's conf is checked against the serialized form."""

from __future__ import annotations

import json
from datetime import datetime

import pytest

from dagflow import DAG, Param
from dagflow.exceptions import InvalidConf, ParamValidationError
from dagflow.operators import EmptyOperator
from dagflow.serialization import deserialize_dag, serialize_dag
from dagflow.serialization.params import validate_conf

SCHEMAS = {
    "n": {"type": "integer", "minimum": 1, "maximum": 5},
    "color": {"enum": ["red", "blue"]},
    "code": {"type": "string", "pattern": "^[a-z]+$", "minLength": 2, "maxLength": 4},
    "day": {"type": "string", "format": "date"},
    "tags": {"type": "array", "items": {"type": "string"}, "minItems": 1},
}


def _stored_dag() -> object:
    """The DAG as the scheduler, the CLI and a worker see it: serialized, through JSON, back."""
    with DAG(
        "pdag",
        schedule=None,
        start_date=datetime(2024, 1, 1),
        params={
            "n": Param(1, "how many", **SCHEMAS["n"]),
            "color": Param("red", **SCHEMAS["color"]),
            "code": Param("ab", **SCHEMAS["code"]),
            "day": Param("2024-03-05", **SCHEMAS["day"]),
            "tags": Param(["a"], **SCHEMAS["tags"]),
            "required": Param(type="string"),
            "maybe": Param(None, type=["null", "string"]),
            "plain": "text",
        },
    ) as dag:
        EmptyOperator(task_id="t")
    return deserialize_dag(json.loads(json.dumps(serialize_dag(dag))))


def test_schema_default_and_description_survive_serialization() -> None:
    params = _stored_dag().params
    assert params["n"] == {"default": 1, "description": "how many", "schema": SCHEMAS["n"]}
    for name in ("color", "code", "day", "tags"):
        assert params[name]["schema"] == SCHEMAS[name]
    assert params["maybe"] == {"default": None, "description": None, "schema": {"type": ["null", "string"]}}
    assert params["plain"] == {"default": "text", "description": None, "schema": {}}
    # no default is not the same as a None default: the run has to set it
    assert "default" not in params["required"] and params["required"]["schema"] == {"type": "string"}


def test_a_valid_conf_gives_the_run_params() -> None:
    params = validate_conf(_stored_dag(), {"required": "x", "n": 5, "extra": [1]})
    assert params["n"] == 5 and params["required"] == "x" and params["extra"] == [1]
    assert params["color"] == "red" and params["maybe"] is None and params["plain"] == "text"


@pytest.mark.parametrize(
    ("conf", "reason"),
    [
        ({"n": "abc"}, "param 'n': 'abc' is not of type 'integer'"),
        ({"n": 0}, "param 'n': 0 is less than the minimum of 1"),
        ({"n": 6}, "param 'n': 6 is greater than the maximum of 5"),
        ({"color": "green"}, "param 'color': 'green' is not one of ['red', 'blue']"),
        ({"code": "AB"}, "param 'code': 'AB' does not match '^[a-z]+$'"),
        ({"code": "a"}, "param 'code': 'a' is too short"),
        ({"code": "abcde"}, "param 'code': 'abcde' is too long"),
        ({"day": "05/03/2024"}, "param 'day': '05/03/2024' is not a 'date'"),
        ({"tags": []}, "param 'tags': [] should be non-empty"),
        ({"tags": ["a", 1]}, "param 'tags'[1]: 1 is not of type 'string'"),
        ({"maybe": 3}, "param 'maybe': 3 is not of type 'null', 'string'"),
        ({}, "param 'required': no value given and it has no default"),
    ],
)
def test_a_conf_that_breaks_a_param_is_refused_naming_it(conf: dict, reason: str) -> None:
    with pytest.raises(InvalidConf) as caught:
        validate_conf(_stored_dag(), {"required": "x", **conf} if conf else conf)
    assert str(caught.value) == f"invalid conf for DAG 'pdag': {reason}"
    assert isinstance(caught.value, ParamValidationError) and isinstance(caught.value, ValueError)


@pytest.mark.parametrize(
    ("conf", "reason"),
    [
        (["required", "x"], "conf must be a JSON object, got list"),
        ("required=x", "conf must be a JSON object, got str"),
        ({"required": "x", "when": datetime(2024, 1, 1)}, "conf must be a JSON object (Object of type datetime"),
        ({"required": "x", "n": float("nan")}, "conf must be a JSON object (Out of range float values"),
    ],
)
def test_conf_must_be_a_json_object(conf: object, reason: str) -> None:
    with pytest.raises(InvalidConf, match="^invalid conf for DAG 'pdag': " + reason.replace("(", r"\(")):
        validate_conf(_stored_dag(), conf)


def test_no_conf_is_an_empty_one() -> None:
    with DAG("free", schedule=None, params={"n": Param(1, type="integer")}) as dag:
        EmptyOperator(task_id="t")
    assert validate_conf(deserialize_dag(serialize_dag(dag)), None) == {"n": 1}
