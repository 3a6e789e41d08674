"""Initial schema: every dagflow table, and the default pool.

Revision ID: 0001
Revises:
Create Date: 2026-11-21

Plain SQLAlchemy types only (no imports from dagflow), so this file keeps meaning what
it meant when it was written. ``UTC_DATETIME`` is ``timestamptz`` on PostgreSQL and
naive UTC text on SQLite; JSON columns are text.
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0001"
down_revision: str | None = None
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

UTC_DATETIME = sa.DateTime(timezone=True)


def upgrade() -> None:
    """Apply this revision."""
    op.create_table(
        "backfill",
        sa.Column("id", sa.Integer(), autoincrement=True, nullable=False),
        sa.Column("dag_id", sa.String(length=250), nullable=False),
        sa.Column("from_date", UTC_DATETIME, nullable=False),
        sa.Column("to_date", UTC_DATETIME, nullable=False),
        sa.Column("reprocess_behavior", sa.String(length=20), nullable=False),
        sa.Column("max_active_runs", sa.Integer(), nullable=False),
        sa.Column("run_backwards", sa.Boolean(), server_default=sa.false(), nullable=False),
        sa.Column("dag_run_conf", sa.Text(), nullable=True),
        sa.Column("is_paused", sa.Boolean(), server_default=sa.false(), nullable=False),
        sa.Column("created_at", UTC_DATETIME, nullable=False),
        sa.Column("completed_at", UTC_DATETIME, nullable=True),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_backfill")),
    )
    op.create_index(op.f("ix_backfill_dag_id"), "backfill", ["dag_id"])

    op.create_table(
        "connection",
        sa.Column("conn_id", sa.String(length=250), nullable=False),
        sa.Column("conn_type", sa.String(length=500), nullable=False),
        sa.Column("host", sa.String(length=500), nullable=True),
        sa.Column("schema", sa.String(length=500), nullable=True),
        sa.Column("login", sa.Text(), nullable=True),
        sa.Column("password", sa.Text(), nullable=True),
        sa.Column("port", sa.Integer(), nullable=True),
        sa.Column("extra", sa.Text(), nullable=True),
        sa.Column("description", sa.Text(), nullable=True),
        sa.PrimaryKeyConstraint("conn_id", name=op.f("pk_connection")),
    )

    op.create_table(
        "dag",
        sa.Column("dag_id", sa.String(length=250), nullable=False),
        sa.Column("fileloc", sa.String(length=2000), nullable=True),
        sa.Column("is_paused", sa.Boolean(), server_default=sa.false(), nullable=False),
        sa.Column("is_active", sa.Boolean(), server_default=sa.true(), nullable=False),
        sa.Column("owners", sa.String(length=2000), nullable=True),
        sa.Column("description", sa.Text(), nullable=True),
        sa.Column("tags", sa.Text(), nullable=True),
        sa.Column("schedule_description", sa.String(length=1000), nullable=True),
        sa.Column("timetable_summary", sa.String(length=1000), nullable=True),
        sa.Column("max_active_runs", sa.Integer(), nullable=True),
        sa.Column("max_active_tasks", sa.Integer(), nullable=True),
        sa.Column("has_import_errors", sa.Boolean(), server_default=sa.false(), nullable=False),
        sa.Column("last_parsed_at", UTC_DATETIME, nullable=True),
        sa.Column("next_dagrun", UTC_DATETIME, nullable=True),
        sa.Column("next_dagrun_data_interval_start", UTC_DATETIME, nullable=True),
        sa.Column("next_dagrun_data_interval_end", UTC_DATETIME, nullable=True),
        sa.Column("next_dagrun_create_after", UTC_DATETIME, nullable=True),
        sa.PrimaryKeyConstraint("dag_id", name=op.f("pk_dag")),
    )
    op.create_index(op.f("ix_dag_fileloc"), "dag", ["fileloc"])
    op.create_index("ix_dag_next_dagrun_create_after", "dag", ["is_paused", "is_active", "next_dagrun_create_after"])

    op.create_table(
        "import_error",
        sa.Column("id", sa.Integer(), autoincrement=True, nullable=False),
        sa.Column("filename", sa.String(length=2000), nullable=False),
        sa.Column("lineno", sa.Integer(), nullable=True),
        sa.Column("message", sa.Text(), nullable=False),
        sa.Column("stacktrace", sa.Text(), nullable=True),
        sa.Column("timestamp", UTC_DATETIME, nullable=False),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_import_error")),
    )
    op.create_index(op.f("ix_import_error_filename"), "import_error", ["filename"])

    op.create_table(
        "job",
        sa.Column("id", sa.Integer(), autoincrement=True, nullable=False),
        sa.Column("job_type", sa.String(length=30), nullable=False),
        sa.Column("state", sa.String(length=20), nullable=False),
        sa.Column("hostname", sa.String(length=1000), nullable=True),
        sa.Column("pid", sa.Integer(), nullable=True),
        sa.Column("start_date", UTC_DATETIME, nullable=False),
        sa.Column("end_date", UTC_DATETIME, nullable=True),
        sa.Column("latest_heartbeat", UTC_DATETIME, nullable=False),
        sa.Column("executor_class", sa.String(length=500), nullable=True),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_job")),
    )
    op.create_index("ix_job_type_state_heartbeat", "job", ["job_type", "state", "latest_heartbeat"])

    op.create_table(
        "pool",
        sa.Column("name", sa.String(length=256), nullable=False),
        sa.Column("slots", sa.Integer(), nullable=False),
        sa.Column("description", sa.Text(), nullable=True),
        sa.Column("include_deferred", sa.Boolean(), server_default=sa.false(), nullable=False),
        sa.PrimaryKeyConstraint("name", name=op.f("pk_pool")),
    )

    op.create_table(
        "serialized_dag",
        sa.Column("dag_id", sa.String(length=250), nullable=False),
        sa.Column("fileloc", sa.String(length=2000), nullable=False),
        sa.Column("data", sa.Text(), nullable=False),
        sa.Column("dag_hash", sa.String(length=64), nullable=False),
        sa.Column("last_updated", UTC_DATETIME, nullable=False),
        sa.Column("processor_subdir", sa.String(length=2000), nullable=True),
        sa.PrimaryKeyConstraint("dag_id", name=op.f("pk_serialized_dag")),
    )
    op.create_index(op.f("ix_serialized_dag_fileloc"), "serialized_dag", ["fileloc"])

    op.create_table(
        "sla_miss",
        sa.Column("id", sa.Integer(), autoincrement=True, nullable=False),
        sa.Column("dag_id", sa.String(length=250), nullable=False),
        sa.Column("task_id", sa.String(length=250), nullable=False),
        sa.Column("run_id", sa.String(length=250), nullable=False),
        sa.Column("map_index", sa.Integer(), server_default=sa.text("-1"), nullable=False),
        sa.Column("logical_date", UTC_DATETIME, nullable=True),
        sa.Column("expected_by", UTC_DATETIME, nullable=False),
        sa.Column("detected_at", UTC_DATETIME, nullable=False),
        sa.Column("late_by_seconds", sa.Float(), nullable=False),
        sa.Column("notification_sent", sa.Boolean(), server_default=sa.false(), nullable=False),
        sa.Column("callback_ran", sa.Boolean(), server_default=sa.false(), nullable=False),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_sla_miss")),
        sa.UniqueConstraint("dag_id", "task_id", "run_id", name=op.f("uq_sla_miss_dag_id_task_id_run_id")),
    )
    op.create_index("ix_sla_miss_callback_ran", "sla_miss", ["callback_ran"])

    op.create_table(
        "state_store",
        sa.Column("namespace", sa.String(length=250), nullable=False),
        sa.Column("key", sa.String(length=512), nullable=False),
        sa.Column("value", sa.Text(), nullable=True),
        sa.Column("updated_at", UTC_DATETIME, nullable=False),
        sa.PrimaryKeyConstraint("namespace", "key", name=op.f("pk_state_store")),
    )

    op.create_table(
        "user",
        sa.Column("id", sa.Integer(), autoincrement=True, nullable=False),
        sa.Column("username", sa.String(length=256), nullable=False),
        sa.Column("password_hash", sa.String(length=512), nullable=False),
        sa.Column("role", sa.String(length=20), nullable=False),
        sa.Column("created_at", UTC_DATETIME, nullable=False),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_user")),
        sa.UniqueConstraint("username", name=op.f("uq_user_username")),
    )

    op.create_table(
        "variable",
        sa.Column("key", sa.String(length=250), nullable=False),
        sa.Column("val", sa.Text(), nullable=True),
        sa.Column("description", sa.Text(), nullable=True),
        sa.PrimaryKeyConstraint("key", name=op.f("pk_variable")),
    )

    op.create_table(
        "dag_run",
        sa.Column("id", sa.Integer(), autoincrement=True, nullable=False),
        sa.Column("dag_id", sa.String(length=250), nullable=False),
        sa.Column("run_id", sa.String(length=250), nullable=False),
        sa.Column("logical_date", UTC_DATETIME, nullable=False),
        sa.Column("run_type", sa.String(length=50), nullable=False),
        sa.Column("state", sa.String(length=20), nullable=False),
        sa.Column("queued_at", UTC_DATETIME, nullable=True),
        sa.Column("start_date", UTC_DATETIME, nullable=True),
        sa.Column("end_date", UTC_DATETIME, nullable=True),
        sa.Column("data_interval_start", UTC_DATETIME, nullable=True),
        sa.Column("data_interval_end", UTC_DATETIME, nullable=True),
        sa.Column("conf", sa.Text(), nullable=True),
        sa.Column("external_trigger", sa.Boolean(), server_default=sa.false(), nullable=False),
        sa.Column("backfill_id", sa.Integer(), nullable=True),
        sa.Column("has_soft_failures", sa.Boolean(), server_default=sa.false(), nullable=False),
        sa.Column("note", sa.Text(), nullable=True),
        sa.Column("last_scheduling_decision", UTC_DATETIME, nullable=True),
        sa.Column("creating_job_id", sa.Integer(), nullable=True),
        sa.Column("updated_at", UTC_DATETIME, nullable=False),
        sa.ForeignKeyConstraint(
            ["backfill_id"], ["backfill.id"], name=op.f("fk_dag_run_backfill_id_backfill"), ondelete="SET NULL"
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_dag_run")),
        sa.UniqueConstraint("dag_id", "logical_date", name=op.f("uq_dag_run_dag_id_logical_date")),
        sa.UniqueConstraint("dag_id", "run_id", name=op.f("uq_dag_run_dag_id_run_id")),
    )
    op.create_index(op.f("ix_dag_run_backfill_id"), "dag_run", ["backfill_id"])
    op.create_index("ix_dag_run_state_dag_id", "dag_run", ["state", "dag_id"])

    op.create_table(
        "task_instance",
        sa.Column("id", sa.Integer(), autoincrement=True, nullable=False),
        sa.Column("dag_id", sa.String(length=250), nullable=False),
        sa.Column("run_id", sa.String(length=250), nullable=False),
        sa.Column("task_id", sa.String(length=250), nullable=False),
        sa.Column("map_index", sa.Integer(), server_default=sa.text("-1"), nullable=False),
        sa.Column("state", sa.String(length=20), nullable=True),
        sa.Column("try_number", sa.Integer(), server_default=sa.text("0"), nullable=False),
        sa.Column("max_tries", sa.Integer(), server_default=sa.text("0"), nullable=False),
        sa.Column("start_date", UTC_DATETIME, nullable=True),
        sa.Column("end_date", UTC_DATETIME, nullable=True),
        sa.Column("duration", sa.Float(), nullable=True),
        sa.Column("hostname", sa.String(length=1000), nullable=True),
        sa.Column("pid", sa.Integer(), nullable=True),
        sa.Column("try_token", sa.String(length=64), nullable=True),
        sa.Column("last_heartbeat", UTC_DATETIME, nullable=True),
        sa.Column("queue", sa.String(length=256), server_default="default", nullable=False),
        sa.Column("pool", sa.String(length=256), server_default="default_pool", nullable=False),
        sa.Column("pool_slots", sa.Integer(), server_default=sa.text("1"), nullable=False),
        sa.Column("priority_weight", sa.Integer(), server_default=sa.text("1"), nullable=False),
        sa.Column("operator", sa.String(length=1000), nullable=True),
        sa.Column("queued_at", UTC_DATETIME, nullable=True),
        sa.Column("external_executor_id", sa.String(length=250), nullable=True),
        sa.Column("queued_by_job_id", sa.Integer(), nullable=True),
        sa.Column("requeue_count", sa.Integer(), server_default=sa.text("0"), nullable=False),
        sa.Column("scheduled_at", UTC_DATETIME, nullable=True),
        sa.Column("next_try_at", UTC_DATETIME, nullable=True),
        sa.Column("first_poke_at", UTC_DATETIME, nullable=True),
        sa.Column("executor_config", sa.Text(), nullable=True),
        sa.Column("note", sa.Text(), nullable=True),
        sa.Column("end_reason", sa.Text(), nullable=True),
        sa.Column("infra_tries", sa.Integer(), server_default=sa.text("0"), nullable=False),
        sa.Column("updated_at", UTC_DATETIME, nullable=False),
        sa.ForeignKeyConstraint(
            ["dag_id", "run_id"],
            ["dag_run.dag_id", "dag_run.run_id"],
            name=op.f("fk_task_instance_dag_id_run_id_dag_run"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_task_instance")),
        sa.UniqueConstraint(
            "dag_id", "run_id", "task_id", "map_index", name=op.f("uq_task_instance_dag_id_run_id_task_id_map_index")
        ),
    )
    op.create_index("ix_task_instance_dag_id_run_id_state", "task_instance", ["dag_id", "run_id", "state"])
    op.create_index("ix_task_instance_state_pool", "task_instance", ["state", "pool"])

    op.create_table(
        "task_map",
        sa.Column("dag_id", sa.String(length=250), nullable=False),
        sa.Column("run_id", sa.String(length=250), nullable=False),
        sa.Column("task_id", sa.String(length=250), nullable=False),
        sa.Column("map_index", sa.Integer(), autoincrement=False, nullable=False),
        sa.Column("length", sa.Integer(), nullable=False),
        sa.Column("keys", sa.Text(), nullable=True),
        sa.CheckConstraint("length >= 0", name=op.f("ck_task_map_length_not_negative")),
        sa.ForeignKeyConstraint(
            ["dag_id", "run_id"],
            ["dag_run.dag_id", "dag_run.run_id"],
            name=op.f("fk_task_map_dag_id_run_id_dag_run"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("dag_id", "run_id", "task_id", "map_index", name=op.f("pk_task_map")),
    )

    op.create_table(
        "xcom",
        sa.Column("id", sa.Integer(), autoincrement=True, nullable=False),
        sa.Column("dag_id", sa.String(length=250), nullable=False),
        sa.Column("run_id", sa.String(length=250), nullable=False),
        sa.Column("task_id", sa.String(length=250), nullable=False),
        sa.Column("map_index", sa.Integer(), server_default=sa.text("-1"), nullable=False),
        sa.Column("key", sa.String(length=512), nullable=False),
        sa.Column("value", sa.Text(), nullable=True),
        sa.Column("created_at", UTC_DATETIME, nullable=False),
        sa.ForeignKeyConstraint(
            ["dag_id", "run_id"],
            ["dag_run.dag_id", "dag_run.run_id"],
            name=op.f("fk_xcom_dag_id_run_id_dag_run"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_xcom")),
        sa.UniqueConstraint(
            "dag_id", "run_id", "task_id", "map_index", "key", name=op.f("uq_xcom_dag_id_run_id_task_id_map_index_key")
        ),
    )

    op.create_table(
        "task_instance_history",
        sa.Column("id", sa.Integer(), autoincrement=True, nullable=False),
        sa.Column("ti_id", sa.Integer(), nullable=False),
        sa.Column("dag_id", sa.String(length=250), nullable=False),
        sa.Column("run_id", sa.String(length=250), nullable=False),
        sa.Column("task_id", sa.String(length=250), nullable=False),
        sa.Column("map_index", sa.Integer(), server_default=sa.text("-1"), nullable=False),
        sa.Column("try_number", sa.Integer(), nullable=False),
        sa.Column("state", sa.String(length=20), nullable=True),
        sa.Column("start_date", UTC_DATETIME, nullable=True),
        sa.Column("end_date", UTC_DATETIME, nullable=True),
        sa.Column("duration", sa.Float(), nullable=True),
        sa.Column("hostname", sa.String(length=1000), nullable=True),
        sa.Column("pid", sa.Integer(), nullable=True),
        sa.Column("reason", sa.Text(), nullable=True),
        sa.Column("recorded_at", UTC_DATETIME, nullable=False),
        sa.ForeignKeyConstraint(
            ["ti_id"],
            ["task_instance.id"],
            name=op.f("fk_task_instance_history_ti_id_task_instance"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_task_instance_history")),
    )
    op.create_index(op.f("ix_task_instance_history_ti_id"), "task_instance_history", ["ti_id"])
    pool = sa.table(
        "pool",
        sa.column("name", sa.String),
        sa.column("slots", sa.Integer),
        sa.column("description", sa.Text),
        sa.column("include_deferred", sa.Boolean),
    )
    op.bulk_insert(
        pool,
        [{"name": "default_pool", "slots": 128, "description": "Default pool", "include_deferred": False}],
    )


def downgrade() -> None:
    """Revert this revision."""
    op.drop_index(op.f("ix_task_instance_history_ti_id"), table_name="task_instance_history")
    op.drop_table("task_instance_history")
    op.drop_table("xcom")
    op.drop_table("task_map")
    op.drop_index("ix_task_instance_state_pool", table_name="task_instance")
    op.drop_index("ix_task_instance_dag_id_run_id_state", table_name="task_instance")
    op.drop_table("task_instance")
    op.drop_index("ix_dag_run_state_dag_id", table_name="dag_run")
    op.drop_index(op.f("ix_dag_run_backfill_id"), table_name="dag_run")
    op.drop_table("dag_run")
    op.drop_table("variable")
    op.drop_table("user")
    op.drop_table("state_store")
    op.drop_index("ix_sla_miss_callback_ran", table_name="sla_miss")
    op.drop_table("sla_miss")
    op.drop_index(op.f("ix_serialized_dag_fileloc"), table_name="serialized_dag")
    op.drop_table("serialized_dag")
    op.drop_table("pool")
    op.drop_index("ix_job_type_state_heartbeat", table_name="job")
    op.drop_table("job")
    op.drop_index(op.f("ix_import_error_filename"), table_name="import_error")
    op.drop_table("import_error")
    op.drop_index("ix_dag_next_dagrun_create_after", table_name="dag")
    op.drop_index(op.f("ix_dag_fileloc"), table_name="dag")
    op.drop_table("dag")
    op.drop_table("connection")
    op.drop_index(op.f("ix_backfill_dag_id"), table_name="backfill")
    op.drop_table("backfill")
