"""Task-instance and DAG-run states, their groups, and the one table of allowed transitions.

Persisted values are never renamed. ``TaskInstanceState.NONE`` is stored as SQL NULL.
Everything that changes a state goes through ``dagflow.models.transitions``, which checks
this table; a transition missing here is a bug and raises ``InvalidTransition``.
"""

from __future__ import annotations

from enum import Enum


class TaskInstanceState(str, Enum):
    """States of one task instance (one task, one run, one map index)."""

    NONE = "none"  # stored as NULL
    SCHEDULED = "scheduled"
    QUEUED = "queued"
    RUNNING = "running"
    SUCCESS = "success"
    FAILED = "failed"
    SKIPPED = "skipped"
    UPSTREAM_FAILED = "upstream_failed"
    UP_FOR_RETRY = "up_for_retry"
    UP_FOR_RESCHEDULE = "up_for_reschedule"
    RESTARTING = "restarting"
    REMOVED = "removed"
    DEFERRED = "deferred"

    def __str__(self) -> str:
        return self.value


class DagRunState(str, Enum):
    """States of one DAG run."""

    QUEUED = "queued"
    RUNNING = "running"
    SUCCESS = "success"
    FAILED = "failed"

    def __str__(self) -> str:
        return self.value


class DagRunType(str, Enum):
    """Why a DAG run exists; the prefix of its generated run id."""

    MANUAL = "manual"
    SCHEDULED = "scheduled"
    BACKFILL = "backfill"
    ASSET_TRIGGERED = "asset_triggered"

    def __str__(self) -> str:
        return self.value


class DagRunTriggeredByType(str, Enum):
    """Who or what created a DAG run (Airflow 3's ``DagRun.triggered_by``).

    Runs made by ``dags test`` (``TEST``) belong to the process that made them: schedulers
    neither start nor schedule them.
    """

    CLI = "cli"
    OPERATOR = "operator"
    REST_API = "rest_api"
    UI = "ui"
    TEST = "test"
    TIMETABLE = "timetable"
    ASSET = "asset"
    BACKFILL = "backfill"

    def __str__(self) -> str:
        return self.value


class TriggerRule(str, Enum):
    """When a task may run, as a function of its direct upstream tasks' states."""

    ALL_SUCCESS = "all_success"
    ALL_FAILED = "all_failed"
    ALL_DONE = "all_done"
    ALL_SKIPPED = "all_skipped"
    ONE_SUCCESS = "one_success"
    ONE_FAILED = "one_failed"
    ONE_DONE = "one_done"
    NONE_FAILED = "none_failed"
    NONE_FAILED_MIN_ONE_SUCCESS = "none_failed_min_one_success"
    NONE_SKIPPED = "none_skipped"
    ALL_DONE_MIN_ONE_SUCCESS = "all_done_min_one_success"
    ALL_DONE_SETUP_SUCCESS = "all_done_setup_success"
    ALWAYS = "always"

    def __str__(self) -> str:
        return self.value


TI = TaskInstanceState

#: A task instance in one of these states will not change again unless a person clears it.
FINISHED: frozenset[TaskInstanceState] = frozenset({TI.SUCCESS, TI.FAILED, TI.SKIPPED, TI.UPSTREAM_FAILED, TI.REMOVED})
#: Not finished, and not waiting for its dependencies: owned by an executor or a timer.
IN_FLIGHT: frozenset[TaskInstanceState] = frozenset({TI.SCHEDULED, TI.QUEUED, TI.RUNNING, TI.RESTARTING, TI.DEFERRED})
#: Waiting for time to pass before it is scheduled again.
WAITING: frozenset[TaskInstanceState] = frozenset({TI.UP_FOR_RETRY, TI.UP_FOR_RESCHEDULE})
#: Counted against pools, max_active_tasks and parallelism.
OCCUPYING_SLOT: frozenset[TaskInstanceState] = frozenset({TI.QUEUED, TI.RUNNING})
#: Not finished: the run is still going.
UNFINISHED: frozenset[TaskInstanceState] = frozenset(set(TI) - FINISHED)
#: Final states a worker may record at the end of a try.
TRY_OUTCOMES: frozenset[TaskInstanceState] = frozenset(
    {TI.SUCCESS, TI.FAILED, TI.SKIPPED, TI.UP_FOR_RETRY, TI.UP_FOR_RESCHEDULE, TI.DEFERRED}
)
#: States a person may set by hand (mark success / failed / skipped).
MARKABLE: frozenset[TaskInstanceState] = frozenset({TI.SUCCESS, TI.FAILED, TI.SKIPPED})
#: Ended well: satisfies ``depends_on_past`` and an SLA (Airflow's success states).
SUCCESS_LIKE: frozenset[TaskInstanceState] = frozenset({TI.SUCCESS, TI.SKIPPED})
#: Ended badly: what ``clear --only-failed`` and "retry failed" run again.
FAILED_LIKE: frozenset[TaskInstanceState] = frozenset({TI.FAILED, TI.UPSTREAM_FAILED})
#: How a try that failed ends: for good, or to be tried again.
FAILURE_OUTCOMES: frozenset[TaskInstanceState] = frozenset({TI.FAILED, TI.UP_FOR_RETRY})
#: Handed to an executor (or deferred): a run timeout stops these and marks them failed.
STARTED: frozenset[TaskInstanceState] = frozenset({TI.QUEUED, TI.RUNNING, TI.RESTARTING, TI.DEFERRED})
#: Not started, and not finished: a run timeout marks these skipped.
NOT_STARTED: frozenset[TaskInstanceState] = frozenset({TI.NONE, TI.SCHEDULED, TI.UP_FOR_RETRY, TI.UP_FOR_RESCHEDULE})
#: Not running on a worker now: a task instance whose task left the DAG may be marked removed.
NOT_YET_RUNNING: frozenset[TaskInstanceState] = frozenset(
    {TI.NONE, TI.SCHEDULED, TI.QUEUED, TI.UP_FOR_RETRY, TI.UP_FOR_RESCHEDULE}
)
#: On its way or waiting for a poke: an approval task in these still waits for a decision.
AWAITING_DECISION: frozenset[TaskInstanceState] = frozenset(
    {TI.SCHEDULED, TI.QUEUED, TI.RUNNING, TI.UP_FOR_RESCHEDULE, TI.DEFERRED}
)
#: What a clear moves to ``none`` directly (a running one is first told to stop: ``restarting``).
CLEARABLE: frozenset[TaskInstanceState] = frozenset(set(TI) - {TI.NONE, TI.RUNNING})

DAGRUN_FINISHED: frozenset[DagRunState] = frozenset({DagRunState.SUCCESS, DagRunState.FAILED})
DAGRUN_ACTIVE: frozenset[DagRunState] = frozenset({DagRunState.QUEUED, DagRunState.RUNNING})


#: from-state -> states it may move to. Who makes each move is noted on the right.
ALLOWED: dict[TaskInstanceState, frozenset[TaskInstanceState]] = {
    TI.NONE: frozenset(
        {TI.SCHEDULED, TI.SKIPPED, TI.UPSTREAM_FAILED, TI.REMOVED}  # planner
        | MARKABLE  # a person
    ),
    TI.SCHEDULED: frozenset(
        {TI.QUEUED, TI.NONE, TI.SKIPPED, TI.UPSTREAM_FAILED, TI.REMOVED}  # scheduler, clear, run timeout
        | MARKABLE
    ),
    TI.QUEUED: frozenset(
        {TI.RUNNING}  # worker claims the try
        | {TI.SCHEDULED, TI.FAILED, TI.UP_FOR_RETRY}  # stuck-queued check, executor refusal
        | {TI.NONE, TI.REMOVED}  # clear
        | MARKABLE
    ),
    TI.RUNNING: frozenset(
        TRY_OUTCOMES  # worker
        | {TI.RESTARTING}  # cleared while running
        | {TI.FAILED, TI.UP_FOR_RETRY}  # reaper (zombie), run timeout
    ),
    TI.SUCCESS: frozenset({TI.NONE} | MARKABLE),
    TI.FAILED: frozenset({TI.NONE} | MARKABLE),
    TI.SKIPPED: frozenset({TI.NONE} | MARKABLE),
    TI.UPSTREAM_FAILED: frozenset({TI.NONE} | MARKABLE),
    TI.UP_FOR_RETRY: frozenset({TI.SCHEDULED, TI.NONE, TI.REMOVED} | MARKABLE),
    TI.UP_FOR_RESCHEDULE: frozenset({TI.SCHEDULED, TI.NONE, TI.REMOVED} | MARKABLE),
    TI.RESTARTING: frozenset({TI.NONE, TI.UP_FOR_RETRY, TI.FAILED} | MARKABLE),
    TI.REMOVED: frozenset({TI.NONE}),
    TI.DEFERRED: frozenset({TI.SCHEDULED, TI.NONE, TI.FAILED} | MARKABLE),
}
# A person may mark any state; marking to the state it already has is not a transition.
for _state, _targets in ALLOWED.items():
    ALLOWED[_state] = frozenset(_targets - {_state})

DAGRUN_ALLOWED: dict[DagRunState, frozenset[DagRunState]] = {
    DagRunState.QUEUED: frozenset({DagRunState.RUNNING, DagRunState.SUCCESS, DagRunState.FAILED}),
    DagRunState.RUNNING: frozenset({DagRunState.SUCCESS, DagRunState.FAILED, DagRunState.QUEUED}),
    DagRunState.SUCCESS: frozenset({DagRunState.QUEUED, DagRunState.FAILED, DagRunState.RUNNING}),
    DagRunState.FAILED: frozenset({DagRunState.QUEUED, DagRunState.SUCCESS, DagRunState.RUNNING}),
}


def is_allowed(old: TaskInstanceState, new: TaskInstanceState) -> bool:
    """True if a task instance may move from ``old`` to ``new``."""
    return new in ALLOWED[old]


def is_dagrun_allowed(old: DagRunState, new: DagRunState) -> bool:
    """True if a DAG run may move from ``old`` to ``new``."""
    return new in DAGRUN_ALLOWED[old]
