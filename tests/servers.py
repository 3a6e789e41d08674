"""Throwaway PostgreSQL and Redis servers for tests: their own port, their own data dir, deleted after.

A test that stops, kills or restarts a server, or that needs a broker nobody else uses,
starts one of these instead of touching the machine's shared services, where a
developer's data lives (docs/security.md, "Test isolation").

- ``RedisServer``: ``redis-server`` on a free port of 127.0.0.1, nothing persisted
  (``--save "" --appendonly no``): a stop loses its memory, like ``shutdown nosave``.
- ``PostgresServer``: a cluster made by ``initdb`` in its own temp dir (trust auth,
  superuser ``postgres``), served by ``postgres`` on a free port of 127.0.0.1, its socket
  in the same dir, ``fsync=off``. PostgreSQL refuses to run as root: run by root, the
  cluster belongs to the ``postgres`` OS user and every PostgreSQL process runs as it.

Each server process is a child of the test process and leads its own process group, so
``stop()`` (fast shutdown: SIGINT for PostgreSQL, SIGTERM for Redis), ``kill()`` (SIGKILL
to the whole group) and ``restart()`` act on it alone; ``start()`` after either comes
back on the same port. ``close()`` stops it and deletes its directory; both classes are
context managers. ``started(cls)`` also turns missing binaries into a skip (a failure
with ``DAGFLOW_REQUIRE_SERVICES=1``).
"""

from __future__ import annotations

import glob
import os
import pwd
import shutil
import signal
import socket
import subprocess
import tempfile
import time
import uuid
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any, ClassVar, Self, TypeVar

import pytest

HOST = "127.0.0.1"
#: Seconds a server may take to accept connections after it was started.
START_TIMEOUT_S = 60.0
#: Seconds a fast shutdown may take before the server is killed and the test fails.
STOP_TIMEOUT_S = 60.0
#: Fresh ports tried when the first start finds its port taken by someone else.
PORT_ATTEMPTS = 3
#: The superuser of a throwaway PostgreSQL cluster (and the OS user that runs it as root).
PG_SUPERUSER = "postgres"
#: Names of the processes a throwaway server runs as (tests that count their own children skip these).
#: The Redis server binary, looked up on PATH.
REDIS_BINARY = "redis-server"
SERVER_PROCESS_NAMES = frozenset({"postgres", "redis-server", "runuser"})
PG_BINDIRS = ("/usr/lib/postgresql/*/bin", "/usr/pgsql-*/bin", "/usr/local/pgsql/bin")

S = TypeVar("S", bound="ThrowawayServer")


class ServerUnavailable(RuntimeError):
    """The binaries a throwaway server needs are not installed here."""


class ServerError(RuntimeError):
    """A throwaway server did not start or stop as asked."""


def require_service(reachable: bool, reason: str) -> None:
    """Skip (or fail, with ``DAGFLOW_REQUIRE_SERVICES=1``) when a service is missing."""
    if reachable:
        return
    if os.environ.get("DAGFLOW_REQUIRE_SERVICES") == "1":
        pytest.fail(reason + " (DAGFLOW_REQUIRE_SERVICES=1)")
    pytest.skip(reason)


def free_port() -> int:
    """A TCP port of 127.0.0.1 that was free a moment ago."""
    with socket.socket() as sock:
        sock.bind((HOST, 0))
        return int(sock.getsockname()[1])


@contextmanager
def started(server_class: type[S]) -> Iterator[S]:
    """A started ``server_class()``, closed after the block; skips (or fails) if it cannot exist here."""
    try:
        server = server_class()
    except ServerUnavailable as exc:
        require_service(False, str(exc))
        raise  # not reached: require_service skipped or failed
    with server:
        yield server


class ThrowawayServer:
    """One server process of the test's own: a port, a directory, start / stop / kill / restart."""

    name: ClassVar[str]
    #: The signal of a fast shutdown.
    stop_signal: ClassVar[signal.Signals] = signal.SIGTERM

    def __init__(self) -> None:
        self.dir = Path(tempfile.mkdtemp(prefix=f"dagflow-test-{self.name}-"))
        self.port = 0
        self._proc: subprocess.Popen[bytes] | None = None

    # --- what a server type says ---------------------------------------------------------
    def command(self) -> list[str]:
        """The argv that serves on ``self.port`` in the foreground."""
        raise NotImplementedError

    def accepts_connections(self) -> bool:
        """True once the server answers on ``self.port``."""
        raise NotImplementedError

    def _popen_options(self) -> dict[str, Any]:
        return {}

    # --- lifecycle --------------------------------------------------------------------------
    @property
    def log_path(self) -> Path:
        """The server's own output."""
        return self.dir / f"{self.name}.log"

    def running(self) -> bool:
        """True while the server process lives."""
        return self._proc is not None and self._proc.poll() is None

    def start(self) -> Self:
        """Start the server (a fresh free port the first time, the same port after) and wait until it answers."""
        if self.running():
            return self
        first_start, attempt = not self.port, 0
        while True:
            attempt += 1
            if first_start:
                self.port = free_port()
            try:
                self._launch()
                return self
            except ServerError:
                port_taken = "already in use" in self.log_tail(500)
                if not (first_start and port_taken and attempt < PORT_ATTEMPTS):
                    raise

    def stop(self) -> None:
        """Fast shutdown; wait for the process to end (kill it and raise if it does not)."""
        if self._proc is None or not self.running():
            return
        self._proc.send_signal(self.stop_signal)
        try:
            self._proc.wait(STOP_TIMEOUT_S)
        except subprocess.TimeoutExpired:
            self.kill()
            raise ServerError(f"{self.name} did not stop within {STOP_TIMEOUT_S}s: {self.log_tail()}") from None

    def kill(self) -> None:
        """SIGKILL the server and every process of its group; wait until all are gone."""
        if self._proc is None or not self.running():
            return  # once the leader is reaped its pid, hence the group id, may belong to someone else
        group = self._proc.pid  # our unreaped child: this group is ours
        os.killpg(group, signal.SIGKILL)
        self._proc.wait(STOP_TIMEOUT_S)
        _wait(lambda: not _live_members(group), f"{self.name} processes gone", STOP_TIMEOUT_S)

    def restart(self) -> Self:
        """Fast shutdown, then start again on the same port."""
        self.stop()
        return self.start()

    def close(self) -> None:
        """Stop the server (killed if it will not stop) and delete its directory."""
        try:
            self.stop()
        finally:
            self.kill()
            shutil.rmtree(self.dir, ignore_errors=True)

    def log_tail(self, chars: int = 3000) -> str:
        """The end of the server's output."""
        return self.log_path.read_text(errors="replace")[-chars:] if self.log_path.exists() else ""

    def __enter__(self) -> Self:
        try:
            return self.start()
        except BaseException:
            self.close()
            raise

    def __exit__(self, *exc: object) -> None:
        self.close()

    def _launch(self) -> None:
        with self.log_path.open("ab") as log:
            self._proc = subprocess.Popen(
                self.command(),
                stdin=subprocess.DEVNULL,
                stdout=log,
                stderr=subprocess.STDOUT,
                cwd=self.dir,
                start_new_session=True,  # its own process group: kill() reaches all of it
                **self._popen_options(),
            )
        deadline = time.monotonic() + START_TIMEOUT_S
        while not self.accepts_connections():
            if self._proc.poll() is not None:
                raise ServerError(
                    f"{self.name} on port {self.port} exited with {self._proc.returncode}: {self.log_tail()}"
                )
            if time.monotonic() > deadline:
                self.kill()
                raise ServerError(
                    f"{self.name} not ready on port {self.port} after {START_TIMEOUT_S}s: {self.log_tail()}"
                )
            time.sleep(0.02)


class RedisServer(ThrowawayServer):
    """A ``redis-server`` of the test's own that keeps nothing on disk."""

    name = "redis"

    def __init__(self) -> None:
        binary = shutil.which(REDIS_BINARY)
        if binary is None:
            raise ServerUnavailable("redis-server is not installed: cannot start a throwaway Redis")
        self.binary = binary
        super().__init__()

    @property
    def address(self) -> str:
        """``redis://127.0.0.1:PORT`` (no database number)."""
        return f"redis://{HOST}:{self.port}"

    @property
    def url(self) -> str:
        """The URL of database 0."""
        return f"{self.address}/0"

    def command(self) -> list[str]:
        """``redis-server`` in the foreground, on 127.0.0.1 only, persisting nothing."""
        return [
            self.binary,
            *("--port", str(self.port), "--bind", HOST, "--dir", str(self.dir)),
            *("--save", "", "--appendonly", "no", "--daemonize", "no"),
        ]

    def accepts_connections(self) -> bool:
        """True when it answers ``PING``."""
        try:
            with socket.create_connection((HOST, self.port), timeout=1) as sock:
                sock.sendall(b"PING\r\n")
                return sock.recv(64).startswith(b"+PONG")
        except OSError:
            return False


class PostgresServer(ThrowawayServer):
    """A PostgreSQL cluster of the test's own, made by ``initdb`` in a temp dir."""

    name = "postgres"
    stop_signal = signal.SIGINT  # PostgreSQL's "fast" shutdown

    def __init__(self) -> None:
        self.bindir = postgres_bindir()
        self._owner = _unprivileged_owner()
        super().__init__()
        if self._owner is not None:
            os.chown(self.dir, self._owner.pw_uid, self._owner.pw_gid)
        self.data = self.dir / "data"
        initdb = [str(self.bindir / "initdb"), "-D", str(self.data), "-U", PG_SUPERUSER, "--auth=trust"]
        done = subprocess.run(
            [*initdb, "--no-sync", "--no-locale", "--encoding=UTF8"],
            capture_output=True,
            text=True,
            timeout=180,
            cwd=self.dir,
            **self._popen_options(),
        )
        if done.returncode != 0:
            shutil.rmtree(self.dir, ignore_errors=True)
            raise ServerError(f"initdb failed: {(done.stderr or done.stdout).strip()[-2000:]}")

    @property
    def url(self) -> str:
        """The SQLAlchemy URL of the ``postgres`` database."""
        return self.database_url(PG_SUPERUSER)

    def database_url(self, database: str) -> str:
        """The SQLAlchemy URL of ``database`` on this server."""
        return f"postgresql+psycopg://{PG_SUPERUSER}@{HOST}:{self.port}/{database}"

    def create_database(self, prefix: str = "dagflow_test") -> str:
        """Create an empty database with a fresh name; its URL."""
        name = f"{prefix}_{uuid.uuid4().hex[:8]}"
        with self._connect() as conn:
            conn.execute(f'CREATE DATABASE "{name}"')
        return self.database_url(name)

    def command(self) -> list[str]:
        """``postgres`` in the foreground on 127.0.0.1:PORT, its socket in the server's dir."""
        # fsync off: a killed server loses nothing (its writes reached the kernel), only a machine crash would
        settings = {"listen_addresses": HOST, "fsync": "off", "full_page_writes": "off"}
        options = [arg for key, value in settings.items() for arg in ("-c", f"{key}={value}")]
        return [
            str(self.bindir / "postgres"),
            "-D",
            str(self.data),
            "-p",
            str(self.port),
            "-k",
            str(self.dir),
            *options,
        ]

    def accepts_connections(self) -> bool:
        """True when a connection to the ``postgres`` database succeeds."""
        import psycopg

        try:
            with self._connect(timeout=2):
                return True
        except psycopg.OperationalError:
            return False

    def kill(self) -> None:
        """SIGKILL the postmaster and its backends; the stale lock file goes too, so ``start()`` works."""
        super().kill()
        (self.data / "postmaster.pid").unlink(missing_ok=True)

    def _connect(self, timeout: int = 10) -> Any:
        import psycopg

        return psycopg.connect(
            host=HOST, port=self.port, user=PG_SUPERUSER, dbname="postgres", autocommit=True, connect_timeout=timeout
        )

    def _popen_options(self) -> dict[str, Any]:
        env = {k: v for k, v in os.environ.items() if not k.startswith("PG")}
        if self._owner is None:
            return {"env": env}
        env.update({"HOME": self._owner.pw_dir, "USER": self._owner.pw_name, "LOGNAME": self._owner.pw_name})
        return {"env": env, "user": self._owner.pw_uid, "group": self._owner.pw_gid, "extra_groups": []}


def servers_installed() -> bool:
    """True when both throwaway servers can start here (the Redis binary, and PostgreSQL's initdb/postgres)."""
    try:
        postgres_bindir()
    except ServerUnavailable:
        return False
    return shutil.which(REDIS_BINARY) is not None


def postgres_bindir() -> Path:
    """The directory of ``initdb`` and ``postgres``: from PATH, else the newest installed version."""
    on_path = shutil.which("initdb")
    candidates = [Path(on_path).parent] if on_path else []
    found = [Path(p) for pattern in PG_BINDIRS for p in glob.glob(pattern)]
    candidates += sorted(found, key=_version_key, reverse=True)
    for bindir in candidates:
        if (bindir / "initdb").is_file() and (bindir / "postgres").is_file():
            return bindir
    raise ServerUnavailable(f"initdb / postgres not found on PATH or in {', '.join(PG_BINDIRS)}")


def _version_key(bindir: Path) -> tuple[int, ...]:
    digits = "".join(ch if ch.isdigit() else " " for ch in str(bindir))
    return tuple(int(part) for part in digits.split())


def _unprivileged_owner() -> pwd.struct_passwd | None:
    """The OS user PostgreSQL runs as when the tests run as root (it refuses root); None otherwise."""
    if os.geteuid() != 0:
        return None
    try:
        return pwd.getpwnam(PG_SUPERUSER)
    except KeyError:
        raise ServerUnavailable(
            f"running as root and there is no {PG_SUPERUSER!r} OS user to run a throwaway PostgreSQL as"
        ) from None


def _live_members(group: int) -> list[int]:
    """Processes of process group ``group`` that are not zombies."""
    found = []
    for entry in filter(str.isdigit, os.listdir("/proc")):
        try:
            fields = Path(f"/proc/{entry}/stat").read_text().rsplit(")", 1)[1].split()
        except OSError:
            continue
        if int(fields[2]) == group and fields[0] != "Z":
            found.append(int(entry))
    return found


def _wait(condition: Callable[[], bool], what: str, seconds: float) -> None:
    deadline = time.monotonic() + seconds
    while not condition():
        if time.monotonic() > deadline:
            raise ServerError(f"timed out after {seconds}s waiting for {what}")
        time.sleep(0.02)
