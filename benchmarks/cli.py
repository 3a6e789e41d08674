"""``python -m benchmarks [--workloads W] [--configs C] [--repeat N] [--quick] [--json PATH]``.

Runs every workload on every configuration ``--repeat`` times (each run in a fresh
temporary ``DAGFLOW_HOME`` and database), prints one table of medians (min/max) and
writes the JSON when asked. A configuration that cannot run here (a service is down,
the Celery worker does not exist yet) is reported as unavailable with the reason.
Exit status: 0 if every available run succeeded, 1 otherwise.
"""

from __future__ import annotations

import argparse
import sys
import tempfile
import time
from pathlib import Path

from rich.console import Console

from benchmarks import configs
from benchmarks.report import Row, print_table, write_json
from benchmarks.runner import BenchmarkError, run_dag_workload, run_parse_workload
from benchmarks.workloads import Workload, parse_workloads


def parse_args(argv: list[str] | None) -> argparse.Namespace:
    """The command-line options."""
    parser = argparse.ArgumentParser(prog="python -m benchmarks", description=__doc__.split("\n\n")[1])
    parser.add_argument(
        "--workloads",
        default="chain,fanout,parse",
        help="comma-separated: chain, fanout, parse, optionally sized (chain100); default: all three",
    )
    parser.add_argument(
        "--configs",
        default=",".join(configs.CONFIG_NAMES),
        help=f"comma-separated, from {', '.join(configs.CONFIG_NAMES)}; default: both",
    )
    parser.add_argument("--repeat", type=int, default=3, help="runs per workload and configuration (default 3)")
    parser.add_argument("--quick", action="store_true", help="smoke sizes: chain10, fanout50, parse10")
    parser.add_argument("--json", type=Path, default=None, metavar="PATH", help="also write the results as JSON")
    parser.add_argument("--timeout", type=float, default=600.0, help="seconds one run may take (default 600)")
    parser.add_argument(
        "--celery-workers",
        type=int,
        default=1,
        help="`dagflow celery worker` processes for postgres-celery (default 1)",
    )
    parser.add_argument(
        "--profile",
        type=Path,
        default=None,
        metavar="DIR",
        help="attach py-spy (pip install py-spy) to the scheduler and workers; flame graphs in DIR",
    )
    parser.add_argument("--keep", action="store_true", help="keep the temporary DAGFLOW_HOMEs (logs) for a look")
    args = parser.parse_args(argv)
    if args.repeat < 1:
        parser.error("--repeat must be at least 1")
    try:
        args.workload_list = parse_workloads(args.workloads, quick=args.quick)
    except ValueError as exc:
        parser.error(str(exc))
    args.config_list = [c.strip() for c in args.configs.split(",") if c.strip()]
    unknown = [c for c in args.config_list if c not in configs.CONFIG_NAMES]
    if unknown:
        parser.error(f"unknown configuration(s) {', '.join(unknown)} (use {', '.join(configs.CONFIG_NAMES)})")
    return args


def main(argv: list[str] | None = None) -> int:
    """Run the benchmarks (or ``soak ...``: the reliability soak); 0 if every available run succeeded."""
    argv = sys.argv[1:] if argv is None else argv
    if argv[:1] == ["soak"]:
        from benchmarks.soak.cli import main as soak_main

        return soak_main(argv[1:])
    args = parse_args(argv)
    console = Console(width=None if Console().is_terminal else 160)
    rows: list[Row] = []
    with tempfile.TemporaryDirectory(prefix="dagflow-bench-") as tmp:
        base = Path(tmp)
        if args.keep:
            base = Path(tempfile.mkdtemp(prefix="dagflow-bench-kept-"))
            console.print(f"keeping run folders under {base}")
        for config in args.config_list:
            reason = configs.unavailable_reason(config)
            template = _sqlite_template(base) if config == "sqlite-local" and reason is None else None
            for workload in args.workload_list:
                row = Row(workload.name, config, workload.kind, workload.tasks, unavailable=reason)
                rows.append(row)
                if reason is not None:
                    continue
                for repeat in range(args.repeat):
                    _run_one(
                        row, workload, config, base / f"{config}-{workload.name}-{repeat}", template, args, console
                    )
    print_table(rows, console=console)
    if args.json is not None:
        options = {
            "workloads": [w.name for w in args.workload_list],
            "configs": args.config_list,
            "repeat": args.repeat,
            "quick": args.quick,
            "celery_workers": args.celery_workers,
        }
        write_json(args.json, rows, options)
        console.print(f"wrote {args.json}")
    return 1 if any(row.errors for row in rows) else 0


def _sqlite_template(base: Path) -> Path:
    """A migrated SQLite file, copied for each run (migrating once saves a second per run)."""
    env = configs.base_env(base / "template")
    env["DAGFLOW__DATABASE__SQL_ALCHEMY_CONN"] = f"sqlite:///{base / 'template' / 'home' / 'dagflow.db'}"
    configs.migrate(env)
    return base / "template" / "home" / "dagflow.db"


def _run_one(
    row: Row,
    workload: Workload,
    config: str,
    root: Path,
    template: Path | None,
    args: argparse.Namespace,
    console: Console,
) -> None:
    label = f"{workload.name} on {config}, run {len(row.runs) + len(row.errors) + 1}/{args.repeat}"
    started = time.monotonic()
    environment = None
    try:
        environment = configs.prepare(config, root, sqlite_template=template, celery_workers=args.celery_workers)
        run = run_parse_workload if workload.kind == "parse" else run_dag_workload
        result = run(environment, workload, timeout=args.timeout, profile_dir=args.profile)
        row.runs.append(result.metrics)
        summary = ", ".join(f"{k} {v:.3g}" for k, v in sorted(result.metrics.items()))
        console.print(f"{label}: {summary}  [dim]({time.monotonic() - started:.1f}s)[/dim]", highlight=False)
    except (BenchmarkError, RuntimeError, OSError) as exc:
        row.errors.append(str(exc))
        console.print(f"[red]{label}: {exc}[/red]", highlight=False)
    finally:
        if environment is not None and not args.keep:
            environment.cleanup()


if __name__ == "__main__":
    sys.exit(main())
