from __future__ import annotations

from typing import Any

import pytest

from dagflow import DAG, XComArg, task
from dagflow.exceptions import DagDefinitionError, SkipTask, TaskRescheduled
from dagflow.operators import EmptyOperator
from dagflow.sdk.branch import BRANCH_XCOM_KEY
from dagflow.sdk.sensor import PokeReturnValue
from tests.unit.sdk.conftest import FakeBackend


def run(op: Any, backend: FakeBackend, make_ctx: Any) -> Any:
    """Render and execute ``op`` like the runner, storing its return value."""
    ctx = make_ctx(op)
    op.render_template_fields(ctx)
    result = op.execute(ctx)
    backend.xcoms[(op.task_id, -1, "return_value")] = result
    return result


def test_task_returns_xcomarg_and_wires_data(backend: FakeBackend, make_ctx: Any) -> None:
    with DAG("tf") as d:

        @task
        def extract() -> dict[str, int]:
            return {"a": 1, "b": 2}

        @task(retries=2)
        def transform(data: dict[str, int], factor: int = 1) -> int:
            return (data["a"] + data["b"]) * factor

        data = extract()
        total = transform(data, factor=10)
    assert isinstance(total, XComArg) and total.operator.task_id == "transform"
    assert d.get_task("transform").upstream_task_ids == {"extract"}
    assert d.get_task("transform").retries == 2
    assert d.get_task("extract").multiple_outputs is True  # inferred from the dict annotation
    run(d.get_task("extract"), backend, make_ctx)
    assert run(d.get_task("transform"), backend, make_ctx) == 30


def test_multiple_outputs_pushes_each_key(backend: FakeBackend, make_ctx: Any) -> None:
    with DAG("mo") as d:

        @task(multiple_outputs=True)
        def pair():
            return {"left": 1, "right": 2}

        @task
        def take(value: int) -> int:
            return value + 1

        out = pair()
        take(out["right"])
    run(d.get_task("pair"), backend, make_ctx)
    assert backend.xcoms[("pair", -1, "left")] == 1
    assert backend.xcoms[("pair", -1, "right")] == 2
    assert d.get_task("take").upstream_task_ids == {"pair"}
    assert run(d.get_task("take"), backend, make_ctx) == 3


def test_multiple_outputs_needs_a_dict(backend: FakeBackend, make_ctx: Any) -> None:
    with DAG("mo2") as d:

        @task(multiple_outputs=True)
        def notdict():
            return [1]

        notdict()
    with pytest.raises(TypeError, match="multiple_outputs"):
        run(d.get_task("notdict"), backend, make_ctx)


def test_task_ids_deduplicated_and_override() -> None:
    with DAG("dedup") as d:

        @task
        def step() -> None: ...

        step()
        step()
        step.override(task_id="named", retries=5)()
        step()
    assert d.task_ids == ["step", "step__1", "named", "step__2"]
    assert d.get_task("named").retries == 5


def test_context_injection_in_task(backend: FakeBackend, make_ctx: Any) -> None:
    with DAG("ctx") as d:

        @task
        def uses(ti=None, ds=None, **context):
            return (ti.task_id, ds, sorted(k for k in context if k in {"run_id", "params"}))

        uses()
    assert run(d.get_task("uses"), backend, make_ctx) == ("uses", "2024-03-05", ["params", "run_id"])


def test_xcomarg_dependency_via_rshift_and_iteration_error() -> None:
    with DAG("x") as d:

        @task
        def a() -> int:
            return 1

        first = a()
        tail = EmptyOperator(task_id="tail")
        first >> tail
        [EmptyOperator(task_id="head")] >> first
    assert tail.upstream_task_ids == {"a"}
    assert d.get_task("a").upstream_task_ids == {"head"}
    with pytest.raises(TypeError):
        list(first)


def test_bad_arguments_raise_at_parse_time() -> None:
    with DAG("bad"):

        @task
        def one(x: int) -> int:
            return x

        with pytest.raises(DagDefinitionError, match="one"):
            one(1, 2)


def test_task_branch_records_choice(backend: FakeBackend, make_ctx: Any) -> None:
    with DAG("br") as d:

        @task.branch
        def choose() -> str:
            return "left"

        c = choose()
        c >> [EmptyOperator(task_id="left"), EmptyOperator(task_id="right")]
    run(d.get_task("choose"), backend, make_ctx)
    assert backend.xcoms[("choose", -1, BRANCH_XCOM_KEY)] == {"followed": ["left"]}


def test_task_short_circuit(backend: FakeBackend, make_ctx: Any) -> None:
    with DAG("sc") as d:

        @task.short_circuit
        def gate() -> bool:
            return False

        @task.short_circuit(ignore_downstream_trigger_rules=False)
        def soft_gate() -> bool:
            return False

        @task.short_circuit(task_id="open_gate")
        def open_() -> bool:
            return True

        gate() >> EmptyOperator(task_id="a")
        soft_gate() >> EmptyOperator(task_id="b")
        open_() >> EmptyOperator(task_id="c")
    for tid in ("gate", "soft_gate", "open_gate"):
        run(d.get_task(tid), backend, make_ctx)
    assert backend.xcoms[("gate", -1, BRANCH_XCOM_KEY)] == {"followed": [], "all_descendants": True}
    assert backend.xcoms[("soft_gate", -1, BRANCH_XCOM_KEY)] == {"followed": []}
    assert ("open_gate", -1, BRANCH_XCOM_KEY) not in backend.xcoms


def test_task_bash_runs_returned_command(backend: FakeBackend, make_ctx: Any, capsys: Any) -> None:
    with DAG("tb") as d:

        @task.bash(env={"WHO": "world"})
        def hello(n: int) -> str:
            return f"echo first; echo hello $WHO {n} {{{{ ds }}}}"

        @task.bash
        def skipper() -> str:
            return "exit 99"

        hello(3)
        skipper()
    assert run(d.get_task("hello"), backend, make_ctx) == "hello world 3 2024-03-05"
    assert "first" in capsys.readouterr().out
    with pytest.raises(SkipTask):
        run(d.get_task("skipper"), backend, make_ctx)


def test_task_sensor(backend: FakeBackend, make_ctx: Any) -> None:
    calls: list[int] = []
    with DAG("ts") as d:

        @task.sensor(poke_interval=0.01, timeout=5)
        def ready() -> PokeReturnValue:
            calls.append(1)
            return PokeReturnValue(len(calls) >= 3, xcom_value="done")

        @task.sensor(poke_interval=30, timeout=60, mode="reschedule")
        def later() -> bool:
            return False

        ready()
        later()
    assert run(d.get_task("ready"), backend, make_ctx) == "done" and len(calls) == 3
    assert d.get_task("ready").is_sensor
    with pytest.raises(TaskRescheduled):
        run(d.get_task("later"), backend, make_ctx)
