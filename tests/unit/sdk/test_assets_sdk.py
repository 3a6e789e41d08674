"""``Asset``/``Dataset``, asset expressions and ``outlets``: what a DAG file may say, and the clear errors."""

from __future__ import annotations

import pendulum
import pytest

from dagflow import DAG, Asset, AssetAll, AssetAny, Dataset
from dagflow.exceptions import DagDefinitionError
from dagflow.operators import EmptyOperator
from dagflow.sdk.assets import OutletEventAccessors, evaluate_expression, expression_uris

START = pendulum.datetime(2024, 1, 1, tz="UTC")
a, b, c = Asset("s3://x/a"), Asset("s3://x/b"), Dataset("s3://x/c")


def test_expressions_evaluate_as_airflow_does() -> None:
    expression = (a | (b & c)).as_expression()
    assert expression == {"any": ["s3://x/a", {"all": ["s3://x/b", "s3://x/c"]}]}
    assert evaluate_expression(expression, {"s3://x/a": True})
    assert not evaluate_expression(expression, {"s3://x/b": True})
    assert evaluate_expression(expression, {"s3://x/b": True, "s3://x/c": True})
    assert (a & b & c).as_expression() == {"all": ["s3://x/a", "s3://x/b", "s3://x/c"]}  # flattened
    assert AssetAny(a, b).evaluate({"s3://x/b": True}) and not AssetAll(a, b).evaluate({"s3://x/b": True})
    assert expression_uris(expression) == ["s3://x/a", "s3://x/b", "s3://x/c"]


def test_a_list_schedule_means_all_and_serializes_as_asset() -> None:
    with DAG("consumer", schedule=[a, b], start_date=START) as dag:
        EmptyOperator(task_id="t", outlets=c, inlets=[a, a])
    assert dag.timetable.serialize() == {"type": "asset", "condition": {"all": ["s3://x/a", "s3://x/b"]}}
    assert dag.timetable.summary == "Asset" and not dag.timetable.can_be_scheduled
    task = dag.get_task("t")
    assert task.outlets == [c] and task.inlets == [a]  # one asset alone is a list; repeats dropped
    assert Asset("s3://x/a") == a and hash(Asset("s3://x/a")) == hash(a) and Dataset is Asset


@pytest.mark.parametrize(
    ("make", "message"),
    [
        (lambda: Asset(""), "non-empty"),
        (lambda: Asset("s3://x/with space"), "whitespace"),
        (lambda: Asset("airflow://reserved"), "reserved"),
        (lambda: DAG("d", schedule=[a, "@daily"], start_date=START), "assets only"),
        (lambda: EmptyOperator(task_id="t", outlets=["s3://x/a"]), "expected Asset objects"),
        (lambda: AssetAll(), "at least one"),
    ],
)
def test_bad_assets_are_one_clear_error(make, message: str) -> None:
    with pytest.raises(DagDefinitionError, match=message):
        make()


def test_outlet_events_accessor_keys_by_asset_or_uri() -> None:
    accessors = OutletEventAccessors()
    accessors[a].extra["rows"] = 3
    accessors["s3://x/a"].extra["more"] = True
    assert accessors.extra_for("s3://x/a") == {"rows": 3, "more": True}
    assert accessors.extra_for("s3://x/b") == {} and list(accessors) == ["s3://x/a"]
