"""The Docker deployment (Dockerfile, docker-compose.yml, docker/) checked without a Docker daemon.

Every command a compose service runs must be a real ``dagflow`` command with real options,
every ``DAGFLOW__SECTION__KEY`` must name a real setting with a valid value, and the image
must run as a non-root user behind tini with the entrypoint and health check it copies.
"""

from __future__ import annotations

import importlib.util
import json
import re
from datetime import UTC, datetime, timedelta
from pathlib import Path
from types import ModuleType
from typing import Any

import pytest
import yaml
from click.testing import CliRunner
from sqlalchemy.exc import OperationalError

from dagflow.cli.main import _register, cli
from dagflow.config import load_settings
from dagflow.db import Database
from dagflow.exceptions import DatabaseError
from dagflow.execution.claim import this_host
from dagflow.models import Job
from dagflow.models.job import JOB_RUNNING

ROOT = Path(__file__).resolve().parents[2]
COMPOSE = ROOT / "docker-compose.yml"
DOCKERFILE = ROOT / "Dockerfile"
DAGFLOW_IMAGE = "${DAGFLOW_IMAGE:-dagflow:latest}"
#: ``${NAME}``, ``${NAME:-default}``, ``${NAME:?error}`` in the compose file.
VARIABLE = re.compile(r"\$\{(?P<name>\w+)(?:(?P<op>:[-?])(?P<arg>[^}]*))?\}")


def load_module(name: str) -> ModuleType:
    """Import ``docker/<name>.py`` (a script, not a package module) by path."""
    spec = importlib.util.spec_from_file_location(f"docker_{name}", ROOT / "docker" / f"{name}.py")
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def interpolate(value: str) -> str:
    """What compose substitutes with an empty ``.env``: defaults; required secrets -> a stand-in."""

    def one(match: re.Match[str]) -> str:
        if match["op"] == ":-":
            return match["arg"]
        assert match["op"] == ":?", f"{match[0]} has no default and is not required (:?)"
        return f"stand-in-{match['name'].lower()}"

    return VARIABLE.sub(one, value)


@pytest.fixture(scope="module")
def compose() -> dict[str, Any]:
    """docker-compose.yml, parsed (anchors and ``<<`` merges resolved)."""
    data = yaml.safe_load(COMPOSE.read_text())
    assert isinstance(data, dict) and isinstance(data.get("services"), dict)
    return data


@pytest.fixture(scope="module")
def dagflow_services(compose: dict[str, Any]) -> dict[str, dict[str, Any]]:
    """The services that run the dagflow image."""
    found = {name: svc for name, svc in compose["services"].items() if svc.get("image") == DAGFLOW_IMAGE}
    assert found, "no service runs the dagflow image"
    return found


def env_of(service: dict[str, Any]) -> dict[str, str]:
    """A service's environment after interpolation."""
    return {key: interpolate(str(value)) for key, value in service["environment"].items()}


def worker_options(command: list[str]) -> dict[str, str]:
    """``--queues``/``--concurrency`` of a ``celery worker`` command."""
    return dict(zip(command[2::2], command[3::2], strict=True))


# --- docker-compose.yml ---------------------------------------------------------------


def test_compose_has_the_production_topology(
    compose: dict[str, Any], dagflow_services: dict[str, dict[str, Any]]
) -> None:
    commands = {name: svc["command"] for name, svc in dagflow_services.items()}
    assert {"postgres", "redis"} <= set(compose["services"])
    assert commands["migrate"] == ["db", "migrate"]
    assert [c[0] for c in commands.values()].count("scheduler") == 1
    assert [c[0] for c in commands.values()].count("dag-processor") == 1
    workers = [c for c in commands.values() if c[:2] == ["celery", "worker"]]
    queues = [worker_options(c)["--queues"] for c in workers]
    assert len(workers) >= 2 and len(set(queues)) == len(queues), queues
    assert "webserver" not in [c[0] for c in commands.values()], "dagflow webserver does not exist yet"


@pytest.mark.parametrize("service", ["migrate", "dag-processor", "scheduler", "worker-default", "worker-highmem"])
def test_every_service_command_is_a_real_dagflow_command(
    dagflow_services: dict[str, dict[str, Any]], service: str
) -> None:
    """``dagflow <command> --help`` resolves every subcommand and rejects unknown options."""
    _register()
    command = dagflow_services[service]["command"]
    result = CliRunner().invoke(cli, [*command, "--help"])
    assert result.exit_code == 0, f"{service}: dagflow {' '.join(command)}: {result.output}"
    assert "Usage: " in result.output


def test_the_parametrized_services_are_all_of_them(dagflow_services: dict[str, dict[str, Any]]) -> None:
    assert set(dagflow_services) == {"migrate", "dag-processor", "scheduler", "worker-default", "worker-highmem"}


def test_every_dagflow_env_var_is_a_real_setting(dagflow_services: dict[str, dict[str, Any]], tmp_path: Path) -> None:
    """load_settings() accepts the compose environment (unknown keys and bad values raise)."""
    for name, service in dagflow_services.items():
        env = env_of(service)
        assert all(key.startswith("DAGFLOW__") for key in env), name
        settings = load_settings(env, home=tmp_path)
        assert settings.core.executor == "CeleryExecutor"
        assert settings.database.sql_alchemy_conn.startswith("postgresql+psycopg://dagflow:")
        assert settings.celery.broker_url == "redis://redis:6379/0"
        assert settings.scheduler.standalone_dag_processor is True


def test_all_dagflow_services_share_one_configuration(dagflow_services: dict[str, dict[str, Any]]) -> None:
    envs = {json.dumps(service["environment"], sort_keys=True) for service in dagflow_services.values()}
    volumes = {json.dumps(service["volumes"]) for service in dagflow_services.values()}
    assert len(envs) == 1 and len(volumes) == 1


def test_parallelism_matches_the_workers_slots(dagflow_services: dict[str, dict[str, Any]], tmp_path: Path) -> None:
    """Tasks wait in the DB (priorities, pools), not in the broker: parallelism = total slots."""
    settings = load_settings(env_of(dagflow_services["scheduler"]), home=tmp_path)
    slots = sum(
        int(worker_options(svc["command"])["--concurrency"])
        for svc in dagflow_services.values()
        if svc["command"][:2] == ["celery", "worker"]
    )
    assert settings.core.parallelism == slots


def test_secrets_are_required_variables_not_literals(
    dagflow_services: dict[str, dict[str, Any]], compose: dict[str, Any]
) -> None:
    env = dagflow_services["scheduler"]["environment"]
    assert re.fullmatch(r"\$\{DAGFLOW_SECRET_KEY:\?[^}]+\}", env["DAGFLOW__WEBSERVER__SECRET_KEY"])
    assert re.fullmatch(r"\$\{DAGFLOW_FERNET_KEY:\?[^}]+\}", env["DAGFLOW__CORE__FERNET_KEY"])
    assert "${POSTGRES_PASSWORD:?" in env["DAGFLOW__DATABASE__SQL_ALCHEMY_CONN"]
    assert compose["services"]["postgres"]["environment"]["POSTGRES_PASSWORD"].startswith("${POSTGRES_PASSWORD:?")


def test_env_example_defines_every_required_variable() -> None:
    code = "\n".join(line for line in COMPOSE.read_text().splitlines() if not line.lstrip().startswith("#"))
    required = {m["name"] for m in VARIABLE.finditer(code) if m["op"] == ":?"}
    example = ROOT / "docker" / "env.example"
    defined = {line.split("=", 1)[0] for line in example.read_text().splitlines() if line and not line.startswith("#")}
    assert required == {"POSTGRES_PASSWORD", "DAGFLOW_SECRET_KEY", "DAGFLOW_FERNET_KEY"}
    assert required <= defined


def test_workers_share_logs_and_storage_and_read_dags(
    dagflow_services: dict[str, dict[str, Any]], tmp_path: Path
) -> None:
    service = dagflow_services["worker-default"]
    mounts = {interpolate(volume).split(":")[1]: volume for volume in service["volumes"]}
    settings = load_settings({"DAGFLOW_HOME": "/opt/dagflow", **env_of(service)})
    assert mounts[str(settings.core.dags_folder)].endswith(":ro")
    assert mounts[str(settings.logging.base_log_folder)].startswith("logs:")
    assert settings.storage.url == "file:///opt/dagflow/storage"
    assert mounts["/opt/dagflow/storage"].startswith("storage:")


# --- Dockerfile -----------------------------------------------------------------------


def dockerfile_instructions() -> list[tuple[str, str]]:
    """(INSTRUCTION, arguments) in order, continuation lines joined, comments dropped."""
    text = re.sub(r"\\\n", " ", DOCKERFILE.read_text())
    lines = [line.strip() for line in text.splitlines()]
    return [
        (line.split(None, 1)[0].upper(), line.split(None, 1)[1]) for line in lines if line and not line.startswith("#")
    ]


def final_stage() -> list[tuple[str, str]]:
    """The instructions of the last ``FROM`` stage (the image that ships)."""
    instructions = dockerfile_instructions()
    last_from = max(i for i, (name, _) in enumerate(instructions) if name == "FROM")
    return instructions[last_from:]


def test_image_runs_as_a_non_root_user() -> None:
    users = [args for name, args in final_stage() if name == "USER"]
    assert users, "the final stage never switches user"
    assert users[-1].split(":")[0] not in {"root", "0"}


def test_entrypoint_is_exec_form_behind_tini_and_its_scripts_exist() -> None:
    stage = final_stage()
    entrypoint = json.loads(next(args for name, args in stage if name == "ENTRYPOINT"))
    assert entrypoint[:2] == ["/usr/bin/tini", "--"]
    copies = dict(reversed(args.split()) for name, args in stage if name == "COPY" and not args.startswith("--from"))
    assert copies[f"/usr/local/bin/{entrypoint[2]}"] == "docker/entrypoint.py"
    healthcheck = next(args for name, args in stage if name == "HEALTHCHECK")
    assert json.loads(healthcheck.split("CMD", 1)[1]) == ["dagflow-healthcheck"]
    assert copies["/usr/local/bin/dagflow-healthcheck"] == "docker/healthcheck.py"
    for source in copies.values():
        assert (ROOT / source).is_file(), source


def test_image_installs_postgres_and_celery_extras_on_python_311_slim() -> None:
    instructions = dockerfile_instructions()
    args = dict(arg.split("=", 1) for name, arg in instructions if name == "ARG")
    assert args["PYTHON_IMAGE"] == "python:3.11-slim"
    assert {"postgres", "celery"} <= set(args["DAGFLOW_EXTRAS"].split(","))
    assert any("[${DAGFLOW_EXTRAS}]" in arg for name, arg in instructions if name == "RUN")


def test_dag_folder_and_logs_are_volumes_matching_the_settings() -> None:
    stage = final_stage()
    env = dict(re.findall(r"(\w+)=(\S+)", " ".join(args for name, args in stage if name == "ENV")))
    volumes = set(json.loads(next(args for name, args in stage if name == "VOLUME")))
    settings = load_settings({k: v for k, v in env.items() if k.startswith("DAGFLOW")})
    assert str(settings.home) == env["DAGFLOW_HOME"]
    assert {str(settings.core.dags_folder), str(settings.logging.base_log_folder)} <= volumes


def test_dockerignore_keeps_secrets_and_git_out_of_the_build_context() -> None:
    ignored = set((ROOT / ".dockerignore").read_text().split())
    assert {".git", ".env", ".venv"} <= ignored
    copied = {
        args.split()[0] for name, args in dockerfile_instructions() if name == "COPY" and not args.startswith("--from")
    }
    assert not copied & ignored


# --- docker/entrypoint.py -------------------------------------------------------------


class Execed(Exception):
    """Raised by the fake ``os.execvp``: the process would have become the command here."""


@pytest.fixture
def entrypoint(monkeypatch: pytest.MonkeyPatch) -> tuple[ModuleType, list[Any]]:
    """The entrypoint module with ``exec`` and the DB preparation recorded, not done."""
    module = load_module("entrypoint")
    calls: list[Any] = []

    def execvp(file: str, argv: list[str]) -> None:
        calls.append(("exec", file, argv))
        raise Execed  # the real one never returns

    monkeypatch.setattr(module.os, "execvp", execvp)
    monkeypatch.setattr(module, "prepare_database", lambda *, migrate: calls.append(("db", migrate)))
    return module, calls


@pytest.mark.parametrize(
    ("argv", "expected"),
    [
        (["scheduler"], ["dagflow", "scheduler"]),
        (["dagflow", "dag-processor"], ["dagflow", "dag-processor"]),
        (["celery", "worker", "--queues", "gpu"], ["dagflow", "celery", "worker", "--queues", "gpu"]),
        (["db", "migrate"], ["dagflow", "db", "migrate"]),
    ],
)
def test_entrypoint_waits_for_the_db_then_execs_dagflow(
    entrypoint: tuple[ModuleType, list[Any]], monkeypatch: pytest.MonkeyPatch, argv: list[str], expected: list[str]
) -> None:
    module, calls = entrypoint
    monkeypatch.delenv("DAGFLOW_DB_MIGRATE", raising=False)
    with pytest.raises(Execed):
        module.main(argv)
    assert calls == [("db", False), ("exec", "dagflow", expected)]


def test_entrypoint_migrates_when_asked(
    entrypoint: tuple[ModuleType, list[Any]], monkeypatch: pytest.MonkeyPatch
) -> None:
    module, calls = entrypoint
    monkeypatch.setenv("DAGFLOW_DB_MIGRATE", "true")
    with pytest.raises(Execed):
        module.main(["scheduler"])
    assert calls[0] == ("db", True)


@pytest.mark.parametrize("argv", [["bash", "-lc", "id"], ["python", "-V"], ["scheduler", "--help"], ["--version"]])
def test_shells_and_help_do_not_touch_the_db(entrypoint: tuple[ModuleType, list[Any]], argv: list[str]) -> None:
    module, calls = entrypoint
    with pytest.raises(Execed):
        module.main(argv)
    assert [call[0] for call in calls] == ["exec"]


class FlakyDatabase:
    """Refuses ``failures`` connections (with ``error``), then answers."""

    def __init__(self, failures: int, error: Exception | None = None) -> None:
        self.failures = failures
        self.error = error or DatabaseError("cannot connect to the metadata database: connection refused")
        self.attempts = 0

    def current_revision(self) -> str:
        self.attempts += 1
        if self.attempts <= self.failures:
            raise self.error
        return "0001"


#: What psycopg says while the DB container is not on the network yet (dagflow's
#: DatabaseError does not cover it, so the entrypoint must).
UNRESOLVED = OperationalError("SELECT 1", None, Exception("failed to resolve host 'postgres'"))


@pytest.mark.parametrize("error", [None, UNRESOLVED], ids=["refused", "unresolved"])
def test_wait_for_retries_until_the_db_answers(
    monkeypatch: pytest.MonkeyPatch, error: Exception | None, capsys: pytest.CaptureFixture[str]
) -> None:
    module = load_module("entrypoint")
    monkeypatch.setattr(module.time, "sleep", lambda _: None)
    database = FlakyDatabase(failures=3, error=error)
    module.wait_for(database, timeout=60)
    assert database.attempts == 4
    assert capsys.readouterr().err.count("dagflow-entrypoint: waiting for the metadata database: ") == 1


def test_prepare_database_gives_up_on_an_unreachable_db(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    module = load_module("entrypoint")
    monkeypatch.setenv("DAGFLOW_HOME", str(tmp_path))
    monkeypatch.setenv("DAGFLOW__DATABASE__SQL_ALCHEMY_CONN", "postgresql+psycopg://u@127.0.0.1:1/nodb")
    monkeypatch.setenv("DAGFLOW_DB_WAIT_TIMEOUT", "0")
    with pytest.raises(SystemExit) as exited:
        module.prepare_database(migrate=False)
    assert exited.value.code == 1
    last = capsys.readouterr().err.splitlines()[-1]
    assert last.startswith("dagflow-entrypoint: Error: gave up after 0s: ")


def test_wait_for_gives_up_with_one_line(monkeypatch: pytest.MonkeyPatch) -> None:
    module = load_module("entrypoint")
    monkeypatch.setattr(module.time, "sleep", lambda _: None)
    with pytest.raises(DatabaseError, match=r"^gave up after 0s: cannot connect"):
        module.wait_for(FlakyDatabase(failures=10**6), timeout=0)


def test_prepare_database_migrates_a_fresh_sqlite_db(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    module = load_module("entrypoint")
    monkeypatch.setenv("DAGFLOW_HOME", str(tmp_path))
    module.prepare_database(migrate=True)
    database = Database(load_settings({"DAGFLOW_HOME": str(tmp_path)}))
    assert database.current_revision() == database.head_revision()
    database.dispose()


def test_prepare_database_reports_a_bad_setting_in_one_line(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    module = load_module("entrypoint")
    monkeypatch.setenv("DAGFLOW_HOME", str(tmp_path))
    monkeypatch.setenv("DAGFLOW__CORE__PARALLELISM", "many")
    with pytest.raises(SystemExit) as exited:
        module.prepare_database(migrate=False)
    assert exited.value.code == 1
    assert capsys.readouterr().err == ("dagflow-entrypoint: Error: core.parallelism: expected int, got 'many'\n")


# --- docker/healthcheck.py ------------------------------------------------------------


def test_healthcheck_reads_the_command_after_the_entrypoint() -> None:
    module = load_module("healthcheck")
    cmdline = b"/usr/bin/tini\0--\0dagflow-entrypoint\0dagflow\0scheduler\0-n\0003\0"
    assert module.container_command(cmdline) == ["scheduler", "-n", "3"]
    assert module.container_command(b"postgres\0-D\0/data\0") == []


def _add_job(db: Database, *, job_type: str, hostname: str, age: timedelta) -> None:
    with db.transaction() as session:
        session.add(
            Job(
                job_type=job_type, state=JOB_RUNNING, hostname=hostname, pid=1, latest_heartbeat=datetime.now(UTC) - age
            )
        )


def test_healthcheck_scheduler_alive_by_its_own_heartbeat(db: Database) -> None:
    module = load_module("healthcheck")
    env = {"DAGFLOW_HOME": str(db.settings.home)}
    with pytest.raises(SystemExit, match="no running scheduler job"):
        module.check("scheduler", env)
    _add_job(db, job_type="scheduler", hostname="another-host", age=timedelta(seconds=1))
    with pytest.raises(SystemExit, match="no running scheduler job"):
        module.check("scheduler", env)
    _add_job(db, job_type="scheduler", hostname=this_host(), age=timedelta(minutes=10))
    with pytest.raises(SystemExit, match="last heartbeat 600s ago"):
        module.check("scheduler", env)
    _add_job(db, job_type="scheduler", hostname=this_host(), age=timedelta(seconds=2))
    assert module.check("scheduler", env).startswith("scheduler: heartbeat")


def test_healthcheck_dag_processor_and_other_commands(db: Database) -> None:
    module = load_module("healthcheck")
    env = {"DAGFLOW_HOME": str(db.settings.home)}
    _add_job(db, job_type="dag_processor", hostname=this_host(), age=timedelta(seconds=1))
    assert module.check("dag-processor", env).startswith("dag-processor: heartbeat")
    assert module.check("celery", env) == "celery: healthy while it runs"
