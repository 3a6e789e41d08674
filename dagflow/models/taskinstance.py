"""Task instances (one task, one run, one map index) and their try history."""

from __future__ import annotations

from datetime import datetime
from typing import TYPE_CHECKING, Any

import sqlalchemy as sa
from sqlalchemy.orm import Mapped, mapped_column, relationship

from dagflow.models.base import ID_LEN, Base, JSONText, TIStateType, UTCDateTime, utcnow
from dagflow.state import FINISHED, TaskInstanceState

if TYPE_CHECKING:
    from dagflow.models.dagrun import DagRun


class TaskInstance(Base):
    """One task in one DAG run (and one map index; ``-1`` when not mapped).

    ``state`` (NULL = ``none``) is written only by ``dagflow.models.transitions``.
    ``try_number`` counts tries actually started; ``max_tries`` is the last try number
    allowed by the task's retries. ``try_token`` is a fresh token per started try: the
    worker's lease, so a stale worker cannot write over a newer try.
    """

    __tablename__ = "task_instance"

    id: Mapped[int] = mapped_column(primary_key=True, autoincrement=True)
    dag_id: Mapped[str] = mapped_column(sa.String(ID_LEN))
    run_id: Mapped[str] = mapped_column(sa.String(ID_LEN))
    task_id: Mapped[str] = mapped_column(sa.String(ID_LEN))
    map_index: Mapped[int] = mapped_column(default=-1, server_default=sa.text("-1"))
    state: Mapped[TaskInstanceState] = mapped_column(TIStateType, nullable=True, default=TaskInstanceState.NONE)
    try_number: Mapped[int] = mapped_column(default=0, server_default=sa.text("0"))
    max_tries: Mapped[int] = mapped_column(default=0, server_default=sa.text("0"))
    start_date: Mapped[datetime | None] = mapped_column(UTCDateTime)
    end_date: Mapped[datetime | None] = mapped_column(UTCDateTime)
    duration: Mapped[float | None] = mapped_column(sa.Float)
    hostname: Mapped[str | None] = mapped_column(sa.String(1000))
    pid: Mapped[int | None] = mapped_column()
    try_token: Mapped[str | None] = mapped_column(sa.String(64))
    last_heartbeat: Mapped[datetime | None] = mapped_column(UTCDateTime)
    queue: Mapped[str] = mapped_column(sa.String(256), default="default", server_default="default")
    pool: Mapped[str] = mapped_column(sa.String(256), default="default_pool", server_default="default_pool")
    pool_slots: Mapped[int] = mapped_column(default=1, server_default=sa.text("1"))
    priority_weight: Mapped[int] = mapped_column(default=1, server_default=sa.text("1"))
    #: The highest ``priority_weight`` set on the task or the tasks its weight rule counts: queueing's first key.
    priority_tier: Mapped[int] = mapped_column(default=1, server_default=sa.text("1"))
    operator: Mapped[str | None] = mapped_column(sa.String(1000))
    queued_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    #: Executor-side id of the queued work (e.g. the Celery task id).
    external_executor_id: Mapped[str | None] = mapped_column(sa.String(250))
    #: The scheduler job that queued it (adopting orphans when a scheduler dies).
    queued_by_job_id: Mapped[int | None] = mapped_column()
    #: Times the stuck-in-queued check re-sent this try.
    requeue_count: Mapped[int] = mapped_column(default=0, server_default=sa.text("0"))
    scheduled_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    #: Not before this time: end of a retry delay or a sensor's reschedule date.
    next_try_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    #: Start of a reschedule-mode sensor's sequence of pokes (for its timeout).
    first_poke_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    executor_config: Mapped[dict[str, Any] | None] = mapped_column(JSONText)
    note: Mapped[str | None] = mapped_column(sa.Text)
    #: Why the last try ended, for people ("worker lost", "timed out after 2s", ...).
    end_reason: Mapped[str | None] = mapped_column(sa.Text)
    #: Tries lost to infrastructure (zombies) that did not use up the user's retries.
    infra_tries: Mapped[int] = mapped_column(default=0, server_default=sa.text("0"))
    #: Deferred: the trigger it waits for, when to give up, and where to resume (with the event).
    trigger_id: Mapped[int | None] = mapped_column(sa.ForeignKey("trigger.id", ondelete="SET NULL"), index=True)
    trigger_timeout: Mapped[datetime | None] = mapped_column(UTCDateTime)
    next_method: Mapped[str | None] = mapped_column(sa.String(1000))
    next_kwargs: Mapped[dict[str, Any] | None] = mapped_column(JSONText)
    updated_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow, onupdate=utcnow)

    dag_run: Mapped[DagRun] = relationship(back_populates="task_instances", lazy="select")

    __table_args__ = (
        sa.UniqueConstraint("dag_id", "run_id", "task_id", "map_index"),
        sa.ForeignKeyConstraint(["dag_id", "run_id"], ["dag_run.dag_id", "dag_run.run_id"], ondelete="CASCADE"),
        # Pools and queueing: scheduled/queued/running per pool; reaper: running rows.
        sa.Index("ix_task_instance_state_pool", "state", "pool"),
        # One run's task instances by state (the planner, finishing a run).
        sa.Index("ix_task_instance_dag_id_run_id_state", "dag_id", "run_id", "state"),
    )

    @property
    def is_finished(self) -> bool:
        """True when the state is one of ``dagflow.state.FINISHED``."""
        return self.state in FINISHED

    @property
    def key(self) -> tuple[str, str, str, int]:
        """``(dag_id, run_id, task_id, map_index)``."""
        return (self.dag_id, self.run_id, self.task_id, self.map_index)


class TaskInstanceHistory(Base):
    """One finished (or abandoned) try of a task instance and why it ended."""

    __tablename__ = "task_instance_history"

    id: Mapped[int] = mapped_column(primary_key=True, autoincrement=True)
    ti_id: Mapped[int] = mapped_column(sa.ForeignKey("task_instance.id", ondelete="CASCADE"), index=True)
    dag_id: Mapped[str] = mapped_column(sa.String(ID_LEN))
    run_id: Mapped[str] = mapped_column(sa.String(ID_LEN))
    task_id: Mapped[str] = mapped_column(sa.String(ID_LEN))
    map_index: Mapped[int] = mapped_column(default=-1, server_default=sa.text("-1"))
    try_number: Mapped[int] = mapped_column()
    state: Mapped[TaskInstanceState] = mapped_column(TIStateType, nullable=True)
    start_date: Mapped[datetime | None] = mapped_column(UTCDateTime)
    end_date: Mapped[datetime | None] = mapped_column(UTCDateTime)
    duration: Mapped[float | None] = mapped_column(sa.Float)
    hostname: Mapped[str | None] = mapped_column(sa.String(1000))
    pid: Mapped[int | None] = mapped_column()
    reason: Mapped[str | None] = mapped_column(sa.Text)
    recorded_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
