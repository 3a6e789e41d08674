from __future__ import annotations

from datetime import datetime, timedelta, timezone

import pendulum
import pytest

from dagflow import DAG, dag, task
from dagflow.exceptions import DagCycleError, DagDefinitionError, DuplicateTaskIdFound, TaskNotFound
from dagflow.operators import EmptyOperator
from dagflow.sdk import contexts


def test_dag_defaults_and_arguments() -> None:
    d = DAG(
        "d1",
        schedule="@daily",
        start_date=datetime(2024, 1, 1),
        dagrun_timeout="PT1H",
        tags=("a", "b"),
        max_active_runs=2,
        description="desc",
        is_paused_upon_creation=True,
    )
    assert d.dag_id == "d1"
    assert d.schedule == "@daily"
    assert d.dagrun_timeout == timedelta(hours=1)
    assert d.tags == ["a", "b"]
    assert d.max_active_runs == 2 and d.max_active_tasks == 16
    assert d.catchup is False
    assert d.description == "desc" and d.is_paused_upon_creation is True
    assert d.fileloc == __file__
    assert d.task_group.group_id is None


def test_naive_start_date_is_utc_and_aware_keeps_its_timezone() -> None:
    naive = DAG("naive", start_date=datetime(2024, 1, 1, 6))
    assert naive.timezone.name == "UTC"
    assert naive.start_date == pendulum.datetime(2024, 1, 1, 6, tz="UTC")
    assert naive.start_date.tzinfo is not None
    local = DAG("local", start_date=pendulum.datetime(2024, 1, 1, 6, tz="Europe/Paris"))
    assert local.timezone.name == "Europe/Paris"
    assert local.start_date == pendulum.datetime(2024, 1, 1, 5, tz="UTC")
    assert local.start_date.timezone_name == "UTC"
    fixed = DAG("fixed", start_date=datetime(2024, 1, 1, tzinfo=timezone(timedelta(hours=2))))
    assert fixed.start_date == pendulum.datetime(2023, 12, 31, 22, tz="UTC")


def test_start_date_from_default_args() -> None:
    d = DAG("d", default_args={"start_date": datetime(2024, 2, 1)})
    assert d.start_date == pendulum.datetime(2024, 2, 1, tz="UTC")


def test_invalid_dag_id() -> None:
    with pytest.raises(DagDefinitionError, match="dag_id"):
        DAG("bad id!")


def test_context_manager_collects_tasks_and_nests() -> None:
    with DAG("outer") as outer:
        a = EmptyOperator(task_id="a")
        with DAG("inner") as inner:
            b = EmptyOperator(task_id="b")
        c = EmptyOperator(task_id="c")
    assert contexts.current_dag() is None
    assert outer.task_ids == ["a", "c"] and inner.task_ids == ["b"]
    assert a.dag is outer and b.dag is inner and c.dag is outer
    assert outer.get_task("a") is a
    with pytest.raises(TaskNotFound):
        outer.get_task("b")


def test_duplicate_task_id() -> None:
    with DAG("dup"):
        EmptyOperator(task_id="x")
        with pytest.raises(DuplicateTaskIdFound, match="'x'"):
            EmptyOperator(task_id="x")


def test_roots_leaves_topological_sort() -> None:
    with DAG("g") as d:
        a, b, c, e = (EmptyOperator(task_id=t) for t in "abce")
        c >> b
        a >> b >> e
    assert [t.task_id for t in d.roots] == ["a", "c"]
    assert [t.task_id for t in d.leaves] == ["e"]
    order = [t.task_id for t in d.topological_sort()]
    assert order.index("a") < order.index("b") < order.index("e")
    assert order.index("c") < order.index("b")
    assert order == ["a", "c", "b", "e"]


def test_cycle_raises_naming_the_cycle_on_exit() -> None:
    with pytest.raises(DagCycleError) as err:
        with DAG("cyc"):
            a, b, c = (EmptyOperator(task_id=t) for t in "abc")
            a >> b >> c >> a
    assert "a -> b -> c -> a" in str(err.value)
    assert contexts.current_dag() is None


def test_self_loop_is_a_cycle() -> None:
    d = DAG("self")
    a = EmptyOperator(task_id="a", dag=d)
    a >> a
    with pytest.raises(DagCycleError, match="a -> a"):
        d.check_cycle()


def test_cycle_in_dag_decorator() -> None:
    @dag()
    def cyclic() -> None:
        @task
        def one() -> None: ...

        x = one()
        y = one()
        x >> y >> x

    with pytest.raises(DagCycleError, match="one -> one__1 -> one"):
        cyclic()


def test_dag_decorator_builds_dag_with_params_from_kwargs() -> None:
    @dag(schedule=None, start_date=datetime(2024, 1, 1), tags=["x"])
    def my_pipeline(limit: int = 5, name: str = "a") -> None:
        """Docs of the pipeline."""
        EmptyOperator(task_id="only")

    d = my_pipeline(limit=9)
    assert isinstance(d, DAG)
    assert d.dag_id == "my_pipeline"
    assert d.task_ids == ["only"]
    assert d.params["limit"] == 9 and d.params["name"] == "a"
    assert d.doc_md == "Docs of the pipeline."
    assert d.fileloc == __file__
    assert contexts.current_dag() is None


def test_dag_decorator_bare_and_custom_id() -> None:
    @dag
    def bare() -> None:
        EmptyOperator(task_id="t")

    @dag("custom_id")
    def other() -> None:
        EmptyOperator(task_id="t")

    assert bare().dag_id == "bare"
    assert other().dag_id == "custom_id"


def test_dag_param_resolves_in_task() -> None:
    from tests.unit.sdk.conftest import FakeBackend, make_context

    @dag()
    def with_param(n: int = 3) -> None:
        @task
        def show(value: int) -> int:
            return value * 2

        show(n)

    d = with_param()
    op = d.get_task("show")
    ctx = make_context(FakeBackend(), op, params={"n": 21})
    op.render_template_fields(ctx)
    assert op.execute(ctx) == 42


def test_owner_is_derived_from_tasks() -> None:
    with DAG("own") as d:
        EmptyOperator(task_id="a", owner="bob")
        EmptyOperator(task_id="b", owner="alice")
    assert d.owner == "alice, bob"


def test_timetable_is_built_lazily() -> None:
    d = DAG("tt", schedule="@daily", start_date=datetime(2024, 1, 1))
    tt = d.timetable
    assert tt is d.timetable
    assert type(tt).__name__ in {"CronTimetable", "CronDataIntervalTimetable"}


def test_creation_listeners_see_unnamed_dags() -> None:
    seen: list[DAG] = []
    DAG._creation_listeners.append(seen.append)
    try:
        with DAG("unnamed"):
            EmptyOperator(task_id="a")
    finally:
        DAG._creation_listeners.remove(seen.append)
    assert [d.dag_id for d in seen] == ["unnamed"]


def test_bad_schedule_fails_at_parse_time() -> None:
    with pytest.raises(DagDefinitionError, match="cron"):
        DAG("bad_cron", schedule="61 * * * *", start_date=datetime(2024, 1, 1))
    assert DAG("iso", schedule="PT30M", start_date=datetime(2024, 1, 1)).timetable is not None
