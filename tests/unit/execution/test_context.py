"""The task context built for a claimed try: dates, params, var/conn accessors, ti."""

from __future__ import annotations

from datetime import datetime

import pendulum
import pytest

from dagflow import DAG, Param
from dagflow.config import Settings
from dagflow.db import Database
from dagflow.exceptions import ParamValidationError
from dagflow.execution.backend import DbRuntimeBackend
from dagflow.execution.context import build_context, date_values
from dagflow.execution.runtime_ti import RuntimeTaskInstance
from dagflow.models.connection import Connection
from dagflow.models.variable import Variable
from dagflow.operators import EmptyOperator
from dagflow.sdk import runtime

from ._rows import LOGICAL_DATE, add_run, claimed


def make_context(
    db: Database, *, conf: dict | None = None, params: dict | None = None, settings: Settings | None = None
) -> dict:
    add_run(db, conf=conf)
    with DAG(
        "d",
        schedule=None,
        start_date=datetime(2024, 1, 1),
        params=params or {},
        user_defined_macros={"shout": str.upper},
    ) as dag:
        task = EmptyOperator(task_id="t")
    claim = claimed(db, "t")
    backend = DbRuntimeBackend(db, db.settings, dag_id="d", run_id="r")
    ti = RuntimeTaskInstance(claim, task=task, backend=backend)
    return build_context(
        claim, dag=dag, task=task, ti=ti, backend=backend, storage=backend.storage, settings=settings or db.settings
    )


def test_dates_and_identity(db: Database) -> None:
    context = make_context(db)
    assert (context["ds"], context["ds_nodash"]) == ("2024-03-05", "20240305")
    assert context["ts"] == "2024-03-05T00:00:00+00:00" and context["ts_nodash"] == "20240305T000000"
    assert isinstance(context["logical_date"], pendulum.DateTime)
    assert context["data_interval_end"] == LOGICAL_DATE.add(days=1)
    assert context["prev_data_interval_start_success"] is None
    assert (context["run_id"], context["try_number"], context["map_index"]) == ("r", 1, -1)
    assert context["dag_run"].logical_date == LOGICAL_DATE and context["test_mode"] is False
    assert context["shout"]("x") == "X"
    ti = context["ti"]
    assert context["task_instance"] is ti
    assert (ti.dag_id, ti.task_id, ti.try_number, ti.max_tries, ti.hostname) == ("d", "t", 1, 0, "worker-1")
    assert context["storage"].run_id == "r"


def test_params_are_overridden_by_conf_and_validated(db: Database) -> None:
    params = {"name": "dagflow", "n": Param(1, type="integer")}
    context = make_context(db, conf={"n": 5, "extra": True}, params=params)
    assert context["params"] == {"name": "dagflow", "n": 5, "extra": True}


def test_conf_does_not_touch_params_when_dag_run_conf_overrides_params_is_off(db: Database) -> None:
    settings = db.settings.replace(core={"dag_run_conf_overrides_params": False})
    params = {"name": "dagflow", "n": Param(1, type="integer")}
    context = make_context(db, conf={"n": 5, "extra": True}, params=params, settings=settings)
    assert context["params"] == {"name": "dagflow", "n": 1}
    assert context["dag_run"].conf == {"n": 5, "extra": True}  # still there for the task to read


def test_invalid_conf_fails(db: Database) -> None:
    with pytest.raises(ParamValidationError):
        make_context(db, conf={"n": "five"}, params={"n": Param(1, type="integer")})


def test_var_and_conn_accessors_are_lazy(db: Database) -> None:
    context = make_context(db)
    with db.transaction() as session:
        session.add(Variable(key="greeting", val="hi"))
        session.add(Variable(key="cfg", val='{"a": [1]}'))
        session.add(Connection(conn_id="api", conn_type="http", host="example.org", extra='{"t": "1"}'))
    assert context["var"]["value"].greeting == "hi"
    assert context["var"]["json"].cfg == {"a": [1]}
    assert context["var"]["value"].get("missing", "dflt") == "dflt"
    conn = context["conn"].api
    assert (conn.host, conn.conn_type, conn.extra_dejson) == ("example.org", "http", {"t": "1"})
    assert context["conn"].get("missing") is None


def test_templates_render_with_the_context(db: Database) -> None:
    context = make_context(db, params={"name": "dagflow"})
    env = context["dag"].get_template_env()
    rendered = env.from_string("{{ ds }} {{ params.name }} {{ var.value.get('x', 'none') }}").render(**context)
    assert rendered == "2024-03-05 dagflow none"


def test_ti_xcom_push_and_pull(db: Database) -> None:
    context = make_context(db)
    ti = context["ti"]
    with runtime.installed(ti._backend):
        ti.xcom_push("k", [1])
        assert ti.xcom_pull(key="k") == [1]
        assert ti.xcom_pull(task_ids="t", key="k") == [1]
        assert ti.xcom_pull(task_ids="other", default="d") == "d"


def test_date_values_converts_to_utc() -> None:
    values = date_values(pendulum.datetime(2024, 3, 5, 1, tz="Europe/Paris"))
    assert values["ds"] == "2024-03-05" and values["ts"] == "2024-03-05T00:00:00+00:00"
