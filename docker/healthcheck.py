#!/usr/bin/env python
"""The image's HEALTHCHECK: is the component this container runs alive?

The container's command is read from PID 1's command line (tini -- dagflow-entrypoint
CMD...). A ``scheduler`` or ``dag-processor`` is healthy while its ``job`` row, written
from this host, is running and heartbeated recently (the same rows other schedulers and
``dagflow dags list`` look at). Any other command (a Celery worker, ``db migrate``,
``standalone``, a shell) is healthy while it runs: Docker already restarts a container
whose process exited. Exit 0 = healthy, 1 = unhealthy with one line saying why.
"""

from __future__ import annotations

import sys
from collections.abc import Mapping
from datetime import UTC, datetime, timedelta
from pathlib import Path

#: Component -> the ``job.job_type`` it heartbeats.
JOB_TYPES = {"scheduler": "scheduler", "dag-processor": "dag_processor"}
#: A heartbeat older than this is not alive, whatever the heartbeat interval (s).
MIN_FRESH_SECONDS = 60.0


def container_command(cmdline: bytes) -> list[str]:
    """The dagflow arguments in PID 1's NUL-separated command line (empty if none)."""
    parts = [part.decode() for part in cmdline.split(b"\0") if part]
    for index, part in enumerate(parts):
        if part.endswith("dagflow-entrypoint"):
            args = parts[index + 1 :]
            return args[1:] if args[:1] == ["dagflow"] else args
    return []


def check(component: str, env: Mapping[str, str] | None = None) -> str:
    """One line saying the component is healthy; ``SystemExit`` with the reason if not.

    ``env`` is where the settings come from (default: this process's environment).
    """
    job_type = JOB_TYPES.get(component)
    if job_type is None:
        return f"{component or 'this command'}: healthy while it runs"
    import sqlalchemy as sa

    from dagflow.config import load_settings
    from dagflow.db import Database
    from dagflow.execution.claim import this_host
    from dagflow.models import Job
    from dagflow.models.job import JOB_RUNNING
    from dagflow.scheduler.job import fresh_after

    settings = load_settings(env)
    fresh = max(fresh_after(settings.scheduler.heartbeat_interval), timedelta(seconds=MIN_FRESH_SECONDS))
    database = Database(settings)
    try:
        with database.transaction(readonly=True) as session:
            latest = session.scalar(
                sa.select(sa.func.max(Job.latest_heartbeat)).where(
                    Job.job_type == job_type, Job.state == JOB_RUNNING, Job.hostname == this_host()
                )
            )
    finally:
        database.dispose()
    if latest is None:
        raise SystemExit(f"{component}: no running {job_type} job from {this_host()}")
    age = datetime.now(UTC) - latest
    if age > fresh:
        raise SystemExit(
            f"{component}: last heartbeat {age.total_seconds():.0f}s ago (limit {fresh.total_seconds():.0f}s)"
        )
    return f"{component}: heartbeat {age.total_seconds():.0f}s ago"


def main() -> int:
    """Check the component PID 1 runs; print one line."""
    args = container_command(Path("/proc/1/cmdline").read_bytes())
    try:
        print(check(args[0] if args else ""))
    except SystemExit as exc:
        print(exc.code, file=sys.stderr)
        return 1
    except Exception as exc:  # noqa: BLE001 - a health check reports, it never crashes
        print(f"{type(exc).__name__}: {str(exc).strip().splitlines()[0] if str(exc).strip() else ''}", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
