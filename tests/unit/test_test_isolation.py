"""No test stops, empties or reconfigures a service it did not start (docs/security.md, "Test isolation").

The machine's PostgreSQL, Redis and RabbitMQ hold other people's data: a developer's,
another test run's. Tests create their own databases and vhosts on them and delete only
those; anything that stops, restarts, kills or reconfigures a server runs against a
throwaway one from ``tests/servers.py``. This test reads every file under ``tests/``
and refuses the calls that broke that rule before (``pg_ctlcluster stop``, Redis
``SHUTDOWN``, ``FLUSHDB`` on a shared database) and their near relatives. It reads
text, so an obfuscated call gets past it; it is a tripwire for honest mistakes, and
the examples below prove each rule fires.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from pathlib import Path

import pytest

TESTS = Path(__file__).resolve().parents[1]
THIS_FILE = Path(__file__).resolve()
#: How far after a ``pg_terminate_backend`` its statement must limit itself to the test's database.
STATEMENT_CHARS = 300


@dataclass(frozen=True)
class Rule:
    """A kind of call no test may make, except in the files named (paths relative to ``tests/``)."""

    what: str
    pattern: re.Pattern[str]
    allowed_in: frozenset[str] = frozenset()
    #: If set, a match followed by this within ``STATEMENT_CHARS`` is fine.
    unless_followed_by: re.Pattern[str] | None = None


RULES = (
    Rule("empties a Redis database (FLUSHDB / FLUSHALL)", re.compile(r"flush_?(db|all)\b", re.I)),
    Rule(
        "stops or starts a system service",
        re.compile(
            r"\bpg_ctlcluster\b|\bsystemctl\b|/etc/init\.d/|\bservice\s+(postgresql|redis|rabbitmq)"
            r"|\brabbitmq-server\b|\bbrew\s+services\b",
            re.I,
        ),
    ),
    Rule(
        "runs a database or broker server outside tests/servers.py (the throwaway servers)",
        re.compile(r"\b(redis-server|initdb|pg_ctl|postmaster)\b"),
        allowed_in=frozenset({"servers.py"}),
    ),
    Rule(
        "shuts a Redis server down",
        re.compile(
            r"redis-cli\b.*\bshutdown\b|[\"']shutdown[\"']\s*,\s*[\"'](no)?save[\"']"
            r"|execute_command\(\s*[\"']shutdown|\.shutdown\(\s*(save|nosave|now|force|abort)\b",
            re.I,
        ),
    ),
    Rule(
        "reconfigures a Redis server",
        re.compile(
            r"\bconfig_set\(|\bconfig\s+set\b|[\"']config[\"']\s*,\s*[\"']set[\"']|\.(replicaof|slaveof)\(",
            re.I,
        ),
    ),
    Rule("reconfigures a PostgreSQL server", re.compile(r"\balter\s+system\b|\bpg_reload_conf\b", re.I)),
    Rule(
        "drops a database or role (only the session's own databases, in tests/conftest.py)",
        re.compile(r"\bdrop\s+(database|role|user|tablespace)\b", re.I),
        allowed_in=frozenset({"conftest.py"}),
    ),
    Rule(
        "ends PostgreSQL sessions outside the test's own database",
        re.compile(r"\bpg_(terminate|cancel)_backend\b", re.I),
        unless_followed_by=re.compile(r"datname\s*=\s*current_database\(\)", re.I),
    ),
    Rule(
        "uses the shared Redis server (port 6379): start a throwaway one (tests/servers.py)",
        re.compile(r"(?<!//redis:)\b6379\b"),
        allowed_in=frozenset({"acceptance/run.py"}),  # a manual tool: its user names the broker
    ),
    Rule(
        "stops, resets or empties RabbitMQ",
        re.compile(
            r"rabbitmqctl\b.*[\"'](stop|stop_app|shutdown|reset|force_reset|purge_queue|delete_queue"
            r"|delete_user|clear_permissions|change_password)[\"']",
            re.I,
        ),
    ),
    Rule(
        "deletes a RabbitMQ vhost (only rabbitmq_vhost() deletes the one it created)",
        re.compile(r"\bdelete_vhost\b"),
        allowed_in=frozenset({"integration/celery_helpers.py"}),
    ),
)


def violations(root: Path, *, skip: Path | None = None) -> list[str]:
    """``path:line: what`` for every call under ``root`` that a rule refuses."""
    found = []
    for path in sorted(root.rglob("*")):
        if not path.is_file() or "__pycache__" in path.parts or path.resolve() == skip:
            continue
        try:
            text = path.read_text()
        except (UnicodeDecodeError, OSError):
            continue
        relative = path.relative_to(root).as_posix()
        for rule in RULES:
            if relative in rule.allowed_in:
                continue
            for match in rule.pattern.finditer(text):
                statement = text[match.start() : match.start() + STATEMENT_CHARS]
                if rule.unless_followed_by is not None and rule.unless_followed_by.search(statement):
                    continue
                line = text.count("\n", 0, match.start()) + 1
                found.append(f"tests/{relative}:{line}: {rule.what}: {match.group(0)!r}")
    return found


def test_no_test_stops_empties_or_reconfigures_a_shared_service() -> None:
    assert violations(TESTS, skip=THIS_FILE) == []


@pytest.mark.parametrize(
    ("path", "line"),
    [
        ("integration/celery_helpers.py", "client.flushdb()"),
        ("faults/test_x.py", 'conn.execute_command("FLUSHALL")'),
        ("faults/cluster.py", 'subprocess.run(["pg_ctlcluster", "15", "main", "stop"])'),
        ("faults/cluster.py", 'subprocess.run(["systemctl", "restart", "redis"])'),
        ("faults/cluster.py", 'subprocess.run(["redis-cli", "-p", "6380", "shutdown", "nosave"])'),
        ("faults/cluster.py", "client.shutdown(nosave=True)"),
        ("faults/cluster.py", 'subprocess.run(["redis-server", "--port", str(port)])'),
        ("faults/cluster.py", 'subprocess.run([bindir / "pg_ctl", "-D", data, "stop"])'),
        ("integration/test_x.py", 'client.config_set("maxmemory", "1mb")'),
        ("integration/test_x.py", 'session.execute(sa.text("ALTER SYSTEM SET fsync = off"))'),
        ("integration/test_x.py", 'conn.execute("DROP DATABASE dagflow")'),
        ("integration/test_x.py", 'conn.execute("SELECT pg_terminate_backend(pid) FROM pg_stat_activity")'),
        ("integration/test_x.py", 'BROKER = "redis://127.0.0.1:6379/3"'),
        ("integration/test_x.py", 'redis.Redis(host="localhost", port=6379)'),
        ("integration/test_x.py", '_rabbitmqctl("stop_app")'),
        ("integration/test_x.py", '_rabbitmqctl("delete_vhost", "/")'),
    ],
)
def test_each_rule_catches_its_call(tmp_path: Path, path: str, line: str) -> None:
    (tmp_path / path).parent.mkdir(parents=True, exist_ok=True)
    (tmp_path / path).write_text(f"def f():\n    {line}\n")
    found = violations(tmp_path)
    assert len(found) == 1 and found[0].startswith(f"tests/{path}:2: "), found


@pytest.mark.parametrize(
    ("path", "line"),
    [
        ("servers.py", 'return [self.binary, "--port", str(self.port)]  # redis-server'),
        ("servers.py", 'subprocess.run([bindir / "initdb", "-D", data])'),
        ("conftest.py", "connection.exec_driver_sql(f'DROP DATABASE IF EXISTS \"{name}\" WITH (FORCE)')"),
        ("integration/celery_helpers.py", '_rabbitmqctl("delete_vhost", name)'),
        (
            "integration/test_x.py",
            '"SELECT pg_terminate_backend(pid) FROM pg_stat_activity WHERE datname = current_database()"',
        ),
        ("integration/test_x.py", "session.flush()"),
        ("integration/test_x.py", "scheduler.shutdown()"),
        ("integration/test_x.py", 'monkeypatch.setattr(SlowExecutor, "shutdown", lambda self: None)'),
        ("unit/test_x.py", 'assert settings.celery.broker_url == "redis://redis:6379/0"  # docker compose'),
    ],
)
def test_the_reviewed_exceptions_pass(tmp_path: Path, path: str, line: str) -> None:
    (tmp_path / path).parent.mkdir(parents=True, exist_ok=True)
    (tmp_path / path).write_text(f"def f():\n    {line}\n")
    assert violations(tmp_path) == []
