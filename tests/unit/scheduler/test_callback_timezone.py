"""Callback processes are fresh interpreters (spawned): they get ``core.default_timezone`` too."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from pathlib import Path

from dagflow import DAG
from dagflow.config import Settings
from dagflow.scheduler.dag_callbacks import CallbackRunner


@dataclass(frozen=True)
class ZoneProbe:
    """A callback request that builds a DAG with a naive start_date in the callback process."""

    dag_id: str
    run_id: str
    callback: str
    out: str

    def run(self, settings: Settings) -> None:
        dag = DAG(self.dag_id, schedule="@daily", start_date=datetime(2024, 1, 1))
        Path(self.out).write_text(f"{dag.timezone.name} {dag.start_date.isoformat() if dag.start_date else None}")


def test_a_callback_process_reads_naive_dates_in_the_configured_zone(settings: Settings, tmp_path: Path) -> None:
    out = tmp_path / "zone.txt"
    runner = CallbackRunner(settings.replace(core={"default_timezone": "Europe/Paris"}))
    runner.submit(ZoneProbe("probe", "r1", "on_success_callback", str(out)))
    runner.wait(60)
    assert out.read_text() == "Europe/Paris 2023-12-31T23:00:00+00:00"
