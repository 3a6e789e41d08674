"""``DbRuntimeBackend``: the ``RuntimeBackend`` of ``dagflow.sdk.runtime`` on the metadata DB.

Installed by the runner for the duration of a try. Each call is a short transaction of
its own. Variables and connections are decrypted here, and each secret read is
registered with the try's ``SecretsMasker`` so it never reaches the task log in clear. Approvals use a documented convention: an XCom with key ``__approval__`` on
the approval task instance, value ``{"decision": "approved"|"rejected", "comment": …}``
(written by ``dagflow tasks approve``; kept across tries, unlike other XComs).
"""

from __future__ import annotations

import json
from collections.abc import Mapping, Sequence
from datetime import datetime
from typing import TYPE_CHECKING, Any

import pendulum
import sqlalchemy as sa
from sqlalchemy.orm import Session

from dagflow.exceptions import (
    ConnectionNotFound,
    DagNotFound,
    DagRunAlreadyExists,
    DagRunNotFound,
    VariableNotFound,
)
from dagflow.execution import xcom as xcom_rows
from dagflow.execution.claim import previous_success_interval
from dagflow.execution.events import RUN_QUEUED, publish
from dagflow.models.base import utcnow
from dagflow.models.clearing import clear_ti
from dagflow.models.connection import Connection, connection_uri
from dagflow.models.dag import SerializedDagModel
from dagflow.models.dagrun import DagRun
from dagflow.models.taskinstance import TaskInstance
from dagflow.models.transitions import set_dagrun_state
from dagflow.models.variable import Variable
from dagflow.sdk.ids import check_run_id
from dagflow.secrets.fernet import FernetCipher
from dagflow.secrets.masker import SecretsMasker
from dagflow.secrets.stored import register_connection, register_variable
from dagflow.serialization import deserialize_dag
from dagflow.serialization.params import validate_conf
from dagflow.state import DagRunState, DagRunTriggeredByType, DagRunType
from dagflow.storage import state_store
from dagflow.storage.internal import InternalStorage
from dagflow.timetables.factory import timetable_from_dict

if TYPE_CHECKING:
    from dagflow.config import Settings
    from dagflow.db import Database

APPROVAL_KEY = "__approval__"


class DbRuntimeBackend:
    """What a running task may ask of the system, answered from the metadata DB."""

    def __init__(
        self, db: Database, settings: Settings, *, dag_id: str, run_id: str, masker: SecretsMasker | None = None
    ) -> None:
        self.db = db
        self.settings = settings
        self.storage = InternalStorage(settings.storage.url, dag_id=dag_id, run_id=run_id)
        self.masker = masker if masker is not None else SecretsMasker(settings.core.sensitive_var_conn_names)
        self.cipher = FernetCipher(settings)

    # XCom ---------------------------------------------------------------------------
    def xcom_push(self, *, dag_id: str, run_id: str, task_id: str, map_index: int, key: str, value: Any) -> None:
        """Store one XCom value (large values go to internal storage)."""
        stored = self.encode_xcom(value, dag_id=dag_id, run_id=run_id, task_id=task_id, map_index=map_index, key=key)
        with self.db.transaction() as session:
            xcom_rows.write_xcom(
                session, dag_id=dag_id, run_id=run_id, task_id=task_id, map_index=map_index, key=key, stored=stored
            )

    def encode_xcom(self, value: Any, *, dag_id: str, run_id: str, task_id: str, map_index: int, key: str) -> Any:
        """The row form of ``value`` (moving it to storage when too large)."""
        return xcom_rows.encode(
            value,
            key=key,
            task_id=task_id,
            map_index=map_index,
            storage=self.storage.for_run(dag_id, run_id),
            max_size=self.settings.core.max_xcom_size,
        )

    def xcom_pull(
        self,
        *,
        dag_id: str,
        run_id: str,
        task_ids: str | Sequence[str],
        key: str,
        map_indexes: int | Sequence[int] | None,
    ) -> Any:
        """A value, a list over a mapped task's indexes, or a list per task id; missing -> None."""
        if isinstance(task_ids, str):
            return self._pull_one(dag_id, run_id, task_ids, key, map_indexes)
        return [self._pull_one(dag_id, run_id, t, key, map_indexes) for t in task_ids]

    def _pull_one(
        self, dag_id: str, run_id: str, task_id: str, key: str, map_indexes: int | Sequence[int] | None
    ) -> Any:
        wanted = [map_indexes] if isinstance(map_indexes, int) else map_indexes
        with self.db.transaction(readonly=True) as session:
            rows = xcom_rows.read_xcoms(
                session, dag_id=dag_id, run_id=run_id, task_id=task_id, key=key, map_indexes=wanted
            )
            mapped = map_indexes is None and xcom_rows.is_mapped(session, dag_id=dag_id, run_id=run_id, task_id=task_id)
        storage = self.storage.for_run(dag_id, run_id)
        if isinstance(map_indexes, int) or (map_indexes is None and not mapped):
            index = map_indexes if isinstance(map_indexes, int) else -1
            return xcom_rows.decode(rows[index], storage=storage) if index in rows else None
        order = list(wanted) if wanted is not None else sorted(i for i in rows if i >= 0)
        return [xcom_rows.decode(rows[i], storage=storage) if i in rows else None for i in order]

    # Variables and connections ------------------------------------------------------
    def get_variable(self, key: str, *, deserialize_json: bool = False) -> Any:
        """A variable's value (parsed as JSON when asked); ``VariableNotFound`` if missing."""
        with self.db.transaction(readonly=True) as session:
            row = session.get(Variable, key)
            if row is None:
                raise VariableNotFound(f"variable {key!r} does not exist")
            value = row.get_val(self.cipher)
        register_variable(self.masker, key, value)
        return json.loads(value) if deserialize_json and value is not None else value

    def get_connection(self, conn_id: str) -> Mapping[str, Any]:
        """A connection as a mapping; ``ConnectionNotFound`` if missing."""
        with self.db.transaction(readonly=True) as session:
            row = session.get(Connection, conn_id)
            if row is None:
                raise ConnectionNotFound(f"connection {conn_id!r} does not exist")
            password, extra = row.get_password(self.cipher), row.get_extra(self.cipher)
            fields = {
                "conn_id": row.conn_id,
                "conn_type": row.conn_type,
                "host": row.host,
                "port": row.port,
                "login": row.login,
                "password": password,
                "schema": row.schema,
                "extra": extra,
                "uri": connection_uri(
                    conn_type=row.conn_type,
                    host=row.host,
                    schema=row.schema,
                    login=row.login,
                    password=password,
                    port=row.port,
                    extra=extra,
                ),
                "description": row.description,
            }
        register_connection(self.masker, password, extra)
        return fields

    # State store --------------------------------------------------------------------
    def state_get(self, key: str, *, namespace: str, default: Any) -> Any:
        """A value from the state store, or ``default``."""
        with self.db.transaction(readonly=True) as session:
            return state_store.get_value(session, key, namespace=namespace, default=default)

    def state_set(
        self,
        key: str,
        value: Any,
        *,
        namespace: str,
        expected_version: int | None = None,
        expires_at: datetime | None = None,
    ) -> int:
        """Store a JSON value in the state store; the new version (compare-and-set with ``expected_version``)."""
        with self.db.transaction() as session:
            return state_store.set_value(
                session, key, value, namespace=namespace, expected_version=expected_version, expires_at=expires_at
            )

    def state_get_versioned(self, key: str, *, namespace: str) -> tuple[Any, int]:
        """``(value, version)`` or ``(None, 0)``."""
        with self.db.transaction(readonly=True) as session:
            return state_store.get_versioned(session, key, namespace=namespace)

    def state_list(self, *, namespace: str, prefix: str) -> list[str]:
        """Keys of ``namespace`` starting with ``prefix``."""
        with self.db.transaction(readonly=True) as session:
            return state_store.list_keys(session, namespace=namespace, prefix=prefix)

    def state_delete(self, key: str, *, namespace: str) -> None:
        """Delete a key from the state store (no error if missing)."""
        with self.db.transaction() as session:
            state_store.delete_value(session, key, namespace=namespace)

    # Other DAGs ---------------------------------------------------------------------
    def trigger_dag(
        self, dag_id: str, *, run_id: str | None, conf: Mapping[str, Any] | None, logical_date: datetime | None
    ) -> str:
        """Create a queued manual run of a known DAG (the scheduler creates its tasks); ``InvalidConf`` first."""
        when = pendulum.instance(logical_date or utcnow()).in_timezone("UTC")
        run_id = check_run_id(run_id) if run_id else f"{DagRunType.MANUAL.value}__{when.isoformat()}"
        with self.db.transaction() as session:
            serialized = session.get(SerializedDagModel, dag_id)
            if serialized is None:
                raise DagNotFound(f"DAG {dag_id!r} is not known (not parsed yet?)")
            validate_conf(deserialize_dag(serialized.data), conf)
            clash = session.execute(
                sa.select(DagRun.id).where(
                    DagRun.dag_id == dag_id,
                    sa.or_(DagRun.run_id == run_id, DagRun.logical_date == when),
                )
            ).first()
            if clash is not None:
                raise DagRunAlreadyExists(f"DAG {dag_id!r} already has a run {run_id!r} or at {when}")
            start, end = _manual_interval(serialized.data, when)
            session.add(
                DagRun(
                    dag_id=dag_id,
                    run_id=run_id,
                    logical_date=when,
                    run_type=DagRunType.MANUAL.value,
                    triggered_by=DagRunTriggeredByType.OPERATOR.value,
                    state=DagRunState.QUEUED,
                    queued_at=utcnow(),
                    data_interval_start=start,
                    data_interval_end=end,
                    conf=dict(conf or {}),
                    external_trigger=True,
                )
            )
        return run_id

    def reset_dag_run(self, dag_id: str, *, run_id: str | None, logical_date: datetime | None) -> str:
        """Airflow's ``reset_dag_run``: the run's task instances cleared, the run queued again.

        The run keeps its id, conf and logical date; a running task instance is marked
        ``restarting`` (its worker stops it), as ``tasks clear`` does. The schedulers are
        woken at commit.
        """
        with self.db.transaction() as session:
            run = _existing_run(session, dag_id, run_id, logical_date)
            serialized = session.get(SerializedDagModel, dag_id)
            tasks = deserialize_dag(serialized.data).tasks if serialized is not None else {}
            tis = session.scalars(
                sa.select(TaskInstance).where(TaskInstance.dag_id == dag_id, TaskInstance.run_id == run.run_id)
            )
            for ti in list(tis):
                task = tasks.get(ti.task_id)
                clear_ti(session, ti, retries=task.retries if task is not None else None)
            if run.state is not DagRunState.QUEUED:
                values = {"start_date": None, "end_date": None, "last_scheduling_decision": None}
                set_dagrun_state(session, run.id, to=DagRunState.QUEUED, expected=[run.state], values=values)
            publish(session, RUN_QUEUED, dag_id=dag_id, run_id=run.run_id)
            return run.run_id

    def dag_run_state(self, dag_id: str, run_id: str) -> str | None:
        """The state of a DAG run, or None if it does not exist."""
        with self.db.transaction(readonly=True) as session:
            state = session.scalar(sa.select(DagRun.state).where(DagRun.dag_id == dag_id, DagRun.run_id == run_id))
        return None if state is None else str(state)

    def external_task_states(self, dag_id: str, task_id: str | None, *, logical_date: datetime) -> list[str]:
        """States of the task's instances in the run at ``logical_date`` (or the run's state)."""
        with self.db.transaction(readonly=True) as session:
            run = session.execute(
                sa.select(DagRun.run_id, DagRun.state).where(
                    DagRun.dag_id == dag_id, DagRun.logical_date == logical_date
                )
            ).first()
            if run is None:
                return []
            if task_id is None:
                return [str(run.state)]
            states = session.scalars(
                sa.select(TaskInstance.state)
                .where(
                    TaskInstance.dag_id == dag_id,
                    TaskInstance.run_id == run.run_id,
                    TaskInstance.task_id == task_id,
                )
                .order_by(TaskInstance.map_index)
            )
            return [str(s) for s in states]

    def previous_success_interval(self, dag_id: str, logical_date: datetime) -> tuple[datetime | None, datetime | None]:
        """Data interval of the latest successful run before ``logical_date`` (or Nones)."""
        with self.db.transaction(readonly=True) as session:
            return previous_success_interval(session, dag_id, logical_date)

    # Approvals ----------------------------------------------------------------------
    def approval(self, *, dag_id: str, run_id: str, task_id: str, map_index: int) -> tuple[str, str | None] | None:
        """``(decision, comment)`` from the ``__approval__`` XCom, or None while undecided."""
        value = self._pull_one(dag_id, run_id, task_id, APPROVAL_KEY, map_index)
        if not isinstance(value, dict) or value.get("decision") not in ("approved", "rejected"):
            return None
        return str(value["decision"]), value.get("comment")


def _existing_run(session: Session, dag_id: str, run_id: str | None, logical_date: datetime | None) -> DagRun:
    """The run of ``dag_id`` with ``run_id``, else the one at ``logical_date``; ``DagRunNotFound`` if neither."""
    when = pendulum.instance(logical_date).in_timezone("UTC") if logical_date is not None else None
    for condition in (
        DagRun.run_id == run_id if run_id else None,
        DagRun.logical_date == when if when is not None else None,
    ):
        if condition is not None:
            run = session.scalars(sa.select(DagRun).where(DagRun.dag_id == dag_id, condition)).first()
            if run is not None:
                return run
    raise DagRunNotFound(f"DAG {dag_id!r} has no run {run_id!r} at {when}")


def _manual_interval(serialized: dict[str, Any], when: datetime) -> tuple[datetime, datetime]:
    """The data interval of a manual run at ``when`` under the DAG's timetable."""
    timetable = deserialize_dag(serialized).timetable
    if not timetable:
        return (when, when)
    data = {k: v for k, v in timetable.items() if k != "summary"}
    interval = timetable_from_dict(data).infer_manual_data_interval(run_after=when)
    return (interval.start, interval.end)
