"""The soak's DAG file: fan-outs, chains, mapped tasks, retries, reschedule sensors, timeouts, long tasks.

Every task appends one ``start`` and one ``end`` line per execution to the ledger
(``O_APPEND``, one ``write`` each): ``kind dag run task map_index try pid epoch outcome``.
A reschedule-mode sensor's pokes are ``poke`` lines (a poke is not a try: rescheduling
never increases ``try_number``). What each task instance must end as is ``expected_state``.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

#: Task instances of one ``soak_mix`` run: start, 20 mapped, 5 chained, flaky, sensor, too_slow, end.
MIX_FAN = 20
MIX_CHAIN = 5
MIX_TIS = 1 + MIX_FAN + MIX_CHAIN + 3 + 1
#: Seconds a long task runs.
LONG_TASK_S = 10.0

DAG_SOURCE = """
import os, time
from datetime import datetime, timedelta
from dagflow import DAG, task
from dagflow.operators import PythonOperator
from dagflow.sensors import PythonSensor

LEDGER = {ledger!r}
MARKS = {marks!r}
DEFAULTS = {{"retries": 3, "retry_delay": timedelta(seconds=1)}}


def _line(kind, ti, outcome="-"):
    line = (f"{{kind}} {{ti.dag_id}} {{ti.run_id}} {{ti.task_id}} {{ti.map_index}} {{ti.try_number}} "
            f"{{os.getpid()}} {{time.time():.3f}} {{outcome}}\\n")
    fd = os.open(LEDGER, os.O_WRONLY | os.O_APPEND | os.O_CREAT, 0o644)
    try:
        os.write(fd, line.encode())
    finally:
        os.close(fd)


def _run(ti, seconds, fail_first=False):
    _line("start", ti)
    outcome = "error"
    try:
        if fail_first and ti.try_number == 1:
            raise RuntimeError("soak: this task fails its first try")
        time.sleep(seconds)
        outcome = "ok"
    finally:
        _line("end", ti, outcome)


def step(ti=None):
    _run(ti, 0.05)


@task
def fan(n, ti=None):
    _run(ti, 0.02 * (n % 5))


@task(retries=3, retry_delay=timedelta(seconds=1))
def flaky(ti=None):
    _run(ti, 0.05, fail_first=True)


@task(execution_timeout=timedelta(seconds=1), retries=0, allow_failure=True)
def too_slow(ti=None):
    _run(ti, 30)


@task
def long_task(ti=None):
    _run(ti, {long_s})


def ready(ti=None):
    _line("poke", ti)
    mark = os.path.join(MARKS, f"{{ti.run_id}}.{{ti.task_id}}")
    if os.path.exists(mark):
        return True
    open(mark, "w").close()
    return False


with DAG("soak_mix", schedule=None, max_active_runs=8, max_active_tasks=16, default_args=DEFAULTS):
    first = PythonOperator(task_id="start", python_callable=step)
    fanned = fan.expand(n=list(range({fan})))
    first >> fanned
    previous = fanned
    for i in range({chain}):
        link = PythonOperator(task_id=f"chain_{{i}}", python_callable=step)
        previous >> link
        previous = link
    sensor = PythonSensor(task_id="sensor", python_callable=ready, mode="reschedule", poke_interval=1, timeout=300)
    finish = PythonOperator(task_id="end", python_callable=step, trigger_rule="all_done")
    first >> [flaky(), sensor, too_slow()] >> finish
    previous >> finish


with DAG("soak_long", schedule=None, max_active_runs=4, default_args=DEFAULTS):
    long_task()
"""


def dag_source(ledger: str, marks: str) -> str:
    """The DAG file of a soak writing to ``ledger`` (sensor marks in ``marks``)."""
    return DAG_SOURCE.format(ledger=ledger, marks=marks, fan=MIX_FAN, chain=MIX_CHAIN, long_s=LONG_TASK_S)


@dataclass(frozen=True)
class Plan:
    """How many runs of each DAG make about ``tis`` task instances."""

    mix_runs: int
    long_runs: int

    @property
    def task_instances(self) -> int:
        """The task instances the plan creates."""
        return self.mix_runs * MIX_TIS + self.long_runs


def plan(tis: int) -> Plan:
    """A few long tasks (one per 300 task instances, at least one), the rest in ``soak_mix`` runs."""
    long_runs = max(1, tis // 300)
    return Plan(mix_runs=max(1, math.ceil((tis - long_runs) / MIX_TIS)), long_runs=long_runs)


def expected_state(task_id: str) -> str:
    """The final state the DAG implies for a task instance of ``task_id`` (faults or not)."""
    return "failed" if task_id == "too_slow" else "success"
