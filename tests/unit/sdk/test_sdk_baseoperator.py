from __future__ import annotations

from collections.abc import Mapping
from datetime import timedelta
from typing import Any

import pytest

from dagflow import DAG, chain, cross_downstream
from dagflow.exceptions import DagDefinitionError, InvalidDuration
from dagflow.operators import BashOperator, EmptyOperator, PythonOperator
from dagflow.sdk.baseoperator import BaseOperator
from dagflow.state import TriggerRule


class CustomOperator(BaseOperator):
    def __init__(self, *, size: int = 1, tag: str = "none", **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self.size = size
        self.tag = tag

    def execute(self, context: Mapping[str, Any]) -> int:
        return self.size


class SubOperator(CustomOperator):
    def __init__(self, *, extra: str = "x", **kwargs: Any) -> None:
        super().__init__(retries=7, **kwargs)
        self.extra = extra


def ids(tasks: Any) -> list[str]:
    return sorted(tasks)


def test_operator_defaults() -> None:
    op = EmptyOperator(task_id="t")
    assert op.dag is None
    assert op.owner == "dagflow"
    assert op.retries == 0
    assert op.retry_delay == timedelta(seconds=300)
    assert op.trigger_rule is TriggerRule.ALL_SUCCESS
    assert op.pool == "default_pool" and op.pool_slots == 1 and op.queue == "default"
    assert op.priority_weight == 1 and op.weight_rule == "downstream"
    assert op.do_xcom_push is True and op.disabled is False and op.allow_failure is False
    assert op.task_type == "EmptyOperator"
    assert op.is_mapped is False and op.is_sensor is False
    assert op.inherits_from_empty_operator is True


def test_default_args_fill_unpassed_arguments_across_the_init_chain() -> None:
    default_args = {
        "retries": 3,
        "retry_delay": "PT1M",
        "owner": "team",
        "size": 42,
        "queue": "gpu",
        "unknown_arg": "ignored",
        "execution_timeout": 30,
    }
    with DAG("d", default_args=default_args):
        plain = CustomOperator(task_id="plain")
        explicit = CustomOperator(task_id="explicit", retries=0, size=1, queue="cpu")
        sub = SubOperator(task_id="sub")
    assert (plain.retries, plain.retry_delay, plain.owner, plain.size, plain.queue) == (
        3,
        timedelta(minutes=1),
        "team",
        42,
        "gpu",
    )
    assert plain.execution_timeout == timedelta(seconds=30)
    assert (explicit.retries, explicit.size, explicit.queue) == (0, 1, "cpu")
    assert sub.retries == 7  # passed by the subclass itself, so not a default
    assert sub.size == 42


def test_task_default_args_override_dag_default_args() -> None:
    with DAG("d", default_args={"retries": 3, "owner": "a"}):
        op = EmptyOperator(task_id="t", default_args={"retries": 1})
    assert op.retries == 1 and op.owner == "a"


def test_params_merge_dag_default_args_and_task() -> None:
    with DAG("d", params={"a": 1, "b": 2}, default_args={"params": {"c": 3}}):
        op = EmptyOperator(task_id="t", params={"b": 20})
    assert dict(op.params) == {"a": 1, "b": 20, "c": 3}


def test_durations_are_normalised() -> None:
    op = EmptyOperator(task_id="t", retry_delay="PT10S", execution_timeout="PT2S", sla=60, max_retry_delay="PT1H")
    assert op.retry_delay == timedelta(seconds=10)
    assert op.execution_timeout == timedelta(seconds=2)
    assert op.sla == timedelta(minutes=1)
    assert op.max_retry_delay == timedelta(hours=1)
    with pytest.raises(InvalidDuration, match="retry_delay"):
        EmptyOperator(task_id="bad", retry_delay="soon")


def test_invalid_trigger_rule_and_arguments() -> None:
    with pytest.raises(DagDefinitionError, match="invalid trigger_rule 'sometimes'"):
        EmptyOperator(task_id="t", trigger_rule="sometimes")
    assert EmptyOperator(task_id="t", trigger_rule="one_failed").trigger_rule is TriggerRule.ONE_FAILED
    with pytest.raises(DagDefinitionError, match="nonsense"):
        EmptyOperator(task_id="t", nonsense=1)
    with pytest.raises(DagDefinitionError, match="task_id"):
        EmptyOperator(task_id="has space")
    with pytest.raises(DagDefinitionError, match="retries"):
        EmptyOperator(task_id="t", retries=-1)
    with pytest.raises(DagDefinitionError, match="weight_rule"):
        EmptyOperator(task_id="t", weight_rule="sideways")


@pytest.mark.parametrize(
    ("kwargs", "expected"),
    [
        ({"retry_delay": timedelta(seconds=10)}, [10, 10, 10]),
        ({"retry_delay": timedelta(seconds=10), "retry_exponential_backoff": True}, [10, 20, 40]),
        (
            {"retry_delay": timedelta(seconds=10), "retry_exponential_backoff": True, "max_retry_delay": 25},
            [10, 20, 25],
        ),
        ({"retry_delay": timedelta(seconds=10), "max_retry_delay": 5}, [5, 5, 5]),
    ],
)
def test_retry_delay(kwargs: dict[str, Any], expected: list[int]) -> None:
    op = EmptyOperator(task_id="t", **kwargs)
    assert [op.get_retry_delay(n).total_seconds() for n in (1, 2, 3)] == expected


def test_retry_delay_huge_try_number_does_not_overflow() -> None:
    op = EmptyOperator(task_id="t", retry_delay=60, retry_exponential_backoff=True)
    assert op.get_retry_delay(500) <= timedelta(days=366)


def test_dependency_forms() -> None:
    with DAG("deps") as d:
        a, b, c, e, f, g, h = (EmptyOperator(task_id=t) for t in "abcefgh")
        a >> [b, c] >> e
        f << g
        [h] << f
        h.set_upstream(a)
        b.set_downstream([f])
    assert ids(a.downstream_task_ids) == ["b", "c", "h"]
    assert ids(e.upstream_task_ids) == ["b", "c"]
    assert ids(f.upstream_task_ids) == ["b", "g"]
    assert ids(h.upstream_task_ids) == ["a", "f"]
    assert [t.task_id for t in e.upstream_list] == ["b", "c"]
    assert d.get_task("b").downstream_task_ids == {"e", "f"}


def test_rshift_returns_right_operand() -> None:
    with DAG("r"):
        a, b, c = (EmptyOperator(task_id=t) for t in "abc")
        assert (a >> b) is b
        assert ([a, b] >> c) is c
        assert (c << a) is a


def test_chain_and_cross_downstream() -> None:
    with DAG("chain"):
        a, b, c, d, e, f, g, h = (EmptyOperator(task_id=t) for t in "abcdefgh")
        chain(a, [b, c], [d, e], f)
        cross_downstream([g, h], [a, f])
    assert a.downstream_task_ids == {"b", "c"}
    assert b.downstream_task_ids == {"d"} and c.downstream_task_ids == {"e"}
    assert f.upstream_task_ids == {"d", "e", "g", "h"}
    assert a.upstream_task_ids == {"g", "h"}
    with pytest.raises(ValueError, match="different lengths"):
        chain([a, b], [c])


def test_edges_across_dags_are_rejected_and_dagless_task_joins() -> None:
    with DAG("one"):
        a = EmptyOperator(task_id="a")
    with DAG("two"):
        b = EmptyOperator(task_id="b")
    with pytest.raises(DagDefinitionError, match="different DAGs"):
        a >> b
    loose = EmptyOperator(task_id="loose")
    a >> loose
    assert loose.dag is a.dag and "loose" in a.dag.task_dict


def test_priority_weight_total() -> None:
    with DAG("pw"):
        a = EmptyOperator(task_id="a", priority_weight=1)
        b = EmptyOperator(task_id="b", priority_weight=2)
        c = EmptyOperator(task_id="c", priority_weight=3, weight_rule="upstream")
        e = EmptyOperator(task_id="e", priority_weight=5, weight_rule="absolute")
        a >> b >> c >> e
    assert a.priority_weight_total == 11
    assert c.priority_weight_total == 6
    assert e.priority_weight_total == 5


def test_template_file_read_relative_to_dag_folder(tmp_path: Any) -> None:
    from tests.unit.sdk.conftest import FakeBackend, make_context

    (tmp_path / "script.sh").write_text("echo {{ ds }}\n")
    with DAG("tmpl") as d:
        op = BashOperator(task_id="b", bash_command="script.sh")
    d.fileloc = str(tmp_path / "dag.py")
    op.render_template_fields(make_context(FakeBackend(), op))
    assert op.bash_command == "echo 2024-03-05\n"


def test_xcomarg_in_template_field_creates_dependency() -> None:
    with DAG("x"):
        up = PythonOperator(task_id="up", python_callable=lambda: 1)
        down = PythonOperator(task_id="down", python_callable=print, op_args=[up.output])
    assert down.upstream_task_ids == {"up"}


def test_base_operator_execute_is_abstract() -> None:
    op = BaseOperator(task_id="b", retries=2)
    assert op.retries == 2
    with pytest.raises(NotImplementedError):
        op.execute({})
