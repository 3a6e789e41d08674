"""The ledger and the invariants checked after a soak, from the ledger and the metadata database.

- every task instance reached the final state its DAG implies (``workload.expected_state``);
- no try of a task instance ran twice (two ``start`` lines of one key and try);
- no two tries of one task instance overlapped in time, unless the earlier one was a
  try the reaper took from a frozen or lost worker (at-least-once, by design: counted apart);
- a successful task instance ended ``ok`` in the try the database says succeeded;
- every run finished ``success``, and no run was created twice;
- every try that did not succeed has its reason recorded (``task_instance_history``);
- each try that started has a log file.
"""

from __future__ import annotations

from collections import Counter, defaultdict
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import sqlalchemy as sa

from benchmarks.soak.workload import expected_state
from dagflow.db import Database
from dagflow.execution.logs import log_path
from dagflow.models import DagRun, TaskInstance, TaskInstanceHistory

Key = tuple[str, str, str, int]


@dataclass(frozen=True)
class Execution:
    """One ``start``/``end``/``poke`` line of the ledger."""

    kind: str
    key: Key
    try_number: int
    pid: int
    at: float
    outcome: str


def read_ledger(path: Path) -> list[Execution]:
    """Every line of the ledger (a half-written last line is skipped)."""
    found = []
    if not path.exists():
        return found
    for line in path.read_text().splitlines():
        parts = line.split()
        if len(parts) != 9:
            continue
        kind, dag_id, run_id, task_id, map_index, try_number, pid, at, outcome = parts
        key = (dag_id, run_id, task_id, int(map_index))
        found.append(Execution(kind, key, int(try_number), int(pid), float(at), outcome))
    return found


@dataclass
class Verdict:
    """What the checks found; ``broken`` lists every broken invariant (empty: all hold)."""

    task_instances: int = 0
    runs: int = 0
    executions: int = 0
    lost: list[str] = field(default_factory=list)
    doubled: list[str] = field(default_factory=list)
    overlapping: list[str] = field(default_factory=list)
    zombie_overlaps: int = 0
    wrong_state: list[str] = field(default_factory=list)
    runs_unfinished: list[str] = field(default_factory=list)
    runs_doubled: list[str] = field(default_factory=list)
    missing_reason: list[str] = field(default_factory=list)
    missing_log: list[str] = field(default_factory=list)

    @property
    def broken(self) -> dict[str, list[str]]:
        """Invariant -> examples, for each broken invariant."""
        named = {
            "lost": self.lost,
            "doubled": self.doubled,
            "overlapping": self.overlapping,
            "wrong final state": self.wrong_state,
            "run not finished": self.runs_unfinished,
            "run created twice": self.runs_doubled,
            "ended try without reason": self.missing_reason,
            "try without log": self.missing_log,
        }
        return {name: items[:10] for name, items in named.items() if items}

    def as_dict(self) -> dict[str, Any]:
        """For the JSON report."""
        return {
            "task_instances": self.task_instances,
            "runs": self.runs,
            "executions": self.executions,
            "lost": len(self.lost),
            "doubled": len(self.doubled),
            "overlapping": len(self.overlapping),
            "overlaps_of_reaped_tries": self.zombie_overlaps,
            "broken": self.broken,
        }


def check(db: Database, ledger: Path, log_folder: Path, *, expected_tis: int, expected_runs: int) -> Verdict:
    """Check every invariant (module docstring)."""
    verdict = Verdict()
    with db.transaction(readonly=True) as session:
        tis = session.execute(
            sa.select(
                TaskInstance.dag_id,
                TaskInstance.run_id,
                TaskInstance.task_id,
                TaskInstance.map_index,
                TaskInstance.state,
                TaskInstance.try_number,
            )
        ).all()
        runs = session.execute(sa.select(DagRun.dag_id, DagRun.run_id, DagRun.state)).all()
        history = session.execute(
            sa.select(
                TaskInstanceHistory.dag_id,
                TaskInstanceHistory.run_id,
                TaskInstanceHistory.task_id,
                TaskInstanceHistory.map_index,
                TaskInstanceHistory.try_number,
                TaskInstanceHistory.state,
                TaskInstanceHistory.reason,
            )
        ).all()
    executions = read_ledger(ledger)
    verdict.task_instances, verdict.runs, verdict.executions = len(tis), len(runs), len(executions)
    _check_states(verdict, tis, expected_tis)
    _check_runs(verdict, runs, expected_runs)
    reaped = {
        (h.dag_id, h.run_id, h.task_id, h.map_index, h.try_number)
        for h in history
        if h.reason and h.reason.startswith(("worker lost", "cleared while running"))
    }
    _check_executions(verdict, tis, executions, reaped)
    for h in history:
        if (h.state is None or h.state.value != "success") and not h.reason:
            verdict.missing_reason.append(f"{h.dag_id} {h.run_id} {h.task_id}[{h.map_index}] try {h.try_number}")
    for execution in executions:
        if execution.kind != "start":
            continue
        dag_id, run_id, task_id, map_index = execution.key
        path = log_path(
            log_folder,
            dag_id=dag_id,
            run_id=run_id,
            task_id=task_id,
            map_index=map_index,
            try_number=execution.try_number,
        )
        if not path.exists():
            verdict.missing_log.append(f"{' '.join(map(str, execution.key))} try {execution.try_number}")
    return verdict


def _check_states(verdict: Verdict, tis: list[Any], expected_tis: int) -> None:
    if len(tis) != expected_tis:
        verdict.lost.append(f"{len(tis)} task instances exist, the workload creates {expected_tis}")
    for ti in tis:
        state = ti.state.value if ti.state is not None else "none"
        want = expected_state(ti.task_id)
        if state != want:
            verdict.wrong_state.append(f"{ti.dag_id} {ti.run_id} {ti.task_id}[{ti.map_index}]: {state}, want {want}")


def _check_runs(verdict: Verdict, runs: list[Any], expected_runs: int) -> None:
    counts = Counter((r.dag_id, r.run_id) for r in runs)
    verdict.runs_doubled += [f"{dag} {run}" for (dag, run), n in counts.items() if n > 1]
    if len(counts) != expected_runs:
        verdict.lost.append(f"{len(counts)} runs exist, {expected_runs} were triggered")
    verdict.runs_unfinished += [f"{r.dag_id} {r.run_id}: {r.state.value}" for r in runs if r.state.value != "success"]


def _check_executions(verdict: Verdict, tis: list[Any], executions: list[Execution], reaped: set[Any]) -> None:
    starts: dict[tuple[Key, int], list[Execution]] = defaultdict(list)
    ends: dict[tuple[Key, int], list[Execution]] = defaultdict(list)
    for e in executions:
        if e.kind == "start":
            starts[(e.key, e.try_number)].append(e)
        elif e.kind == "end":
            ends[(e.key, e.try_number)].append(e)
    verdict.doubled += [
        f"{' '.join(map(str, k))} try {n}: {len(v)} starts" for (k, n), v in starts.items() if len(v) > 1
    ]
    by_key: dict[Key, list[tuple[int, float, float | None]]] = defaultdict(list)
    for (key, try_number), found in starts.items():
        end = ends.get((key, try_number))
        by_key[key].append((try_number, found[0].at, end[0].at if end else None))
    for key, tries in by_key.items():
        tries.sort()
        for (n, _, end), (later, later_start, _) in zip(tries, tries[1:], strict=False):
            if end is not None and later_start < end:
                if (*key, n) in reaped:
                    verdict.zombie_overlaps += 1
                else:
                    verdict.overlapping.append(f"{' '.join(map(str, key))}: try {later} began before try {n} ended")
    for ti in tis:
        if ti.state is None or ti.state.value != "success":
            continue
        key = (ti.dag_id, ti.run_id, ti.task_id, ti.map_index)
        ok = [e for e in ends.get((key, ti.try_number), []) if e.outcome == "ok"]
        if ti.task_id != "sensor" and len(ok) != 1:
            verdict.lost.append(f"{' '.join(map(str, key))}: success in try {ti.try_number}, {len(ok)} ok ends")
