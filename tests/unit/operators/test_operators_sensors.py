from __future__ import annotations

import time
from datetime import timedelta
from typing import Any

import pendulum
import pytest

from dagflow import DAG
from dagflow.exceptions import DagDefinitionError, FailTask, SensorTimeout, SkipTask, TaskRescheduled
from dagflow.sensors import (
    BaseSensorOperator,
    ExternalTaskSensor,
    FileSensor,
    PokeReturnValue,
    PythonSensor,
    TimeDeltaSensor,
)
from tests.unit.sdk.conftest import FakeBackend


def run(op: Any, make_ctx: Any, **extra: Any) -> Any:
    ctx = make_ctx(op, **extra)
    op.render_template_fields(ctx)
    return op.execute(ctx)


class Counter(BaseSensorOperator):
    def __init__(self, *, needed: int, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self.needed = needed
        self.pokes = 0

    def poke(self, context: Any) -> bool:
        self.pokes += 1
        return self.pokes >= self.needed


def test_poke_mode_loops_until_done(make_ctx: Any) -> None:
    sensor = Counter(task_id="c", needed=3, poke_interval=0.01, timeout=5)
    assert run(sensor, make_ctx) is None and sensor.pokes == 3


def test_poke_mode_timeout_fails_or_soft_fails(make_ctx: Any) -> None:
    hard = Counter(task_id="hard", needed=10**6, poke_interval=0.05, timeout=0.2)
    started = time.monotonic()
    with pytest.raises(SensorTimeout, match="timed out"):
        run(hard, make_ctx)
    assert time.monotonic() - started < 2
    assert isinstance(SensorTimeout("x"), FailTask)  # no retries
    soft = PythonSensor(task_id="soft", python_callable=lambda: False, poke_interval=0.05, timeout=0.2, soft_fail=True)
    with pytest.raises(SkipTask, match="soft_fail"):
        run(soft, make_ctx)


def test_reschedule_mode_raises_rescheduled_with_next_poke(make_ctx: Any) -> None:
    sensor = Counter(task_id="r", needed=2, poke_interval=30, timeout=300, mode="reschedule")
    before = pendulum.now("UTC")
    with pytest.raises(TaskRescheduled) as err:
        run(sensor, make_ctx)
    assert before + timedelta(seconds=29) <= err.value.reschedule_date <= pendulum.now("UTC") + timedelta(seconds=31)
    assert run(sensor, make_ctx, first_poke_at=before) is None


def test_reschedule_timeout_measured_from_first_poke(make_ctx: Any) -> None:
    long_ago = pendulum.now("UTC") - timedelta(seconds=100)
    sensor = PythonSensor(task_id="r", python_callable=lambda: False, timeout=60, mode="reschedule", soft_fail=True)
    with pytest.raises(SkipTask):
        run(sensor, make_ctx, first_poke_at=long_ago)
    hard = PythonSensor(task_id="h", python_callable=lambda: False, timeout=60, mode="reschedule")
    with pytest.raises(SensorTimeout):
        run(hard, make_ctx, first_poke_at=long_ago)
    recent = pendulum.now("UTC") - timedelta(seconds=10)
    with pytest.raises(TaskRescheduled):
        run(hard, make_ctx, first_poke_at=recent)


def test_exponential_backoff_is_capped() -> None:
    sensor = Counter(task_id="b", needed=1, poke_interval=1, exponential_backoff=True, max_wait=5)
    assert [sensor.next_poke_interval(n, 0) for n in (1, 2, 3, 4)] == [1, 2, 4, 5]
    plain = Counter(task_id="p", needed=1, poke_interval="PT2S")
    assert plain.next_poke_interval(9, 0) == 2


def test_poke_return_value_becomes_the_xcom(make_ctx: Any) -> None:
    sensor = PythonSensor(task_id="v", python_callable=lambda ds: PokeReturnValue(True, ds), poke_interval=0.01)
    assert run(sensor, make_ctx) == "2024-03-05"


def test_bad_mode() -> None:
    with pytest.raises(DagDefinitionError, match="mode"):
        PythonSensor(task_id="m", python_callable=bool, mode="sometimes")


def test_time_delta_sensor(make_ctx: Any) -> None:
    sensor = TimeDeltaSensor(task_id="td", delta=timedelta(hours=1), poke_interval=0.01, timeout=0.05, soft_fail=True)
    assert sensor.poke(make_ctx(sensor, data_interval_end=pendulum.now("UTC") - timedelta(hours=2))) is True
    with pytest.raises(SkipTask):
        run(sensor, make_ctx, data_interval_end=pendulum.now("UTC"))


def test_file_sensor(make_ctx: Any, tmp_path: Any) -> None:
    with DAG("fs"):
        sensor = FileSensor(task_id="f", filepath=str(tmp_path) + "/{{ ds }}*.csv", poke_interval=0.01, timeout=0.05)
    ctx = make_ctx(sensor)
    sensor.render_template_fields(ctx)
    assert sensor.filepath.endswith("2024-03-05*.csv")
    assert sensor.poke(ctx) is False
    (tmp_path / "2024-03-05-data.csv").write_text("x")
    assert sensor.poke(ctx) is True
    folder = FileSensor(task_id="dir", filepath=str(tmp_path / "sub"))
    (tmp_path / "sub").mkdir()
    assert folder.poke(ctx) is False
    (tmp_path / "sub" / "x").write_text("x")
    assert folder.poke(ctx) is True


def test_external_task_sensor(make_ctx: Any, backend: FakeBackend) -> None:
    sensor = ExternalTaskSensor(
        task_id="ext", external_dag_id="other", external_task_id="load", failed_states=["failed"],
        execution_delta=timedelta(hours=1),
    )  # fmt: skip
    ctx = make_ctx(sensor)
    assert sensor.target_logical_date(ctx) == pendulum.datetime(2024, 3, 4, 23, tz="UTC")
    assert sensor.poke(ctx) is False
    backend.external[("other", "load")] = ["running"]
    assert sensor.poke(ctx) is False
    backend.external[("other", "load")] = ["success"]
    assert sensor.poke(ctx) is True
    backend.external[("other", "load")] = ["failed"]
    with pytest.raises(FailTask, match="failed state"):
        sensor.poke(ctx)
    whole_run = ExternalTaskSensor(task_id="run", external_dag_id="other")
    backend.external[("other", None)] = ["success"]
    assert whole_run.poke(ctx) is True
    with pytest.raises(DagDefinitionError):
        ExternalTaskSensor(task_id="x", external_dag_id="o", external_task_id="a", external_task_ids=["b"])
