"""Settings: built-in defaults < ``$DAGFLOW_HOME/dagflow.toml`` < ``DAGFLOW__SECTION__KEY``.

Load them once at an entry point with ``load_settings()`` and pass the result down;
nothing in dagflow reads configuration at import time. A bad value raises
``ConfigError`` with one line naming the key, the value and what was expected.
"""

from __future__ import annotations

import dataclasses
import os
import tomllib
from collections.abc import Mapping
from dataclasses import dataclass, field, fields
from pathlib import Path
from typing import Any, get_type_hints

from dagflow.exceptions import ConfigError, DagDefinitionError
from dagflow.plugins import executor_names
from dagflow.sdk.timezone import parse_timezone

ENV_PREFIX = "DAGFLOW__"
#: ``core.dag_ignore_file_syntax`` values (Airflow's): see ``dag_processing/ignore.py``.
DAG_IGNORE_FILE_SYNTAXES = ("glob", "regexp")


@dataclass(frozen=True)
class CoreSettings:
    """``[core]``: where DAGs live and how much runs at once."""

    dags_folder: Path = Path("dags")
    executor: str = "LocalExecutor"
    parallelism: int = 32
    max_active_tasks_per_dag: int = 16
    max_active_runs_per_dag: int = 16
    load_examples: bool = True
    dags_are_paused_at_creation: bool = True
    #: The zone of naive start_date/end_date in DAG files: an IANA name, "UTC" or "system".
    default_timezone: str = "UTC"
    max_xcom_size: int = 65536
    killed_task_cleanup_time: float = 10.0
    #: Tries one task process runs in sequence (same DAG file version) before a fresh one is
    #: forked; 1 forks a fresh process for every try, 0 means no limit (execution/reused_process.py).
    max_tries_per_child: int = 100
    #: A reused task process above this resident memory (MB) runs no further try.
    max_memory_per_child_mb: int = 512
    #: Seconds a LocalExecutor worker waits for work before it exits (0: never); workers are
    #: forked on demand, up to ``parallelism``, so a quiet scheduler holds none (executors/local.py).
    worker_idle_timeout: float = 30.0
    #: Tries one LocalExecutor worker process supervises at once (one thread, a *lane*, per
    #: try, each try in its own task process); 1 runs a worker process per try (executors/local.py).
    tries_per_worker: int = 8
    default_task_retries: int = 0
    #: Fernet keys that encrypt connection passwords/extras and variables, comma-separated,
    #: newest first. Empty: the keys in ``$DAGFLOW_HOME/fernet.key`` (created on first need).
    fernet_key: str = ""
    #: More key names (comma-separated) whose connection extras and variables are secrets,
    #: besides the built-in ones (password, secret, token, api_key, ...).
    sensitive_var_conn_names: str = ""
    #: A trigger's conf overrides the DAG's params in the task context (Airflow's name and default).
    dag_run_conf_overrides_params: bool = True
    #: How ``.airflowignore`` / ``.dagflowignore`` lines are read: "glob" (.gitignore style) or "regexp".
    dag_ignore_file_syntax: str = "glob"


@dataclass(frozen=True)
class DatabaseSettings:
    """``[database]``: the metadata database."""

    sql_alchemy_conn: str = ""
    pool_size: int = 5
    max_overflow: int = 10
    sqlite_busy_timeout: float = 30.0
    echo: bool = False
    #: Seconds a long-running component (scheduler, DAG processor, triggerer, webserver,
    #: standalone) keeps retrying at its start while the metadata DB server is away.
    startup_wait_timeout: float = 60.0


@dataclass(frozen=True)
class SchedulerSettings:
    """``[scheduler]``: the loop, the DAG processor, the reaper and the SLA checker."""

    heartbeat_interval: float = 5.0
    heartbeat_timeout: float = 300.0
    task_queued_timeout: float = 600.0
    max_queued_resends: int = 2
    max_infra_retries: int = 2
    check_slas: bool = True
    parsing_timeout: float = 30.0
    parsing_processes: int = 2
    parsing_memory_limit_mb: int = 400
    #: DAG files one parsing process imports before it is replaced (1: a fresh process per file).
    parsing_files_per_process: int = 100
    min_file_process_interval: float = 30.0
    dag_dir_list_interval: float = 60.0
    #: Watch the DAG folders (filesystem events, else polling folder mtimes) to list them again at once.
    watch_dag_folders: bool = True
    poll_interval: float = 1.0
    max_tis_per_query: int = 512
    #: Queue by priority tier, then run age, then the weight rule's total; False: Airflow's order (the total first).
    older_runs_first: bool = True
    #: Mark a trivial ``EmptyOperator`` success instead of queueing it (Airflow's behaviour); False: send it.
    finish_empty_operators: bool = True
    standalone_dag_processor: bool = False


@dataclass(frozen=True)
class CelerySettings:
    """``[celery]``: the CeleryExecutor and its workers."""

    broker_url: str = "redis://127.0.0.1:6379/0"
    worker_concurrency: int = 8
    default_queue: str = "default"
    visibility_timeout: float = 21600.0
    #: Port on which a worker serves its task logs to readers on other hosts (0 = off).
    worker_log_server_port: int = 8793
    #: Address the log server binds: 0.0.0.0 (or the worker's address) when readers run on other hosts.
    worker_log_server_host: str = "127.0.0.1"
    #: Seconds a SIGTERMed worker lets running tries finish before terminating them.
    worker_shutdown_grace: float = 30.0
    #: Workers answer Celery's remote control (``inspect``, Flower's worker pages). Off: on Redis its
    #: pubsub channel made a worker exit when the broker restarted (docs/celery.md, "Flower").
    worker_enable_remote_control: bool = False
    flower_port: int = 5555


@dataclass(frozen=True)
class StorageSettings:
    """``[storage]``: internal storage for files and large XComs."""

    url: str = ""


@dataclass(frozen=True)
class WebserverSettings:
    """``[webserver]``: the Flask UI and the REST API."""

    host: str = "127.0.0.1"
    port: int = 8080
    secret_key: str = ""
    workers: int = 4
    #: Send the session cookie only over https (Airflow's ``cookie_secure``): set it behind TLS.
    cookie_secure: bool = False


@dataclass(frozen=True)
class ApiSettings:
    """``[api]``: the REST API (Airflow's names where it has them)."""

    #: Largest accepted ``conf`` of a triggered run, in bytes of JSON.
    max_conf_bytes: int = 65536
    #: Page size when a list request gives no ``limit``, and the largest ``limit`` honoured.
    fallback_page_limit: int = 50
    maximum_page_limit: int = 100
    #: Lifetime of a token from ``POST /auth/token``, in seconds (Airflow's ``jwt_expiration_time``).
    access_token_expiration_time: int = 86400
    #: Requests per client address to ``POST /auth/token`` (Flask-Limiter syntax).
    login_rate_limit: str = "10 per minute"


@dataclass(frozen=True)
class LoggingSettings:
    """``[logging]``: task and component logs."""

    base_log_folder: Path = Path("logs")
    level: str = "INFO"


@dataclass(frozen=True)
class TriggererSettings:
    """``[triggerer]``: the process that runs deferred tasks' triggers."""

    #: Most triggers one triggerer runs at once (Airflow's ``triggerer.capacity``).
    capacity: int = 1000
    #: Whether ``dagflow standalone`` starts a triggerer.
    standalone_triggerer: bool = True


@dataclass(frozen=True)
class Settings:
    """All of dagflow's configuration, resolved against ``home``."""

    home: Path
    core: CoreSettings = field(default_factory=CoreSettings)
    database: DatabaseSettings = field(default_factory=DatabaseSettings)
    scheduler: SchedulerSettings = field(default_factory=SchedulerSettings)
    celery: CelerySettings = field(default_factory=CelerySettings)
    storage: StorageSettings = field(default_factory=StorageSettings)
    webserver: WebserverSettings = field(default_factory=WebserverSettings)
    api: ApiSettings = field(default_factory=ApiSettings)
    logging: LoggingSettings = field(default_factory=LoggingSettings)
    triggerer: TriggererSettings = field(default_factory=TriggererSettings)

    def replace(self, **sections: Any) -> Settings:
        """A copy with some values changed: ``replace(core={"parallelism": 4})``."""
        changed = {name: dataclasses.replace(getattr(self, name), **values) for name, values in sections.items()}
        return dataclasses.replace(self, **changed)


SECTIONS: dict[str, type] = {
    f.name: f.default_factory  # type: ignore[misc]
    for f in fields(Settings)
    if f.name != "home"
}


def default_home(env: Mapping[str, str]) -> Path:
    """``$DAGFLOW_HOME``, or ``~/dagflow``."""
    raw = env.get("DAGFLOW_HOME") or str(Path.home() / "dagflow")
    return Path(raw).expanduser().resolve()


def load_settings(env: Mapping[str, str] | None = None, *, home: Path | None = None) -> Settings:
    """Read defaults, the TOML file and the environment into one ``Settings``."""
    env = os.environ if env is None else env
    home = home or default_home(env)
    layers = _read_toml(home / "dagflow.toml")
    _merge_env(layers, env)
    sections = {name: _build_section(name, cls, layers.pop(name, {})) for name, cls in SECTIONS.items()}
    if layers:
        raise ConfigError(f"unknown configuration section [{sorted(layers)[0]}]")
    return _resolve_paths(Settings(home=home, **sections))


def _read_toml(path: Path) -> dict[str, dict[str, Any]]:
    if not path.exists():
        return {}
    try:
        data = tomllib.loads(path.read_text())
    except (tomllib.TOMLDecodeError, OSError) as exc:
        raise ConfigError(f"{path}: {exc}") from None
    for name, value in data.items():
        if not isinstance(value, dict):
            raise ConfigError(f"{path}: '{name}' must be a [section] table")
    return {name: dict(value) for name, value in data.items()}


def _merge_env(layers: dict[str, dict[str, Any]], env: Mapping[str, str]) -> None:
    for name, value in env.items():
        if not name.startswith(ENV_PREFIX):
            continue
        section, _, key = name[len(ENV_PREFIX) :].lower().partition("__")
        if not key:
            raise ConfigError(f"{name}: expected DAGFLOW__SECTION__KEY")
        layers.setdefault(section, {})[key] = value


def _build_section(name: str, cls: type, values: dict[str, Any]) -> Any:
    hints = get_type_hints(cls)
    known = {f.name for f in fields(cls)}
    unknown = sorted(set(values) - known)
    if unknown:
        raise ConfigError(f"unknown configuration key {name}.{unknown[0]}")
    coerced = {key: _coerce(f"{name}.{key}", hints[key], raw) for key, raw in values.items()}
    return _validate(name, cls(**coerced))


def _coerce(key: str, kind: Any, raw: Any) -> Any:
    try:
        if kind is bool:
            return _to_bool(raw)
        if kind is int and not isinstance(raw, bool):
            return int(raw)
        if kind is float and not isinstance(raw, bool):
            return float(raw)
        if kind is Path:
            return Path(str(raw)).expanduser()
        if kind is str:
            return str(raw)
    except (TypeError, ValueError):
        pass
    raise ConfigError(f"{key}: expected {getattr(kind, '__name__', kind)}, got {raw!r}")


def _to_bool(raw: Any) -> bool:
    if isinstance(raw, bool):
        return raw
    text = str(raw).strip().lower()
    if text in {"1", "true", "yes", "on"}:
        return True
    if text in {"0", "false", "no", "off"}:
        return False
    raise ValueError(raw)


def _validate(name: str, section: Any) -> Any:
    if name == "core":
        names = executor_names()
        if section.executor not in names:
            raise ConfigError(f"core.executor: expected one of {', '.join(names)}, got {section.executor!r}")
        if section.dag_ignore_file_syntax not in DAG_IGNORE_FILE_SYNTAXES:
            raise ConfigError(
                f"core.dag_ignore_file_syntax: expected one of {', '.join(DAG_IGNORE_FILE_SYNTAXES)},"
                f" got {section.dag_ignore_file_syntax!r}"
            )
        if section.parallelism < 1:
            raise ConfigError(f"core.parallelism: must be at least 1, got {section.parallelism}")
        if section.tries_per_worker < 1:
            raise ConfigError(f"core.tries_per_worker: must be at least 1, got {section.tries_per_worker}")
        try:
            parse_timezone(section.default_timezone)
        except DagDefinitionError:
            raise ConfigError(
                f"core.default_timezone: unknown time zone {section.default_timezone!r};"
                " expected an IANA name such as 'Europe/Paris', or 'UTC' or 'system'"
            ) from None
    if name == "api" and min(section.max_conf_bytes, section.fallback_page_limit, section.maximum_page_limit) < 1:
        raise ConfigError("api.max_conf_bytes, api.fallback_page_limit and api.maximum_page_limit must be at least 1")
    if name == "logging" and section.level.upper() not in _LOG_LEVELS:
        raise ConfigError(f"logging.level: expected one of {', '.join(_LOG_LEVELS)}, got {section.level!r}")
    return section


_LOG_LEVELS = ("DEBUG", "INFO", "WARNING", "ERROR", "CRITICAL")


def _resolve_paths(settings: Settings) -> Settings:
    home = settings.home
    core = dataclasses.replace(settings.core, dags_folder=_under(home, settings.core.dags_folder))
    logging_ = dataclasses.replace(settings.logging, base_log_folder=_under(home, settings.logging.base_log_folder))
    database = settings.database
    if not database.sql_alchemy_conn:
        database = dataclasses.replace(database, sql_alchemy_conn=f"sqlite:///{home / 'dagflow.db'}")
    storage = settings.storage
    if not storage.url:
        storage = dataclasses.replace(storage, url=(home / "storage").as_uri())
    return dataclasses.replace(settings, core=core, logging=logging_, database=database, storage=storage)


def _under(home: Path, path: Path) -> Path:
    return path if path.is_absolute() else (home / path).resolve()


def example_dags_folder() -> Path | None:
    """The example DAGs shipped with dagflow (wheel) or beside the source tree (editable)."""
    package = Path(__file__).resolve().parent
    for candidate in (package / "_example_dags", package.parent / "dags_example"):
        if candidate.is_dir():
            return candidate
    return None


def dag_folders(settings: Settings) -> list[Path]:
    """The folders scanned for DAG files: ``core.dags_folder`` and, if enabled, the examples."""
    folders = [settings.core.dags_folder]
    examples = example_dags_folder()
    if settings.core.load_examples and examples is not None:
        folders.append(examples)
    return folders


def in_dag_folders(settings: Settings, path: str | Path) -> bool:
    """True if ``path`` (symlinks resolved) is a file strictly below one of the DAG folders.

    Plain string work on the resolved paths (a worker asks before every try).
    """
    target = os.path.realpath(path)
    for folder in dag_folders(settings):
        prefix = os.path.join(os.path.realpath(folder), "")
        if target.startswith(prefix) and len(target) > len(prefix):
            return True
    return False
