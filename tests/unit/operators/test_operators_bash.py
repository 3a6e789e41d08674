from __future__ import annotations

import os
import threading
import time
from typing import Any

import pytest

from dagflow import DAG
from dagflow.exceptions import SkipTask
from dagflow.operators import BashOperator


def run(op: BashOperator, make_ctx: Any) -> str:
    ctx = make_ctx(op)
    op.render_template_fields(ctx)
    return op.execute(ctx)


def test_returns_last_line_and_streams_output(make_ctx: Any, capsys: Any) -> None:
    with DAG("b", params={"name": "dagflow"}):
        op = BashOperator(task_id="b", bash_command="echo one; echo two {{ params.name }} {{ ds }}")
    assert run(op, make_ctx) == "two dagflow 2024-03-05"
    out = capsys.readouterr().out
    assert "one\n" in out and "two dagflow" in out


def test_exit_99_skips_and_custom_skip_code(make_ctx: Any) -> None:
    with pytest.raises(SkipTask, match="99"):
        run(BashOperator(task_id="s", bash_command="exit 99"), make_ctx)
    with pytest.raises(SkipTask):
        run(BashOperator(task_id="s2", bash_command="exit 3", skip_on_exit_code=[3, 4]), make_ctx)


def test_non_zero_exit_fails_with_the_code(make_ctx: Any) -> None:
    with pytest.raises(RuntimeError, match="exit code 7"):
        run(BashOperator(task_id="f", bash_command="echo doomed; exit 7"), make_ctx)
    with pytest.raises(RuntimeError, match="exit code 99"):
        run(BashOperator(task_id="f2", bash_command="exit 99", skip_on_exit_code=None), make_ctx)


def test_env_append_env_and_context_vars(make_ctx: Any, monkeypatch: Any) -> None:
    monkeypatch.setenv("OUTER_VAR", "outer")
    only = BashOperator(task_id="only", bash_command='echo "${OUTER_VAR:-unset} $MINE"', env={"MINE": "{{ ds }}"})
    assert run(only, make_ctx) == "unset 2024-03-05"
    both = BashOperator(task_id="both", bash_command='echo "$OUTER_VAR $MINE"', env={"MINE": "m"}, append_env=True)
    assert run(both, make_ctx) == "outer m"
    inherit = BashOperator(task_id="inherit", bash_command='echo "$OUTER_VAR $DAGFLOW_CTX_TASK_ID"')
    assert run(inherit, make_ctx) == "outer inherit"


def test_cwd_and_output_encoding(make_ctx: Any, tmp_path: Any) -> None:
    op = BashOperator(task_id="cwd", bash_command="pwd", cwd=str(tmp_path))
    assert run(op, make_ctx) == str(tmp_path)
    default = BashOperator(task_id="tmp", bash_command="pwd")
    assert run(default, make_ctx) != os.getcwd()
    latin = BashOperator(task_id="enc", bash_command="printf 'caf\\xe9\\n'", output_encoding="latin-1")
    assert run(latin, make_ctx) == "café"
    with pytest.raises(ValueError, match="does not exist"):
        run(BashOperator(task_id="nocwd", bash_command="true", cwd=str(tmp_path / "missing")), make_ctx)


def test_subprocess_stays_in_the_task_process_group(make_ctx: Any) -> None:
    op = BashOperator(task_id="pg", bash_command="ps -o pgid= -p $$")
    assert int(run(op, make_ctx)) == os.getpgid(0)


def test_on_kill_stops_the_command(make_ctx: Any) -> None:
    op = BashOperator(task_id="slow", bash_command="sleep 30")
    ctx = make_ctx(op)
    op.render_template_fields(ctx)
    errors: list[BaseException] = []

    def target() -> None:
        try:
            op.execute(ctx)
        except BaseException as exc:
            errors.append(exc)

    thread = threading.Thread(target=target)
    started = time.monotonic()
    thread.start()
    while op._process.process is None and time.monotonic() - started < 5:
        time.sleep(0.01)
    op.on_kill()
    thread.join(10)
    assert not thread.is_alive() and time.monotonic() - started < 10
    assert errors and "exit code" in str(errors[0])


def test_env_passes_params_as_text_even_when_rendered_natively(make_ctx: Any) -> None:
    hostile = "$(echo injected); `echo injected`"
    with DAG("native_env", render_template_as_native_obj=True, params={"x": hostile, "n": 5}):
        op = BashOperator(task_id="e", bash_command='echo "$X/$N"', env={"X": "{{ params.x }}", "N": "{{ params.n }}"})
    assert run(op, make_ctx) == f"{hostile}/5"  # a value in env= is data: bash never parses it as code
