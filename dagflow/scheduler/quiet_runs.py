"""Runs whose last plan decided nothing: a pass skips planning them while their inputs read the same.

With thousands of running runs (a catchup of hundreds of DAGs), most have nothing to
decide on a given pass: their task is queued, running or waiting for a slot. Planning
each of them again on every full pass cost most of the scheduler's time. The planner is
pure (the serialized DAG, the task instances, branch decisions, map lengths, the tasks held
by ``depends_on_past`` and the switched-off tasks in; decisions out) and reads the clock
only to see whether a retry or a reschedule is due, which it reports as ``next_wakeup``.
So a run whose inputs read exactly as when its plan was last empty needs no plan until
that time; its task instances are still read on every pass (the key is built from them).

Only an *empty* plan is remembered, not one whose compare-and-set found nothing to change
(another scheduler may have applied it, and a later ``clear`` may bring the same rows back).
A process-wide memo like ``run_scheduling``'s: the key holds everything the plan depends
on, so which scheduler (or test) remembered it does not matter.
"""

from __future__ import annotations

import json
from collections import OrderedDict
from collections.abc import Collection, Hashable, Iterable, Mapping
from datetime import datetime
from typing import Any

from dagflow.scheduler.planner import TISnapshot

#: Runs remembered at most, least recently planned dropped first (dags500 keeps 8 000 running;
#: a 5-task run's entry is ~1 KB; runs another scheduler finished linger until dropped).
MAX_QUIET_RUNS = 20_000

_QUIET: OrderedDict[int, tuple[Hashable, datetime | None]] = OrderedDict()


def plan_key(
    dag_hash: str,
    snapshots: Iterable[TISnapshot],
    *,
    branch_decisions: Mapping[str, Any],
    task_map: Mapping[str, int],
    past_not_met: Collection[str],
    switched_off: Mapping[str, str | None],
) -> Hashable:
    """Everything a run's plan depends on, as one hashable value (``now`` aside)."""
    return (
        dag_hash,
        frozenset(snapshots),
        json.dumps(branch_decisions, sort_keys=True, default=str) if branch_decisions else "",
        tuple(sorted(task_map.items())),
        frozenset(past_not_met),
        tuple(sorted(switched_off.items(), key=lambda item: item[0])),
    )


def is_quiet(run_pk: int, key: Hashable, now: datetime) -> bool:
    """True if the run's last plan from exactly ``key`` was empty and its wake-up time has not come."""
    seen = _QUIET.get(run_pk)
    if seen is None or seen[0] != key:
        return False
    wake = seen[1]
    return wake is None or now < wake


def quiet_now(run_pk: int, now: datetime) -> bool:
    """True if the run's last plan was empty (from whatever key) and its wake-up time has not come."""
    seen = _QUIET.get(run_pk)
    return seen is not None and (seen[1] is None or now < seen[1])


def quiet_until(run_pk: int) -> datetime | None:
    """The wake-up time remembered with a quiet run (None: none)."""
    seen = _QUIET.get(run_pk)
    return None if seen is None else seen[1]


def remember(run_pk: int, key: Hashable, *, plan_empty: bool, next_wakeup: datetime | None) -> None:
    """Record the outcome of planning a run from ``key`` (only an empty plan makes it quiet)."""
    if not plan_empty:
        _QUIET.pop(run_pk, None)
        return
    _QUIET[run_pk] = (key, next_wakeup)
    _QUIET.move_to_end(run_pk)
    while len(_QUIET) > MAX_QUIET_RUNS:
        _QUIET.popitem(last=False)


def forget(run_pk: int) -> None:
    """Drop a run (it finished or timed out)."""
    _QUIET.pop(run_pk, None)
