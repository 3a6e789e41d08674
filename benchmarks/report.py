"""Aggregate repeated runs into medians (min/max), print the table, write the JSON."""

from __future__ import annotations

import json
import os
import platform
import statistics
import subprocess
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from rich.console import Console
from rich.table import Table


@dataclass
class Row:
    """One workload on one configuration: every repeat's metrics, or why it did not run."""

    workload: str
    config: str
    kind: str
    tasks: int
    runs: list[dict[str, float]] = field(default_factory=list)
    errors: list[str] = field(default_factory=list)
    unavailable: str | None = None

    def stats(self) -> dict[str, dict[str, Any]]:
        """Per metric: median, min, max and the values."""
        names = sorted({name for run in self.runs for name in run})
        out: dict[str, dict[str, Any]] = {}
        for name in names:
            values = [run[name] for run in self.runs if name in run]
            out[name] = {"median": statistics.median(values), "min": min(values), "max": max(values), "values": values}
        return out

    def to_dict(self) -> dict[str, Any]:
        """The JSON form."""
        return {
            "workload": self.workload,
            "config": self.config,
            "kind": self.kind,
            "tasks": self.tasks,
            "available": self.unavailable is None,
            "reason": self.unavailable,
            "repeats": len(self.runs),
            "errors": self.errors,
            "metrics": self.stats(),
        }


def environment_info() -> dict[str, Any]:
    """Where the numbers come from: machine, Python, dagflow commit."""
    try:
        commit = (
            subprocess.run(
                ["git", "rev-parse", "--short", "HEAD"],
                capture_output=True,
                text=True,
                cwd=Path(__file__).parent,
                timeout=10,
            ).stdout.strip()
            or None
        )
    except (OSError, subprocess.SubprocessError):
        commit = None
    return {
        "cpus": os.cpu_count(),
        "python": platform.python_version(),
        "platform": platform.platform(),
        "commit": commit,
    }


def write_json(path: Path, rows: list[Row], options: dict[str, Any]) -> None:
    """Write every row (and the options and environment) as JSON."""
    document = {
        "version": 1,
        "environment": environment_info(),
        "options": options,
        "rows": [row.to_dict() for row in rows],
    }
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps(document, indent=2) + "\n")


def _fmt(stats: dict[str, dict[str, Any]], name: str, unit: str = "", digits: int = 2) -> str:
    s = stats.get(name)
    if s is None:
        return "-"
    if s["min"] == s["max"]:
        return f"{s['median']:.{digits}f}{unit}"
    return f"{s['median']:.{digits}f}{unit} ({s['min']:.{digits}f}–{s['max']:.{digits}f})"


def print_table(rows: list[Row], *, console: Console | None = None, title: str = "dagflow benchmarks") -> None:
    """One table: time, rate, CPU and peak memory per workload and configuration."""
    console = console or Console(width=None if Console().is_terminal else 160)
    table = Table(title=f"{title} (median, min–max)")
    for name in (
        "workload",
        "config",
        "runs",
        "time",
        "rate",
        "CPU ms/task (all / scheduler)",
        "scheduler RSS MB",
        "workers RSS / PSS MB",
        "total PSS MB",
    ):
        table.add_column(name, justify="left" if name in ("workload", "config") else "right")
    for row in rows:
        if row.unavailable is not None:
            table.add_row(row.workload, row.config, "-", f"unavailable: {row.unavailable}", "", "", "", "", "")
            continue
        stats = row.stats()
        runs = f"{len(row.runs)}" + (f" ({len(row.errors)} failed)" if row.errors else "")
        if not row.runs:
            table.add_row(
                row.workload, row.config, runs, f"failed: {row.errors[-1] if row.errors else '?'}", "", "", "", "", ""
            )
            continue
        time_text, rate = _time_and_rate(row, stats)
        if row.kind == "parse":
            workers = f"parser {_fmt(stats, 'parser_rss_mb', digits=0)}"
        else:
            workers = f"{_fmt(stats, 'workers_rss_mb', digits=0)} / {_fmt(stats, 'workers_pss_mb', digits=0)}"
        cpu = _fmt(stats, "cpu_ms_per_task", digits=1)
        if "scheduler_cpu_ms_per_task" in stats:
            cpu += f"\nsched {_fmt(stats, 'scheduler_cpu_ms_per_task', digits=2)}"
        table.add_row(
            row.workload,
            row.config,
            runs,
            time_text,
            rate,
            cpu,
            _fmt(stats, "scheduler_rss_mb", digits=0),
            workers,
            _fmt(stats, "total_pss_mb", digits=0),
        )
    console.print(table)
    for row in rows:
        for error in row.errors:
            console.print(f"[red]{row.workload} on {row.config}: {error}[/red]")


def _time_and_rate(row: Row, stats: dict[str, dict[str, Any]]) -> tuple[str, str]:
    """The time and rate cells of one row, by workload kind."""
    if row.kind == "parse":
        time_text = f"cold {_fmt(stats, 'cold_seconds', ' s')}\nre-scan {_fmt(stats, 'rescan_seconds', ' s')}"
        return time_text, f"{row.tasks // 20} DAGs"
    if row.kind == "chain":
        return _fmt(stats, "seconds", " s"), _fmt(stats, "ms_per_task", " ms/task", digits=1)
    if row.kind == "dags":
        lines = [_fmt(stats, "seconds", " s")]
        timed_out = sum(1 for run in row.runs if run.get("timed_out"))
        if timed_out:
            lines[0] = f"TIMED OUT ({timed_out}/{len(row.runs)}) at {lines[0]}"
        lines.append(f"{_fmt(stats, 'finished_runs', digits=0)} of {_fmt(stats, 'expected_runs', digits=0)} runs")
        lines.append(f"{_fmt(stats, 'tasks_succeeded', digits=0)} tasks done")
        lines.append(f"first run {_fmt(stats, 'first_run_s', ' s', digits=1)}")
        lines.append(f"every DAG {_fmt(stats, 'every_dag_first_run_s', ' s', digits=1)}")
        lines.append(f"lag p50 {_fmt(stats, 'lag_median_s', ' s', 1)} p95 {_fmt(stats, 'lag_p95_s', ' s', 1)}")
        return "\n".join(lines), _fmt(stats, "runs_per_s", " runs/s", digits=1)
    rate = _fmt(stats, "tasks_per_s", " tasks/s", digits=0)
    timed_out = sum(1 for run in row.runs if run.get("timed_out"))
    if timed_out:
        done = _fmt(stats, "tasks_succeeded", digits=0)
        rate += f"\nTIMED OUT ({timed_out}/{len(row.runs)}): {done}/{row.tasks} tasks"
    if row.kind == "history":
        time_text = f"seeded {_fmt(stats, 'seconds', ' s')}\nempty {_fmt(stats, 'empty_seconds', ' s')}"
        rate += f"\nslowdown ×{_fmt(stats, 'slowdown')}\nCPU ×{_fmt(stats, 'cpu_slowdown')}"
        return time_text, rate
    return _fmt(stats, "seconds", " s"), rate
