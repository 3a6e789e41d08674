"""Fakes and helpers to test DAGs, operators and plugins: ``run_dag``, ``FrozenClock``, ``InlineExecutor``, ``make_dag``.

    from dagflow.testing import FrozenClock, run_dag

    def test_my_dag():
        report = run_dag(my_dag, clock=FrozenClock())
        assert report.state == "success"
        assert report.task_states["load"] == "success"

``run_dag`` does what ``dagflow dags test`` does: it stores the DAG, creates a manual
run and drives it to its end through the scheduler's own loop, scoped to that run,
with an ``InlineExecutor`` (each try in its own forked process, through the real task
runner). The tries run the DAG object given, not a fresh import of its file: a DAG
built inside a test function works, and its folder counts as a DAG folder for that
run. With a ``FrozenClock``, waiting for a retry delay or a sensor's next poke moves
the clock instead of sleeping; the tasks themselves still see the wall clock.
Without ``settings`` and ``db`` the run uses a throwaway ``DAGFLOW_HOME`` with a fresh
SQLite database (migrating it takes a second or two: pass a migrated ``db`` to be quicker).

``import dagflow`` does not import this module (it loads the database layer).
"""

from __future__ import annotations

import os
import sys
import tempfile
from collections.abc import Callable, Iterable, Iterator, Mapping
from contextlib import ExitStack, contextmanager
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path
from typing import Any

import pendulum

from dagflow.config import Settings, in_dag_folders, load_settings
from dagflow.db import Database
from dagflow.execution.dag_cache import DagCache
from dagflow.executors.inline import InlineExecutor
from dagflow.operators import EmptyOperator, PythonOperator
from dagflow.scheduler.clock import Clock, FrozenClock, utc_clock
from dagflow.sdk.dag import DAG
from dagflow.services.dag_test import test_dag
from dagflow.services.database import migrate_fresh

__all__ = ["FrozenClock", "InlineExecutor", "RunReport", "make_dag", "run_dag"]

#: ``make_dag``'s default start date.
DEFAULT_START = pendulum.datetime(2024, 1, 1, tz="UTC")


@dataclass(frozen=True)
class RunReport:
    """A finished run: ``document`` is what ``dags test --output json`` prints (SPEC §3)."""

    document: dict[str, Any]

    @property
    def dag_id(self) -> str:
        """The DAG's id."""
        return str(self.document["dag_id"])

    @property
    def run_id(self) -> str:
        """The run's id."""
        return str(self.document["run_id"])

    @property
    def state(self) -> str:
        """``success`` or ``failed``."""
        return str(self.document["state"])

    @property
    def task_instances(self) -> list[dict[str, Any]]:
        """Every task instance, by task id and map index."""
        return list(self.document["task_instances"])

    @property
    def task_states(self) -> dict[str, Any]:
        """``task_id -> state``; a mapped task's value is the list of states by map index."""
        states: dict[str, Any] = {}
        for row in self.task_instances:
            if row["map_index"] < 0:
                states[row["task_id"]] = row["state"]
            else:
                states.setdefault(row["task_id"], []).append(row["state"])
        return states

    def ti(self, task_id: str, map_index: int = -1) -> dict[str, Any]:
        """One task instance's row (``state``, ``try_number``, ``end_reason``, …); ``KeyError`` if none."""
        for row in self.task_instances:
            if row["task_id"] == task_id and row["map_index"] == map_index:
                return row
        raise KeyError(f"no task instance {task_id!r} (map index {map_index}) in run {self.run_id!r}")


def run_dag(
    dag: DAG,
    *,
    settings: Settings | None = None,
    db: Database | None = None,
    logical_date: datetime | None = None,
    conf: Mapping[str, Any] | None = None,
    clock: Clock | None = None,
    fork: bool = True,
) -> RunReport:
    """Run ``dag`` once to its end, as ``dagflow dags test`` does (module docstring); the run's report.

    ``fork=False`` runs each try in this process (quicker, but a task can change the caller's
    state and a timeout cannot kill its child processes).
    """
    with ExitStack() as stack:
        if settings is None:
            settings = db.settings if db is not None else stack.enter_context(_temporary_home())
        if db is None:
            db = Database(settings)
            stack.callback(db.dispose)
        migrate_fresh(db)  # an entry point: a brand-new database gets its schema
        settings = _with_dag_folder(settings, dag)
        executor = InlineExecutor(settings, db=db, fork=fork, dag_cache=_HeldDags([dag]))
        states = test_dag(
            settings, db, dag, logical_date=logical_date, conf=conf, executor=executor, clock=clock or utc_clock
        )
    return RunReport(states.to_dict())


def make_dag(
    dag_id: str = "test_dag",
    edges: Iterable[tuple[str, str]] = (),
    *,
    callables: Mapping[str, Callable[..., Any]] | None = None,
    **dag_kwargs: Any,
) -> DAG:
    """A DAG wired by ``edges``: a ``PythonOperator`` for each id in ``callables``, an ``EmptyOperator`` for the rest.

    ``dag_kwargs`` go to ``DAG`` (default ``schedule=None``, ``start_date`` 2024-01-01 UTC).
    """
    callables = dict(callables or {})
    edges = list(edges)
    task_ids = list(dict.fromkeys([*callables, *(task_id for edge in edges for task_id in edge)]))
    dag_kwargs.setdefault("schedule", None)
    dag_kwargs.setdefault("start_date", DEFAULT_START)
    with DAG(dag_id, **dag_kwargs) as dag:
        tasks = {
            task_id: PythonOperator(task_id=task_id, python_callable=callables[task_id])
            if task_id in callables
            else EmptyOperator(task_id=task_id)
            for task_id in task_ids
        }
        for upstream, downstream in edges:
            tasks[upstream] >> tasks[downstream]
    dag.fileloc = os.path.abspath(sys._getframe(1).f_code.co_filename)  # the caller's file, not this one
    return dag


class _HeldDags(DagCache):
    """A DAG cache that answers with the DAG objects it holds, and imports DAG files for any other."""

    def __init__(self, dags: Iterable[DAG]) -> None:
        super().__init__()
        self._held = {dag.dag_id: dag for dag in dags}

    def get_dag(self, fileloc: str | Path, dag_id: str) -> Any:
        """The held DAG ``dag_id``, else the one defined in ``fileloc``."""
        held = self._held.get(dag_id)
        return held if held is not None else super().get_dag(fileloc, dag_id)


def _with_dag_folder(settings: Settings, dag: DAG) -> Settings:
    """``settings`` whose DAG folder holds the DAG's file (the task runner only runs DAGs from there)."""
    if not dag.fileloc or in_dag_folders(settings, dag.fileloc):
        return settings
    return settings.replace(core={"dags_folder": Path(dag.fileloc).resolve().parent})


@contextmanager
def _temporary_home() -> Iterator[Settings]:
    """Settings of a throwaway ``DAGFLOW_HOME`` (the process environment is not read)."""
    with tempfile.TemporaryDirectory(prefix="dagflow-testing-") as home:
        yield load_settings({"DAGFLOW_HOME": home}, home=Path(home))
