"""The benchmark workloads' names, sizes and DAG files (``benchmarks/workloads.py``); no run, no timing."""

from __future__ import annotations

import ast
from datetime import datetime
from pathlib import Path

import pytest

from benchmarks.cli import parse_args
from benchmarks.workloads import Workload, parse_workloads


def test_sizes_names_and_task_counts() -> None:
    found = {w.name: w for w in parse_workloads("mapped10k,mapped1000,dags500,history,parse", quick=False)}
    assert set(found) == {"mapped10k", "mapped1000", "dags500", "history200k", "parse200"}
    assert found["mapped10k"].size == 10_000 and found["mapped10k"].tasks == 10_001
    assert found["dags500"].expected_runs == 30_000 and found["dags500"].tasks == 150_000
    assert found["history200k"].dag_id == "bench_fanout1000" and found["history200k"].tasks == 1002


def test_quick_sizes() -> None:
    quick = {w.name: w for w in parse_workloads("mapped,dags,history", quick=True)}
    assert set(quick) == {"mapped50", "dags3", "history2000"}
    assert quick["dags3"].expected_runs == 30 and quick["history2000"].fanout_size == 50


@pytest.mark.parametrize("spec", ["mapped0", "dagz", "history-1", "fanout1m"])
def test_bad_workload_is_one_clear_error(spec: str, capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(SystemExit) as exc:
        parse_args(["--workloads", spec])
    assert exc.value.code == 2
    assert "Traceback" not in capsys.readouterr().err


def test_dags_files_catch_up_the_last_hour(tmp_path: Path) -> None:
    workload = Workload("dags", 3)
    ids = workload.write(tmp_path, now=datetime(2026, 1, 1, 10, 30, 42))
    assert ids == ["bench_dags_0000", "bench_dags_0001", "bench_dags_0002"]
    source = (tmp_path / "bench_dags_0001.py").read_text()
    ast.parse(source)
    assert 'schedule="* * * * *"' in source and "catchup=True" in source
    assert "start_date=datetime(2026, 1, 1, 9, 30)" in source  # 60 minutes before 10:30, the minute's start


def test_mapped_file_is_python(tmp_path: Path) -> None:
    (name,) = Workload("mapped", 20).write(tmp_path)
    source = (tmp_path / f"{name}.py").read_text()
    ast.parse(source)
    assert "one.expand(x=list(range(20)))" in source


def test_dagflow_root_without_python_is_one_clear_error(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(SystemExit):
        parse_args(["--dagflow-root", str(tmp_path)])
    assert "no Python found" in capsys.readouterr().err


def test_set_passes_dagflow_settings_to_every_run(capsys: pytest.CaptureFixture[str]) -> None:
    args = parse_args(["--set", "core.tries_per_worker=8", "--set", "core.parallelism=4"])
    assert args.setting_env == {"DAGFLOW__CORE__TRIES_PER_WORKER": "8", "DAGFLOW__CORE__PARALLELISM": "4"}
    with pytest.raises(SystemExit):
        parse_args(["--set", "tries_per_worker=8"])
    assert "SECTION.KEY=VALUE" in capsys.readouterr().err
