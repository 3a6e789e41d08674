"""``LatestOnlyOperator``: let downstream run only for the most recent scheduled interval."""

from __future__ import annotations

from collections.abc import Mapping
from datetime import datetime
from typing import Any

import pendulum

from dagflow.sdk.baseoperator import BaseOperator
from dagflow.sdk.branch import push_branch


class LatestOnlyOperator(BaseOperator):
    """Skips its direct downstream tasks unless the run is manual or covers the latest interval."""

    ui_color = "#e9ffdb"

    def execute(self, context: Mapping[str, Any]) -> Any:
        """Follow every direct downstream task, or none when the run is not the latest."""
        if _is_manual(context):
            print("manual run: following every downstream task", flush=True)
            return None
        left = context.get("data_interval_end")
        right = self.next_interval_end(context)
        now = pendulum.now("UTC")
        if left is None or right is None:
            return None
        if left < now <= right:
            print(f"latest interval ({left} .. {right}): following every downstream task", flush=True)
            return None
        print(f"not the latest interval (now {now}, window {left} .. {right}): skipping downstream", flush=True)
        push_branch(context, self, [])
        return None

    def next_interval_end(self, context: Mapping[str, Any]) -> datetime | None:
        """The end of the interval after this run's (from the DAG's timetable when available)."""
        start: pendulum.DateTime | None = context.get("data_interval_start")
        end: pendulum.DateTime | None = context.get("data_interval_end")
        if start is None or end is None:
            return None
        dag = self.dag
        if dag is not None:
            try:
                from dagflow.timetables import DataInterval, TimeRestriction

                info = dag.timetable.next_dagrun_info(
                    last_automated_data_interval=DataInterval(start, end),
                    restriction=TimeRestriction(earliest=None, latest=None, catchup=True),
                )
            except Exception as exc:  # noqa: BLE001 - no usable timetable: estimate with the interval length
                print(f"timetable unavailable ({exc}); estimating the next interval", flush=True)
            else:
                return info.data_interval.end if info is not None else None
        return end + (end - start)


def _is_manual(context: Mapping[str, Any]) -> bool:
    run = context.get("dag_run")
    run_type = getattr(run, "run_type", None)
    if run_type is not None:
        return str(getattr(run_type, "value", run_type)) == "manual"
    return str(context.get("run_id", "")).startswith("manual__")
