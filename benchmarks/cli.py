"""``python -m benchmarks [--workloads W] [--configs C] [--repeat N] [--quick] [--json PATH] [--dagflow-root P]``.

Runs every workload on every configuration ``--repeat`` times (each run in a fresh
temporary ``DAGFLOW_HOME`` and database), prints one table of medians (min/max) and
writes the JSON when asked. A configuration that cannot run here (a service is down,
the Celery worker does not exist yet) is reported as unavailable with the reason.
Exit status: 0 if every available run succeeded, 1 otherwise.
"""

from __future__ import annotations

import argparse
import signal
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path

from rich.console import Console

from benchmarks import configs
from benchmarks.report import Row, print_table, write_json
from benchmarks.runner import BenchmarkError, RunResult, run_dag_workload, run_parse_workload
from benchmarks.scale import run_dags_workload, run_history_workload
from benchmarks.workloads import Workload, parse_workloads


def parse_args(argv: list[str] | None) -> argparse.Namespace:
    """The command-line options."""
    parser = argparse.ArgumentParser(prog="python -m benchmarks", description=__doc__.split("\n\n")[1])
    parser.add_argument(
        "--workloads",
        default="chain,fanout,parse",
        help="comma-separated: chain, fanout, parse, mapped, dags, history, optionally sized (chain100, "
        "mapped10k); default: chain,fanout,parse",
    )
    parser.add_argument(
        "--configs",
        default=",".join(configs.CONFIG_NAMES),
        help=f"comma-separated, from {', '.join(configs.CONFIG_NAMES)}; default: both",
    )
    parser.add_argument("--repeat", type=int, default=3, help="runs per workload and configuration (default 3)")
    parser.add_argument(
        "--quick",
        action="store_true",
        help="smoke sizes: chain10, fanout50, parse10, mapped50, dags3 (10-minute catchup), history2000 (fanout50)",
    )
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
    parser.add_argument(
        "--schedulers",
        type=int,
        default=2,
        help="`dagflow scheduler` processes of the dags workload on postgres-celery (default 2; SQLite: 1)",
    )
    parser.add_argument(
        "--dagflow-root",
        type=Path,
        default=None,
        metavar="PATH",
        help="run the dagflow installed in PATH/.venv (another checkout) instead of this interpreter's",
    )
    parser.add_argument(
        "--set",
        action="append",
        default=[],
        metavar="SECTION.KEY=VALUE",
        dest="settings",
        help="a dagflow setting for every run (repeatable), e.g. --set core.tries_per_worker=8",
    )
    args = parser.parse_args(argv)
    try:
        args.setting_env = configs.setting_env(args.settings)
    except ValueError as exc:
        parser.error(str(exc))
    if args.schedulers < 1:
        parser.error("--schedulers must be at least 1")
    try:
        args.python = configs.dagflow_python(args.dagflow_root)
    except ValueError as exc:
        parser.error(str(exc))
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
    signal.signal(signal.SIGTERM, _stop_on_sigterm)
    try:
        return _run_all(args)
    except KeyboardInterrupt:
        print("benchmarks: interrupted; the runs' processes were stopped and their databases dropped", file=sys.stderr)
        return 130


def _run_all(args: argparse.Namespace) -> int:
    """Every workload on every configuration; the table, the JSON; 0 if every available run succeeded."""
    console = Console(width=None if Console().is_terminal else 160)
    rows: list[Row] = []
    under_test = configs.dagflow_version(args.python)
    console.print(f"dagflow under test: {under_test['location']} (commit {under_test['commit']}, {args.python})")
    with tempfile.TemporaryDirectory(prefix="dagflow-bench-") as tmp:
        base = Path(tmp)
        if args.keep:
            base = Path(tempfile.mkdtemp(prefix="dagflow-bench-kept-"))
            console.print(f"keeping run folders under {base}")
        for config in args.config_list:
            reason = configs.unavailable_reason(config, args.python)
            template = _sqlite_template(base, args.python) if config == "sqlite-local" and reason is None else None
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
            "schedulers": args.schedulers,
            "settings": args.settings,
            "timeout": args.timeout,
            "dagflow_under_test": under_test,
        }
        write_json(args.json, rows, options)
        console.print(f"wrote {args.json}")
    return 1 if any(row.errors for row in rows) else 0


def _stop_on_sigterm(signum: int, frame: object) -> None:
    """SIGTERM unwinds like Ctrl-C: every run's ``finally`` stops its dagflow processes (they run in
    sessions of their own, so a killed harness would leave them running) and drops its database."""
    raise KeyboardInterrupt(f"signal {signum}")


def _sqlite_template(base: Path, python: str) -> Path:
    """A migrated SQLite file, copied for each run (migrating once saves a second per run)."""
    env = configs.base_env(base / "template")
    env["DAGFLOW__DATABASE__SQL_ALCHEMY_CONN"] = f"sqlite:///{base / 'template' / 'home' / 'dagflow.db'}"
    configs.migrate(env, python)
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
    environments: list[configs.Environment] = []

    def make_environment(label: str = "") -> configs.Environment:
        folder = root if not label else root.with_name(f"{root.name}-{label}")
        environment = configs.prepare(
            config, folder, sqlite_template=template, celery_workers=args.celery_workers, python=args.python
        )
        environment.env.update(args.setting_env)
        environments.append(environment)
        return environment

    try:
        result = _dispatch(workload, config, make_environment, args)
        row.runs.append(result.metrics)
        summary = ", ".join(f"{k} {v:.3g}" for k, v in sorted(result.metrics.items()))
        console.print(f"{label}: {summary}  [dim]({time.monotonic() - started:.1f}s)[/dim]", highlight=False)
    except (BenchmarkError, RuntimeError, OSError) as exc:
        row.errors.append(str(exc))
        console.print(f"[red]{label}: {exc}[/red]", highlight=False)
    finally:
        if not args.keep:
            for environment in environments:
                environment.cleanup()


def _dispatch(
    workload: Workload, config: str, make_environment: Callable[[str], configs.Environment], args: argparse.Namespace
) -> RunResult:
    """Run one repeat of ``workload`` with the runner of its kind."""
    if workload.kind == "history":
        return run_history_workload(make_environment, workload, timeout=args.timeout, profile_dir=args.profile)
    environment = make_environment("")
    if workload.kind == "parse":
        return run_parse_workload(environment, workload, timeout=args.timeout, profile_dir=args.profile)
    if workload.kind == "dags":
        schedulers = args.schedulers if config == "postgres-celery" else 1
        return run_dags_workload(
            environment, workload, timeout=args.timeout, schedulers=schedulers, profile_dir=args.profile
        )
    return run_dag_workload(environment, workload, timeout=args.timeout, profile_dir=args.profile)


if __name__ == "__main__":
    sys.exit(main())
