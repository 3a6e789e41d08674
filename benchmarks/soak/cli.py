"""``python -m benchmarks soak [--executor local|celery] [--tis N] [--faults F] [--seed S] [--output json]``."""

from __future__ import annotations

import argparse
import json
import shutil
import signal
import statistics
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

import sqlalchemy as sa

from benchmarks.soak.checks import Verdict, check, read_ledger
from benchmarks.soak.deployment import Deployment
from benchmarks.soak.faults import Fault, Injector, unmount_log_fs
from benchmarks.soak.workload import Plan, plan
from dagflow.models import DagRun, SerializedDagModel

DAG_IDS = ("soak_mix", "soak_long")


def parse_args(argv: list[str]) -> argparse.Namespace:
    """The soak's options."""
    parser = argparse.ArgumentParser(
        prog="python -m benchmarks soak",
        description="A chaos soak: a mixed workload under seeded faults, then the exactly-once invariants.",
    )
    parser.add_argument("--executor", choices=("local", "celery"), default="celery")
    parser.add_argument("--tis", type=int, default=500, help="task instances of the workload (default 500)")
    parser.add_argument("--faults", type=int, default=15, help="faults to inject (default 15)")
    parser.add_argument("--seed", type=int, default=None, help="seed of the fault injector (default: random)")
    parser.add_argument("--output", choices=("table", "json"), default="table")
    parser.add_argument("--json", type=Path, default=None, metavar="PATH", help="also write the JSON report here")
    parser.add_argument(
        "--gap", type=float, nargs=2, default=(2.0, 6.0), metavar=("MIN", "MAX"), help="seconds between faults"
    )
    parser.add_argument("--timeout", type=float, default=None, help="seconds the workload may take")
    parser.add_argument("--keep", action="store_true", help="keep the run folder (logs, ledger) afterwards")
    args = parser.parse_args(argv)
    if args.tis < 1 or args.faults < 0:
        parser.error("--tis must be at least 1 and --faults at least 0")
    if args.seed is None:
        args.seed = int(time.time()) % 100_000
    return args


def main(argv: list[str]) -> int:
    """Run one soak; 0 if every invariant held and no process died by itself, 1 if not."""
    args = parse_args(argv)
    # SIGTERM, and SIGINT even when started in the background, end the soak through its
    # cleanup (servers stopped, processes killed, the tmpfs unmounted).
    signal.signal(signal.SIGTERM, _exit_on_signal)
    signal.signal(signal.SIGINT, _exit_on_signal)
    report = run_soak(
        executor=args.executor,
        tis=args.tis,
        faults=args.faults,
        seed=args.seed,
        gap_s=tuple(args.gap),
        timeout=args.timeout,
        keep=args.keep,
        progress=args.output == "table",
    )
    if args.json is not None:
        args.json.write_text(json.dumps(report, indent=2))
    if args.output == "json":
        print(json.dumps(report, indent=2))
    else:
        print_report(report)
    return 0 if report["ok"] else 1


def _exit_on_signal(signum: int, _frame: object) -> None:
    raise SystemExit(128 + signum)


def run_soak(
    *,
    executor: str,
    tis: int,
    faults: int,
    seed: int,
    gap_s: tuple[float, float] = (2.0, 6.0),
    timeout: float | None = None,
    keep: bool = False,
    progress: bool = False,
) -> dict[str, Any]:
    """Deploy, run the workload under faults, check the invariants; the report (a JSON-able dict)."""
    root = Path(tempfile.mkdtemp(prefix=f"dagflow-soak-{executor}-"))
    work = plan(tis)
    timeout = timeout if timeout is not None else 180 + 0.4 * work.task_instances
    deployment = Deployment(executor, root)
    injector: Injector | None = None
    started = time.monotonic()
    ok = False
    try:
        deployment.open()
        injector = Injector(deployment, seed=seed, count=faults, gap_s=gap_s)
        deployment.start_all()
        _say(
            progress, f"soak {executor}: {work.task_instances} task instances, {faults} faults, seed {seed}, in {root}"
        )
        _wait_parsed(deployment, 120)
        _trigger(deployment, work)
        workload_started = time.time()
        finished = False

        def busy() -> bool:
            return not finished

        injector.start(busy)
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            deployment.check_deaths()
            done, total = _runs_done(deployment)
            if done >= total:
                break
            time.sleep(1.0)
        finished = True
        injector.stop()
        _wait_finished(deployment, 120)  # a fault injected at the very end still plays out
        deployment.check_deaths()
        wall = time.time() - workload_started
        verdict = check(
            _db(deployment),
            deployment.ledger,
            deployment.log_folder,
            expected_tis=work.task_instances,
            expected_runs=work.mix_runs + work.long_runs,
        )
        report = _report(executor, seed, work, injector, verdict, deployment, wall)
        ok = bool(report["ok"])
        return report
    finally:
        if injector is not None:
            injector.stop()
        deployment.close()
        unmount_log_fs(deployment.log_folder)
        if not ok or keep:
            _say(True, f"soak run folder kept: {root} ({time.monotonic() - started:.0f}s)", err=True)
        else:
            shutil.rmtree(root, ignore_errors=True)


def _db(deployment: Deployment) -> Any:
    assert deployment.db is not None
    return deployment.db


def _wait_parsed(deployment: Deployment, seconds: float) -> None:
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        with _db(deployment).transaction(readonly=True) as session:
            stored = set(session.scalars(sa.select(SerializedDagModel.dag_id)))
        if set(DAG_IDS) <= stored:
            return
        time.sleep(0.5)
    raise RuntimeError(f"DAGs not parsed after {seconds}s: {deployment.log_tail('dag-processor')}")


def _trigger(deployment: Deployment, work: Plan) -> None:
    from dagflow.config import load_settings
    from dagflow.services.dag_runs import set_paused, trigger_dag

    settings = load_settings(deployment.env)
    db = _db(deployment)
    for dag_id, runs in (("soak_long", work.long_runs), ("soak_mix", work.mix_runs)):
        set_paused(settings, db, dag_id, paused=False)
        for n in range(runs):
            trigger_dag(settings, db, dag_id, run_id=f"soak_{n:05d}")


def _runs_done(deployment: Deployment) -> tuple[int, int]:
    try:
        with _db(deployment).transaction(readonly=True) as session:
            states = list(session.scalars(sa.select(DagRun.state)))
    except Exception:  # the database may be restarting (a fault)
        return 0, 1
    return sum(1 for s in states if s.value in ("success", "failed")), len(states)


def _wait_finished(deployment: Deployment, seconds: float) -> None:
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        done, total = _runs_done(deployment)
        if done >= total:
            return
        time.sleep(1.0)


def _report(
    executor: str, seed: int, work: Plan, injector: Injector, verdict: Verdict, deployment: Deployment, wall: float
) -> dict[str, Any]:
    starts = sorted(e.at for e in read_ledger(deployment.ledger) if e.kind in ("start", "poke"))
    by_kind: dict[str, list[float]] = {}
    for fault in injector.faults:
        by_kind.setdefault(fault.kind, []).append(_recovery(fault, starts))
    recovery = {
        kind: {
            "count": len(values),
            "recovery_p50_s": _percentile([v for v in values if v >= 0], 50),
            "recovery_p95_s": _percentile([v for v in values if v >= 0], 95),
            "no_start_after": sum(1 for v in values if v < 0),
        }
        for kind, values in sorted(by_kind.items())
    }
    ok = not verdict.broken and not deployment.died
    return {
        "ok": ok,
        "executor": executor,
        "seed": seed,
        "task_instances_planned": work.task_instances,
        "faults_injected": len(injector.faults),
        "faults_not_injected": injector.errors,
        "fault_kinds": injector.kinds,
        "wall_s": round(wall, 1),
        "died_by_themselves": deployment.died,
        "checks": verdict.as_dict(),
        "recovery": recovery,
        "faults": [f.as_dict() for f in injector.faults],
    }


def _recovery(fault: Fault, starts: list[float]) -> float:
    """Seconds from the end of ``fault`` to the next execution starting; -1 if none did."""
    later = [t for t in starts if t >= fault.over_at]
    return round(later[0] - fault.over_at, 2) if later else -1.0


def _percentile(values: list[float], pct: int) -> float | None:
    if not values:
        return None
    if len(values) == 1:
        return values[0]
    return round(statistics.quantiles(values, n=100, method="inclusive")[pct - 1], 2)


def print_report(report: dict[str, Any]) -> None:
    """The report as a short table."""
    checks = report["checks"]
    print(
        f"soak {report['executor']}  seed {report['seed']}  {checks['task_instances']} task instances  "
        f"{report['faults_injected']} faults  {report['wall_s']}s"
    )
    print(
        f"lost {checks['lost']}  doubled {checks['doubled']}  overlapping {checks['overlapping']}  "
        f"(reaped tries that ran on: {checks['overlaps_of_reaped_tries']})  "
        f"died by themselves {len(report['died_by_themselves'])}"
    )
    print(f"{'fault':<24}{'count':>6}{'recovery p50 s':>16}{'p95 s':>8}")
    for kind, row in report["recovery"].items():
        p50 = "-" if row["recovery_p50_s"] is None else f"{row['recovery_p50_s']:.1f}"
        p95 = "-" if row["recovery_p95_s"] is None else f"{row['recovery_p95_s']:.1f}"
        print(f"{kind:<24}{row['count']:>6}{p50:>16}{p95:>8}")
    for name, examples in checks["broken"].items():
        print(f"BROKEN {name}: {examples[:5]}")
    for line in report["died_by_themselves"]:
        print(f"DIED {line}")
    for line in report["faults_not_injected"]:
        print(f"not injected: {line}")
    print("ok" if report["ok"] else "FAILED")


def _say(enabled: bool, text: str, *, err: bool = False) -> None:
    if enabled:
        print(text, file=sys.stderr if err else sys.stdout, flush=True)
