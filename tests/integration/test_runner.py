"""Real tries end to end: a migrated DB (SQLite, and PostgreSQL when reachable), a DAG file,
forked task processes. No mocks."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import threading
import time
import uuid
from datetime import timedelta
from pathlib import Path

import pendulum
import psutil
import pytest
import sqlalchemy as sa

from dagflow.db import Database
from dagflow.execution.claim import claim_try
from dagflow.execution.logs import read_log
from dagflow.execution.runner import run_workload
from dagflow.execution.workload import TaskWorkload
from dagflow.models.dag import DagModel
from dagflow.models.dagrun import DagRun
from dagflow.models.taskinstance import TaskInstance, TaskInstanceHistory
from dagflow.models.transitions import set_ti_state
from dagflow.models.xcom import TaskMap, XCom
from dagflow.state import DagRunState, TaskInstanceState

TI = TaskInstanceState

DAG_FILE = """
import logging, os, signal, subprocess
from datetime import datetime, timedelta
import pendulum
from dagflow.exceptions import FailTask, SkipTask, TaskRescheduled
from dagflow.sdk.baseoperator import BaseOperator
from dagflow.sdk.dag import DAG

MARK = "{mark}"
log = logging.getLogger("usercode")


class Fn(BaseOperator):
    template_fields = ("arg",)

    def __init__(self, *, fn, arg=None, **kw):
        super().__init__(**kw)
        self.fn, self.arg = fn, arg

    def execute(self, context):
        return self.fn(context, self.arg)


def ok(ctx, arg):
    print("printed", arg)
    log.info("info line %s", MARK)
    log.warning("warning line %s", MARK)
    return {{"ds": arg, "n": 3}}


def boom(ctx, arg):
    raise ValueError("boom")


def skip(ctx, arg):
    raise SkipTask("nothing to do")


def give_up(ctx, arg):
    raise FailTask("bad credentials")


def sleep_bash(ctx, arg):
    subprocess.run(["bash", "-c", f"sleep {{arg}}"])


def self_kill(ctx, arg):
    os.kill(os.getpid(), signal.SIGKILL)


def reschedule(ctx, arg):
    raise TaskRescheduled(pendulum.now("UTC") + timedelta(seconds=30))


def on_failure(ctx):
    with open(ctx["params"]["marker"], "w") as fh:
        fh.write(ctx["ds"] + " " + str(ctx["exception"]))


def exits(ctx, arg):
    raise SystemExit(3)


def big(ctx, arg):
    return list(range(20000))


def not_json(ctx, arg):
    return object()


def slow_callback(ctx):
    import time
    time.sleep(1.0)  # several heartbeats: the recorded try must not be killed as undead
    with open(ctx["params"]["marker"], "w") as fh:
        fh.write("slow callback done")


def on_success(ctx):
    from dagflow.sdk import runtime
    states = runtime.current().external_task_states("runner_it", "ok", logical_date=ctx["logical_date"])
    with open(ctx["params"]["marker"], "w") as fh:
        fh.write(ctx["ti"].task_id + " " + ",".join(states))


def stubborn(ctx, arg):
    import time
    try:
        time.sleep(30)
    except BaseException:
        time.sleep(30)


with DAG("runner_it", schedule=None, start_date=datetime(2024, 1, 1), params={{"marker": "{marker}"}}):
    Fn(task_id="ok", fn=ok, arg="{{{{ ds }}}}", multiple_outputs=True, on_success_callback=on_success)
    Fn(task_id="quiet", fn=ok, arg="x", log_level="WARNING")
    Fn(task_id="boom", fn=boom, arg="{{{{ ds }}}}", retries=2, retry_delay=timedelta(minutes=5))
    Fn(task_id="skip", fn=skip)
    Fn(task_id="give_up", fn=give_up, retries=3)
    Fn(task_id="slow", fn=sleep_bash, arg="30.{mark_num}", execution_timeout=timedelta(seconds=2))
    Fn(task_id="long", fn=sleep_bash, arg="60.{mark_num}")
    Fn(task_id="self_kill", fn=self_kill, arg="{{{{ ds }}}}", retries=1, retry_delay=timedelta(0),
       on_retry_callback=on_failure)
    Fn(task_id="poke", fn=reschedule)
    Fn(task_id="big", fn=big)
    Fn(task_id="exits", fn=exits)
    Fn(task_id="slow_callback", fn=ok, arg="x", on_success_callback=slow_callback)
    Fn(task_id="bad_template", fn=ok, arg="{{{{ nope.nope }}}}", on_failure_callback=on_failure)
    Fn(task_id="not_json", fn=not_json)
    Fn(task_id="stubborn", fn=stubborn, execution_timeout=timedelta(seconds=1))
"""

LOGICAL_DATE = pendulum.datetime(2024, 3, 5, tz="UTC")


class Harness:
    """A DAG file, one run of it, and helpers to queue and run its task instances."""

    def __init__(self, db: Database, tmp_path: Path) -> None:
        self.db = db
        self.settings = db.settings.replace(
            scheduler={"heartbeat_interval": 0.2}, core={"killed_task_cleanup_time": 1.0}
        )
        self.mark_num = uuid.uuid4().int % 10**6
        self.marker = tmp_path / "callback.txt"
        folder = db.settings.core.dags_folder
        folder.mkdir(parents=True, exist_ok=True)
        self.fileloc = (folder / f"runner_it_{self.mark_num}.py").resolve()
        self.fileloc.write_text(DAG_FILE.format(mark=uuid.uuid4().hex, mark_num=self.mark_num, marker=self.marker))
        self.run_id = "manual__it"
        self.set_fileloc(str(self.fileloc))
        with db.transaction() as session:
            session.add(
                DagRun(
                    dag_id="runner_it",
                    run_id=self.run_id,
                    logical_date=LOGICAL_DATE,
                    state=DagRunState.RUNNING,
                    data_interval_start=LOGICAL_DATE,
                    data_interval_end=LOGICAL_DATE + timedelta(days=1),
                )
            )

    def add_run(self, run_id: str, *, day: int) -> None:
        """Another run of the DAG (``day`` days after the first); the id as given, checked or not."""
        with self.db.transaction() as session:
            when = LOGICAL_DATE + timedelta(days=day)
            session.add(DagRun(dag_id="runner_it", run_id=run_id, logical_date=when, state=DagRunState.RUNNING))

    def set_fileloc(self, fileloc: str) -> None:
        """What the DAG processor recorded as the DAG's file (the worker loads only that)."""
        with self.db.transaction() as session:
            session.merge(DagModel(dag_id="runner_it", fileloc=fileloc))

    def queue(
        self, task_id: str, *, max_tries: int = 0, try_number: int = 0, run_id: str | None = None
    ) -> TaskWorkload:
        with self.db.transaction() as session:
            ti = TaskInstance(
                dag_id="runner_it",
                run_id=run_id or self.run_id,
                task_id=task_id,
                state=TI.QUEUED,
                max_tries=max_tries,
                try_number=try_number,
            )
            session.add(ti)
            session.flush()
            ti_id = ti.id
        return TaskWorkload(
            ti_id=ti_id,
            dag_id="runner_it",
            run_id=run_id or self.run_id,
            task_id=task_id,
            map_index=-1,
            try_number=try_number + 1,
        )

    def run(self, workload: TaskWorkload, **kw: object):
        return run_workload(workload, self.settings, db=self.db, **kw)

    def ti(self, ti_id: int) -> TaskInstance:
        with self.db.transaction() as session:
            ti = session.get(TaskInstance, ti_id)
            assert ti is not None
            session.expunge(ti)
            return ti

    def history(self, ti_id: int) -> list[TaskInstanceHistory]:
        with self.db.transaction() as session:
            rows = session.scalars(
                sa.select(TaskInstanceHistory)
                .where(TaskInstanceHistory.ti_id == ti_id)
                .order_by(TaskInstanceHistory.try_number)
            ).all()
            for row in rows:
                session.expunge(row)
            return list(rows)

    def xcoms(self, task_id: str) -> dict[str, object]:
        with self.db.transaction() as session:
            rows = session.execute(sa.select(XCom.key, XCom.value).where(XCom.task_id == task_id))
            return dict(rows.all())

    def log(self, task_id: str, try_number: int = 1) -> str:
        return read_log(
            self.settings.logging.base_log_folder,
            dag_id="runner_it",
            run_id=self.run_id,
            task_id=task_id,
            try_number=try_number,
        )

    def processes(self) -> list[psutil.Process]:
        found = []
        for proc in psutil.process_iter(["cmdline"]):
            cmdline = proc.info["cmdline"] or []
            ours = cmdline[:1] in (["sleep"], ["bash"]) and any(str(self.mark_num) in p for p in cmdline)
            if ours and proc.status() != psutil.STATUS_ZOMBIE:
                found.append(proc)
        return found


@pytest.fixture
def harness(db_any: Database, tmp_path: Path) -> Harness:
    return Harness(db_any, tmp_path)


def test_success_pushes_xcoms_history_log_and_runs_callback(harness: Harness) -> None:
    workload = harness.queue("ok")
    outcome = harness.run(workload)
    assert outcome.claimed and outcome.state is TI.SUCCESS
    ti = harness.ti(workload.ti_id)
    assert (ti.state, ti.try_number, ti.end_reason) == (TI.SUCCESS, 1, None)
    assert ti.end_date is not None and ti.duration is not None and ti.hostname
    assert harness.xcoms("ok") == {"return_value": {"ds": "2024-03-05", "n": 3}, "ds": "2024-03-05", "n": 3}
    with harness.db.transaction() as session:
        task_map = session.scalars(sa.select(TaskMap)).one()
        assert (task_map.length, task_map.keys) == (2, ["ds", "n"])
    assert [(h.try_number, h.state) for h in harness.history(workload.ti_id)] == [(1, TI.SUCCESS)]
    assert harness.marker.read_text() == "ok success"  # the callback ran after the commit
    text = harness.log("ok")
    assert "printed 2024-03-05" in text and "info line" in text and "marked success" in text


def test_a_slow_callback_is_not_killed_after_the_outcome_is_recorded(harness: Harness) -> None:
    outcome = harness.run(harness.queue("slow_callback"))
    assert outcome.state is TI.SUCCESS
    assert harness.marker.read_text() == "slow callback done"
    assert "[supervisor]" not in harness.log("slow_callback")


def test_failure_with_tries_left_is_up_for_retry_with_next_try_at(harness: Harness) -> None:
    workload = harness.queue("boom", max_tries=2)
    before = pendulum.now("UTC")
    outcome = harness.run(workload)
    assert outcome.state is TI.UP_FOR_RETRY and outcome.reason == "ValueError: boom"
    ti = harness.ti(workload.ti_id)
    assert ti.next_try_at is not None
    assert timedelta(minutes=4, seconds=59) < ti.next_try_at - before < timedelta(minutes=5, seconds=5)
    assert harness.history(workload.ti_id)[0].reason == "ValueError: boom"
    assert "Traceback" in harness.log("boom") and "ValueError: boom" in harness.log("boom")


def test_failure_on_last_try_is_failed(harness: Harness) -> None:
    workload = harness.queue("boom", max_tries=2, try_number=2)
    outcome = harness.run(workload)
    assert (outcome.state, outcome.try_number) == (TI.FAILED, 3)
    assert harness.ti(workload.ti_id).next_try_at is None


def test_skip_and_fail_task(harness: Harness) -> None:
    skipped = harness.run(harness.queue("skip"))
    assert skipped.state is TI.SKIPPED and "nothing to do" in (skipped.reason or "")
    failed = harness.run(harness.queue("give_up", max_tries=3))
    assert failed.state is TI.FAILED and failed.reason == "FailTask: bad credentials"


def test_reschedule_keeps_first_poke_and_spends_no_retry(harness: Harness) -> None:
    workload = harness.queue("poke")
    outcome = harness.run(workload)
    assert outcome.state is TI.UP_FOR_RESCHEDULE
    ti = harness.ti(workload.ti_id)
    assert ti.next_try_at is not None and ti.next_try_at > pendulum.now("UTC")
    assert ti.first_poke_at == ti.start_date and ti.max_tries == 0
    assert ti.try_number == 0  # handed back: the next poke is try 1 again (pokes are not tries)


def test_timeout_kills_the_whole_process_tree(harness: Harness) -> None:
    workload = harness.queue("slow")
    started = time.monotonic()
    outcome = harness.run(workload)
    took = time.monotonic() - started
    assert outcome.state is TI.FAILED and outcome.reason == "timed out after 2s"
    assert took < 4.5
    assert harness.processes() == []


def test_task_ignoring_its_timeout_is_killed_by_the_supervisor(harness: Harness) -> None:
    workload = harness.queue("stubborn")
    started = time.monotonic()
    outcome = harness.run(workload)
    assert time.monotonic() - started < 6.5  # timeout 1 s + grace 3 s + slack
    assert outcome.state is TI.FAILED
    assert outcome.reason == "timed out after 1s (killed by the supervisor)"


def test_task_marked_failed_by_a_person_is_killed_within_a_heartbeat(harness: Harness) -> None:
    workload = harness.queue("long")

    def mark_failed() -> None:
        deadline = time.monotonic() + 10
        while time.monotonic() < deadline and not harness.processes():
            time.sleep(0.05)
        with harness.db.transaction() as session:
            set_ti_state(
                session,
                [workload.ti_id],
                to=TI.FAILED,
                expected=[TI.RUNNING],
                values={"end_reason": "marked failed by alice"},
            )
        marked_at.append(time.monotonic())

    marked_at: list[float] = []
    person = threading.Thread(target=mark_failed)
    person.start()
    outcome = harness.run(workload)
    ended = time.monotonic()
    person.join()
    assert outcome.state is TI.FAILED and outcome.reason == "marked failed by alice"
    assert ended - marked_at[0] < 2.0  # heartbeat 0.2 s + cleanup grace 1 s
    assert harness.processes() == []
    (history,) = harness.history(workload.ti_id)  # the person's state stands; the try ended
    assert history.state is TI.FAILED and history.try_number == 1
    assert history.reason == ("stopped: the task instance was set to failed while it ran; marked failed by alice")


def test_task_process_killed_by_signal_is_recorded_with_reason(harness: Harness) -> None:
    workload = harness.queue("self_kill", max_tries=1)
    outcome = harness.run(workload)
    assert outcome.state is TI.UP_FOR_RETRY
    assert "signal 9" in (outcome.reason or "")
    assert "signal 9" in (harness.history(workload.ti_id)[0].reason or "")
    assert "signal 9" in harness.log("self_kill")
    assert harness.marker.read_text().startswith("2024-03-05 task process exited with signal 9")


WORKER = """
import sys
from dagflow.config import load_settings
from dagflow.execution.runner import run_workload
from dagflow.execution.workload import TaskWorkload
run_workload(TaskWorkload.from_dict(json.loads(sys.argv[1])), load_settings())
"""


def test_task_process_dies_with_its_killed_worker(harness: Harness) -> None:
    workload = harness.queue("long")
    env = {
        **os.environ,
        "DAGFLOW_HOME": str(harness.settings.home),
        "DAGFLOW__DATABASE__SQL_ALCHEMY_CONN": harness.settings.database.sql_alchemy_conn,
    }
    worker = subprocess.Popen([sys.executable, "-c", "import json\n" + WORKER, json.dumps(workload.to_dict())], env=env)
    try:
        deadline = time.monotonic() + 20
        while time.monotonic() < deadline and not harness.processes():
            time.sleep(0.05)
        assert harness.processes(), "the task never started"
        worker.kill()  # kill -9 of the worker: its supervisor is gone
        worker.wait()
        deadline = time.monotonic() + 5
        while time.monotonic() < deadline and harness.processes():
            time.sleep(0.1)
        assert harness.processes() == []
        assert harness.ti(workload.ti_id).state is TI.RUNNING  # for the reaper to find
    finally:
        worker.kill()
        for proc in harness.processes():
            proc.kill()


def test_second_claim_of_the_same_try_does_nothing(harness: Harness) -> None:
    workload = harness.queue("ok")
    assert claim_try(harness.db, workload) is not None
    assert claim_try(harness.db, workload) is None
    again = harness.run(workload)
    assert not again.claimed and again.state is TI.RUNNING
    assert harness.xcoms("ok") == {}


def test_stale_try_number_is_not_claimed(harness: Harness) -> None:
    workload = harness.queue("ok", try_number=1)
    stale = TaskWorkload(**{**workload.to_dict(), "try_number": 1})
    assert not harness.run(stale).claimed
    assert harness.run(workload).state is TI.SUCCESS


def test_log_file_per_try_honours_log_level(harness: Harness) -> None:
    workload = harness.queue("quiet")
    assert harness.run(workload).state is TI.SUCCESS
    text = harness.log("quiet")
    assert "warning line" in text and "info line" not in text
    assert Path(
        harness.settings.logging.base_log_folder,
        "dag_id=runner_it",
        f"run_id={harness.run_id}",
        "task_id=quiet",
        "attempt=1.log",
    ).exists()


def test_large_xcom_goes_to_storage_and_non_json_fails(harness: Harness) -> None:
    assert harness.run(harness.queue("big")).state is TI.SUCCESS
    stored = harness.xcoms("big")["return_value"]
    assert isinstance(stored, dict) and str(stored["__dagflow_xcom_ref__"]).startswith("dagflow://")
    bad = harness.run(harness.queue("not_json"))
    assert bad.state is TI.FAILED and (bad.reason or "").startswith("XComError")


def test_in_process_isolation_records_the_same_way(harness: Harness) -> None:
    workload = harness.queue("ok")
    outcome = harness.run(workload, fork=False)
    assert outcome.state is TI.SUCCESS
    assert harness.xcoms("ok")["n"] == 3
    assert "printed 2024-03-05" in harness.log("ok")
    failed = harness.run(harness.queue("boom", max_tries=0), fork=False)
    assert failed.state is TI.FAILED


@pytest.mark.parametrize("fork", [True, False])
def test_sys_exit_in_a_task_fails_the_try(harness: Harness, fork: bool) -> None:
    outcome = harness.run(harness.queue("exits"), fork=fork)
    assert outcome.state is TI.FAILED and outcome.reason == "SystemExit: 3"


def test_render_error_fails_the_try_and_failure_callback_gets_the_context(harness: Harness) -> None:
    outcome = harness.run(harness.queue("bad_template"))
    assert outcome.state is TI.FAILED and "nope" in (outcome.reason or "")
    assert harness.marker.read_text().startswith("2024-03-05 ")


def test_missing_dag_file_fails_the_try(harness: Harness) -> None:
    harness.set_fileloc(str(harness.fileloc) + ".missing")
    outcome = harness.run(harness.queue("ok"))
    assert outcome.state is TI.FAILED and "cannot load task" in (outcome.reason or "")
    assert os.path.exists(harness.fileloc)


EVIL_DAG = """
import pathlib
pathlib.Path({marker!r}).write_text("imported")
from datetime import datetime
from dagflow import DAG
from dagflow.operators import EmptyOperator
with DAG("runner_it", schedule=None, start_date=datetime(2024, 1, 1)):
    EmptyOperator(task_id="ok")
"""


def test_the_worker_loads_only_the_recorded_dag_file_and_only_under_the_dag_folders(
    harness: Harness, tmp_path: Path
) -> None:
    """The issue's attack: a file outside the DAG folders is never imported, whoever names it."""
    marker = tmp_path / "evil-ran"
    evil = tmp_path / "elsewhere" / "evil.py"
    evil.parent.mkdir()
    evil.write_text(EVIL_DAG.format(marker=str(marker)))
    message = {**harness.queue("ok").to_dict(), "fileloc": str(evil)}  # a message cannot choose the file
    outcome = harness.run(TaskWorkload.from_dict(message))
    assert outcome.state is TI.SUCCESS and not marker.exists()
    harness.set_fileloc(str(evil))  # nor can a row that names a file outside the DAG folders
    harness.add_run("r2", day=1)
    outcome = harness.run(harness.queue("ok", run_id="r2"))
    assert outcome.state is TI.FAILED and "not under the DAG folders" in (outcome.reason or "")
    assert not marker.exists()


def test_a_message_whose_key_does_not_match_the_row_claims_nothing(harness: Harness) -> None:
    workload = harness.queue("ok")
    for change in ({"task_id": "fails"}, {"run_id": "other"}, {"dag_id": "other"}, {"map_index": 0}):
        forged = TaskWorkload(**{**workload.to_dict(), **change})
        outcome = harness.run(forged)
        assert not outcome.claimed and outcome.state is TI.QUEUED
    assert harness.run(workload).state is TI.SUCCESS


def test_a_long_run_id_gets_a_log_and_a_bad_legacy_one_fails_the_try_instead_of_hanging(harness: Harness) -> None:
    long_id = "manual__" + "x" * 242
    harness.add_run(long_id, day=1)
    harness.add_run("legacy/../../escaped", day=2)  # written before ids were checked
    outcome = harness.run(harness.queue("ok", run_id=long_id))
    assert outcome.state is TI.SUCCESS
    log = read_log(harness.settings, dag_id="runner_it", run_id=long_id, task_id="ok", try_number=1)
    assert "success" in log  # the try's log was written, under a shortened folder name
    base = harness.settings.logging.base_log_folder.resolve()
    assert all(base in p.resolve().parents for p in base.rglob("*.log"))
    outcome = harness.run(harness.queue("ok", run_id="legacy/../../escaped"))
    assert outcome.state is TI.FAILED and "cannot write the try's log" in (outcome.reason or "")
    assert not (base.parent / "escaped").exists()
