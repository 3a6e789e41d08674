"""``dagflow standalone`` serves the web server too and creates ``admin`` with a random password on first start."""

from __future__ import annotations

import http.cookiejar
import json
import os
import re
import signal
import stat
import subprocess
import sys
import time
import urllib.parse
import urllib.request
from pathlib import Path

import pytest

from dagflow.cli.standalone import PASSWORD_FILE, ensure_admin
from dagflow.db import Database
from dagflow.services import users
from tests.integration.test_api_airflow_client import free_port


def _wait_http(url: str, proc: subprocess.Popen[bytes], log: Path, seconds: float = 60) -> None:
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        assert proc.poll() is None, log.read_text()
        try:
            with urllib.request.urlopen(url, timeout=2) as response:
                if response.status == 200:
                    return
        except OSError:
            time.sleep(0.2)
    raise AssertionError(f"{url} did not answer in {seconds}s:\n{log.read_text()}")


def _post_json(url: str, body: dict[str, str]) -> dict[str, str]:
    request = urllib.request.Request(
        url, data=json.dumps(body).encode(), headers={"Content-Type": "application/json"}, method="POST"
    )
    with urllib.request.urlopen(request, timeout=10) as response:
        result: dict[str, str] = json.loads(response.read())
        return result


def _log_in_to_the_ui(base: str, password: str) -> None:
    """The web UI works there: / sends to the login form, whose CSRF-protected POST opens the DAG list."""
    browser = urllib.request.build_opener(urllib.request.HTTPCookieProcessor(http.cookiejar.CookieJar()))
    with browser.open(f"{base}/", timeout=10) as response:
        assert response.url == f"{base}/login?next=/"
        token = re.search(r'name="csrf_token" value="([^"]+)"', response.read().decode())
    assert token is not None
    form = urllib.parse.urlencode({"username": "admin", "password": password, "csrf_token": token.group(1)})
    with browser.open(f"{base}/login", data=form.encode(), timeout=10) as response:
        page = response.read().decode()
        assert response.url == f"{base}/" and "<h1>DAGs</h1>" in page and "admin <small>(admin)</small>" in page


@pytest.mark.slow
def test_standalone_serves_the_api_and_prints_the_admin_password_once(tmp_path: Path) -> None:
    home, dags, log = tmp_path / "home", tmp_path / "dags", tmp_path / "standalone.log"
    dags.mkdir()
    port = free_port()
    env = {
        **os.environ,
        "DAGFLOW_HOME": str(home),
        "DAGFLOW__CORE__DAGS_FOLDER": str(dags),
        "DAGFLOW__CORE__LOAD_EXAMPLES": "false",
        "DAGFLOW__CORE__PARALLELISM": "2",
        "DAGFLOW__WEBSERVER__PORT": str(port),
    }
    proc = subprocess.Popen(
        [sys.executable, "-m", "dagflow", "standalone"],
        env=env,
        stdout=log.open("w"),
        stderr=subprocess.STDOUT,
        start_new_session=True,
    )
    base = f"http://127.0.0.1:{port}"
    try:
        _wait_http(f"{base}/api/v2/monitor/health", proc, log)
        secret = home / PASSWORD_FILE
        assert stat.S_IMODE(secret.stat().st_mode) == 0o600
        password = secret.read_text().strip()
        assert len(password) >= 12 and log.read_text().count(password) == 1
        token = _post_json(f"{base}/auth/token", {"username": "admin", "password": password})["access_token"]
        request = urllib.request.Request(f"{base}/api/v2/dags", headers={"Authorization": f"Bearer {token}"})
        with urllib.request.urlopen(request, timeout=10) as response:
            assert response.status == 200 and json.loads(response.read())["total_entries"] == 0
        assert f"http://127.0.0.1:{port}/" in log.read_text()
        _log_in_to_the_ui(base, password)
        _wait_triggerer_healthy(f"{base}/api/v2/monitor/health", log)  # standalone runs a triggerer
    finally:
        os.kill(proc.pid, signal.SIGINT)  # Ctrl-C: the scheduler stops, then its web server child
        proc.wait(timeout=60)
    with pytest.raises(OSError):  # the web server went with it
        urllib.request.urlopen(f"{base}/api/v2/monitor/health", timeout=2)
    assert "dagflow standalone stopped." in log.read_text()
    assert "dagflow triggerer stopped." in log.read_text()  # its triggerer was stopped with it


def _wait_triggerer_healthy(url: str, log: Path, seconds: float = 30) -> None:
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        with urllib.request.urlopen(url, timeout=5) as response:
            if json.loads(response.read())["triggerer"]["status"] == "healthy":
                return
        time.sleep(0.3)
    raise AssertionError(f"no healthy triggerer after {seconds}s:\n{log.read_text()}")


def test_admin_is_created_once(db: Database) -> None:
    first = ensure_admin(db.settings, db)
    assert first.password is not None and first.password_file.read_text().strip() == first.password
    assert users.authenticate(db, "admin", first.password).role == "admin"
    again = ensure_admin(db.settings, db)
    assert again.password is None and again.password_file == first.password_file
