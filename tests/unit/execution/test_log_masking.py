"""A try's output reaches its log file masked: print, logging, subprocesses, partial lines, leftovers."""

from __future__ import annotations

import logging
import os
import stat
import subprocess
import sys
import time
from pathlib import Path

from dagflow.execution.log_masking import IDLE_FLUSH_S, MaskedLogPipe
from dagflow.execution.logs import capture_in_process
from dagflow.secrets.masker import SecretsMasker

CANARY = "canary-7f1e2d"


def _masker(*values: str) -> SecretsMasker:
    masker = SecretsMasker()
    masker.add(list(values))
    return masker


def _run_child(path: Path, masker: SecretsMasker, body: str) -> int:
    """Fork a task-like process whose output goes through the pipe; returns its exit status."""
    pipe = MaskedLogPipe(path, masker)
    pid = os.fork()
    if pid == 0:  # pragma: no cover - the child
        code = 1
        try:
            pipe.attach()
            exec(body, {"CANARY": CANARY, "masker": masker, "logging": logging, "subprocess": subprocess, "sys": sys})
            code = 0
        finally:
            sys.stdout.flush()
            sys.stderr.flush()
            pipe.detach()
            os._exit(code)
    pipe.close_write_end()
    _, status = os.waitpid(pid, 0)
    pipe.drain_leftover()
    pipe.close()
    return status


def test_print_logging_and_subprocess_output_are_masked(tmp_path: Path) -> None:
    path = tmp_path / "logs" / "attempt=1.log"
    body = """
print("printed", CANARY)
logging.basicConfig(stream=sys.stderr, level=logging.INFO, force=True)
logging.getLogger("t").warning("logged %s", CANARY)
subprocess.run(["bash", "-c", f"echo bash {CANARY}; echo stderr {CANARY} >&2"], check=True)
masker.add("read-during-the-try")
print("late", "read-during-the-try")
sys.stdout.write(b"raw bytes \\xff\\n".decode("utf-8", "surrogateescape"))
"""
    assert _run_child(path, _masker(CANARY), body) == 0
    text = path.read_text(errors="replace")
    assert CANARY not in text and "read-during-the-try" not in text
    for line in ("printed ***", "WARNING:t:logged ***", "bash ***", "stderr ***", "late ***"):
        assert line in text, text
    assert stat.S_IMODE(path.stat().st_mode) == 0o600 and stat.S_IMODE(path.parent.stat().st_mode) == 0o700


def test_a_partial_line_reaches_the_log_while_the_task_still_runs(tmp_path: Path) -> None:
    path = tmp_path / "attempt=1.log"
    pipe = MaskedLogPipe(path, _masker(CANARY))
    pid = os.fork()
    if pid == 0:  # pragma: no cover - the child
        pipe.attach()
        sys.stdout.write(f"progress {CANARY} 50%")
        sys.stdout.flush()
        time.sleep(IDLE_FLUSH_S * 10)
        pipe.detach()
        os._exit(0)
    pipe.close_write_end()
    deadline = time.monotonic() + IDLE_FLUSH_S * 8
    while time.monotonic() < deadline and not (path.exists() and path.read_text()):
        time.sleep(0.02)
    seen = path.read_text()
    os.waitpid(pid, 0)
    pipe.close()
    assert seen == "progress *** 50%"


def test_what_a_killed_task_left_in_the_pipe_is_logged_by_the_supervisor(tmp_path: Path) -> None:
    path = tmp_path / "attempt=1.log"
    pipe = MaskedLogPipe(path, _masker(CANARY))
    os.write(pipe._write_fd, f"last words {CANARY}\n".encode())  # written, never read by a pump thread
    pipe.close_write_end()
    pipe.drain_leftover()
    pipe.close()
    assert path.read_text() == "last words ***\n"


def test_in_process_tries_are_masked_too(tmp_path: Path) -> None:
    path = tmp_path / "x" / "attempt=1.log"
    with capture_in_process(path, logging.INFO, _masker(CANARY)):
        print("printed", CANARY)
        logging.getLogger("t").info("logged %s", CANARY)
        print("partial", CANARY, end="")
    text = path.read_text()
    assert CANARY not in text and "printed ***" in text and "logged ***" in text and text.endswith("partial ***")


def test_output_that_never_ends_a_line_is_still_written_while_it_flows(tmp_path: Path) -> None:
    path = tmp_path / "attempt=1.log"
    pipe = MaskedLogPipe(path, _masker(CANARY))
    pid = os.fork()
    if pid == 0:  # pragma: no cover - the child
        pipe.attach()
        for _ in range(int(IDLE_FLUSH_S * 20 / 0.02)):
            sys.stdout.write(".")
            sys.stdout.flush()
            time.sleep(0.02)
        pipe.detach()
        os._exit(0)
    pipe.close_write_end()
    deadline = time.monotonic() + IDLE_FLUSH_S * 10
    while time.monotonic() < deadline and not (path.exists() and path.read_text()):
        time.sleep(0.02)
    seen = path.read_text()
    os.waitpid(pid, 0)
    pipe.close()
    assert seen and set(seen) == {"."}
