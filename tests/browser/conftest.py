"""Browser fixtures: one Chromium (Debian's, driven by Playwright) and one live dagflow for every browser test.

- ``live_server``: a fresh ``DAGFLOW_HOME`` (migrated SQLite, the example DAGs and ``BROWSER_DAGS``),
  users ``admin``, ``op``, ``viewer`` (password ``PASSWORD``), the web app served by a
  threaded werkzeug server on a free port of 127.0.0.1, and a real ``dagflow scheduler``
  process (LocalExecutor) that runs what the tests trigger. Started once per session.
- ``browser``: one headless Chromium per session (``/usr/bin/chromium``; skipped when it is
  missing, a failure with ``DAGFLOW_REQUIRE_SERVICES=1``).
- ``page_as(role)``: a page logged in as ``role`` (one browser context per role, logged in
  once through the login form). Every page fails its test on a JavaScript dialog, a page
  error or a Content-Security-Policy violation.
- ``screenshot(page, name)``: writes ``docs/ui/<name>.png`` only when ``DAGFLOW_UI_SCREENSHOTS=1``.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
import textwrap
import threading
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pytest
from werkzeug.serving import make_server

from dagflow.config import Settings, dag_folders, load_settings
from dagflow.dag_processing.sync import sync_folders
from dagflow.db import Database
from dagflow.services import users
from dagflow.webapp import create_app

CHROMIUM = Path("/usr/bin/chromium")
CHROMIUM_ARGS = ["--no-sandbox", "--disable-gpu", "--disable-background-networking"]
PASSWORD = "correct-horse-battery"
ROLES = ("admin", "op", "viewer")
SHOTS = Path(__file__).resolve().parents[2] / "docs" / "ui"

BROWSER_DAGS = """
from datetime import datetime
from pathlib import Path

from dagflow import DAG, Asset
from dagflow.operators import ApprovalOperator, EmptyOperator, PythonOperator
from dagflow.sdk import TaskGroup

MARKER = Path(__file__).with_name("flaky.marker")


def flaky():
    '''Fails on its first try ever, succeeds after (the marker file remembers).'''
    if not MARKER.exists():
        MARKER.write_text("failed once")
        raise RuntimeError("flaky failed on purpose")
    print("flaky succeeded")


with DAG("ui_flaky", schedule=None, start_date=datetime(2024, 1, 1), tags=["browser"],
         description="fails once, then succeeds"):
    start = EmptyOperator(task_id="start")
    with TaskGroup("work"):
        step = PythonOperator(task_id="flaky", python_callable=flaky)
    start >> step >> EmptyOperator(task_id="done")

with DAG("ui_approval", schedule=None, start_date=datetime(2024, 1, 1), tags=["browser"]):
    ApprovalOperator(task_id="sign_off", message="ship it?", poke_interval=1) >> EmptyOperator(task_id="ship")

RETRY_MARKER = Path(__file__).with_name("retry.marker")


def fails_once():
    '''Fails on its first try ever, succeeds after (its own marker file).'''
    if not RETRY_MARKER.exists():
        RETRY_MARKER.write_text("failed once")
        raise RuntimeError("fails_once failed on purpose")
    print("fails_once succeeded")


with DAG("ui_retry", schedule=None, start_date=datetime(2024, 1, 1), tags=["browser"]):
    first = EmptyOperator(task_id="first")
    first >> PythonOperator(task_id="fails_once", python_callable=fails_once) >> EmptyOperator(task_id="after")
    first >> EmptyOperator(task_id="side")


def ticks():
    '''Writes a log line every 0.3 s for about 12 s: the log panel follows it live.'''
    import time

    for n in range(1, 41):
        print(f"tick {n}")
        time.sleep(0.3)


with DAG("ui_slow", schedule=None, start_date=datetime(2024, 1, 1), tags=["browser"]):
    PythonOperator(task_id="ticks", python_callable=ticks)

with DAG("ui_switch", schedule=None, start_date=datetime(2024, 1, 1), tags=["browser"]):
    extract = EmptyOperator(task_id="extract")
    extract >> EmptyOperator(task_id="notify", description="tells the team") >> EmptyOperator(task_id="archive")

ORDERS = Asset("file:///tmp/dagflow-browser/orders.csv")

with DAG("ui_producer", schedule=None, start_date=datetime(2024, 1, 1), tags=["browser"]):
    EmptyOperator(task_id="write_orders", outlets=[ORDERS])

with DAG("ui_asset_consumer", schedule=[ORDERS], start_date=datetime(2024, 1, 1), tags=["browser"]):
    EmptyOperator(task_id="read_orders")
"""


@dataclass
class LiveServer:
    """The running dagflow: its URL, settings and database, and the scheduler process."""

    url: str
    settings: Settings
    db: Database
    scheduler: subprocess.Popen[bytes]
    scheduler_log: Path

    def wait_for(self, check: Callable[[], Any], timeout: float = 30.0, what: str = "condition") -> Any:
        """Poll ``check`` until it returns something truthy; fail with the scheduler's log tail otherwise."""
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            value = check()
            if value:
                return value
            if self.scheduler.poll() is not None:
                break
            time.sleep(0.2)
        tail = self.scheduler_log.read_text(errors="replace")[-3000:]
        pytest.fail(f"timed out waiting for {what}; scheduler log tail:\n{tail}")


@pytest.fixture(scope="session")
def live_server(tmp_path_factory: pytest.TempPathFactory, _sqlite_template: Path) -> Iterator[LiveServer]:
    """The web app and a scheduler on a fresh home (module docstring)."""
    home = tmp_path_factory.mktemp("browser_home")
    shutil.copyfile(_sqlite_template, home / "dagflow.db")
    env = {
        "DAGFLOW_HOME": str(home),
        "DAGFLOW__CORE__PARALLELISM": "4",
        "DAGFLOW__SCHEDULER__POLL_INTERVAL": "0.2",
        "DAGFLOW__SCHEDULER__MIN_FILE_PROCESS_INTERVAL": "2",
        "DAGFLOW__SCHEDULER__DAG_DIR_LIST_INTERVAL": "2",
        "DAGFLOW__API__LOGIN_RATE_LIMIT": "1000 per minute",
    }
    settings = load_settings(env)
    folder = settings.core.dags_folder
    folder.mkdir(parents=True, exist_ok=True)
    (folder / "browser_dags.py").write_text(textwrap.dedent(BROWSER_DAGS))
    db = Database(settings)
    sync_folders(db, dag_folders(settings), paused_at_creation=True)
    for role in ROLES:
        users.create_user(db, role, PASSWORD, role)
    app = create_app(settings, db=db)
    server = make_server("127.0.0.1", 0, app, threaded=True)
    thread = threading.Thread(target=server.serve_forever, name="live-web", daemon=True)
    thread.start()
    log = home / "scheduler.log"
    with log.open("wb") as out:
        scheduler = subprocess.Popen(
            [sys.executable, "-m", "dagflow", "scheduler"], env={**os.environ, **env}, stdout=out, stderr=out
        )
    try:
        yield LiveServer(f"http://127.0.0.1:{server.server_port}", settings, db, scheduler, log)
    finally:
        scheduler.terminate()
        try:
            scheduler.wait(timeout=15)
        except subprocess.TimeoutExpired:
            scheduler.kill()
            scheduler.wait()
        server.shutdown()
        thread.join(timeout=5)
        db.dispose()


@pytest.fixture(scope="session")
def browser() -> Iterator[Any]:
    """One headless Chromium for the session."""
    if not CHROMIUM.exists():
        message = f"{CHROMIUM} is missing (apt-get install -y chromium)"
        if os.environ.get("DAGFLOW_REQUIRE_SERVICES") == "1":
            pytest.fail(message)
        pytest.skip(message)
    from playwright.sync_api import sync_playwright

    with sync_playwright() as playwright:
        chromium = playwright.chromium.launch(executable_path=str(CHROMIUM), args=CHROMIUM_ARGS, headless=True)
        yield chromium
        chromium.close()


@dataclass
class PageWatch:
    """What a page reported that a test must not see: dialogs, page errors, CSP violations."""

    problems: list[str] = field(default_factory=list)


@pytest.fixture(scope="session")
def _contexts(browser: Any, live_server: LiveServer) -> Iterator[dict[str, Any]]:
    contexts: dict[str, Any] = {}
    yield contexts
    for context in contexts.values():
        context.close()


@pytest.fixture
def page_as(browser: Any, live_server: LiveServer, _contexts: dict[str, Any]) -> Iterator[Callable[[str], Any]]:
    """``page_as(role)``: a new page logged in as ``role``; the test fails if it shows a dialog or breaks the CSP."""
    watch = PageWatch()
    pages: list[Any] = []

    def open_page(role: str) -> Any:
        if role not in _contexts:
            context = browser.new_context(base_url=live_server.url, viewport={"width": 1400, "height": 900})
            context.set_default_timeout(20_000)
            login = context.new_page()
            login.goto("/login")
            login.fill("input[name=username]", role)
            login.fill("input[name=password]", PASSWORD)
            login.click("button[type=submit]")
            login.wait_for_url(f"{live_server.url}/")
            login.close()
            _contexts[role] = context
        page = _contexts[role].new_page()
        page.on("dialog", lambda dialog: (watch.problems.append(f"dialog: {dialog.message}"), dialog.dismiss()))
        page.on("pageerror", lambda error: watch.problems.append(f"page error: {error}"))
        page.on(
            "console",
            lambda msg: (
                watch.problems.append(f"console: {msg.text}")
                if "Content Security Policy" in msg.text or msg.type == "error"
                else None
            ),
        )
        pages.append(page)
        return page

    yield open_page
    for page in pages:
        page.close()
    assert watch.problems == [], watch.problems


@pytest.fixture
def screenshot() -> Callable[[Any, str], None]:
    """``screenshot(page, name)``: docs/ui/<name>.png, only with ``DAGFLOW_UI_SCREENSHOTS=1``."""

    def take(page: Any, name: str) -> None:
        if os.environ.get("DAGFLOW_UI_SCREENSHOTS") == "1":
            SHOTS.mkdir(parents=True, exist_ok=True)
            page.screenshot(path=str(SHOTS / f"{name}.png"), full_page=True)

    return take
