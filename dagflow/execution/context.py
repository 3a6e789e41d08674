"""Build the task context (internals §2) for one claimed try.

Plain values come from the claimed task instance, its DAG run and the DAG; variables
and connections are looked up lazily through the runtime backend when a template or
task reads ``var.value.X`` / ``var.json.X`` / ``conn.X``. ``conf`` is a read-only view
of the settings whose secrets read ``***`` (``dagflow.secrets.settings_view``).
"""

from __future__ import annotations

import copy
import importlib
from datetime import datetime
from typing import TYPE_CHECKING, Any

import pendulum

from dagflow.exceptions import ConnectionNotFound, VariableNotFound
from dagflow.sdk.params import ParamsDict
from dagflow.sdk.task_state import AssetStateStores, TaskStateStore
from dagflow.secrets.settings_view import SettingsView

if TYPE_CHECKING:
    from dagflow.execution.claim import ClaimedTry
    from dagflow.execution.runtime_ti import RuntimeTaskInstance
    from dagflow.sdk.runtime import RuntimeBackend
    from dagflow.storage.internal import InternalStorage

Context = dict[str, Any]


class VariableAccessor:
    """``var.value.X`` / ``var.json.X`` in templates; ``.get(key, default)`` too."""

    def __init__(self, backend: RuntimeBackend, *, deserialize_json: bool) -> None:
        self._backend = backend
        self._json = deserialize_json

    def __getattr__(self, key: str) -> Any:
        if key.startswith("_"):
            raise AttributeError(key)
        return self._backend.get_variable(key, deserialize_json=self._json)

    def __getitem__(self, key: str) -> Any:
        return self._backend.get_variable(key, deserialize_json=self._json)

    def get(self, key: str, default: Any = None) -> Any:
        """The variable, or ``default`` if it does not exist."""
        try:
            return self._backend.get_variable(key, deserialize_json=self._json)
        except VariableNotFound:
            return default


class ConnectionView:
    """A connection read in a task: attributes (``host``, ``login``, …) and ``get_uri()``."""

    def __init__(self, fields: dict[str, Any]) -> None:
        self._fields = dict(fields)

    def __getattr__(self, name: str) -> Any:
        if name.startswith("_") or name not in self._fields:
            raise AttributeError(name)
        return self._fields[name]

    def __getitem__(self, name: str) -> Any:
        return self._fields[name]

    @property
    def extra_dejson(self) -> dict[str, Any]:
        """The extras as a dict (Airflow's name)."""
        return dict(self._fields.get("extra") or {})

    def get_uri(self) -> str:
        """The connection as a URI."""
        return str(self._fields.get("uri") or "")

    def __repr__(self) -> str:
        return f"<Connection {self._fields.get('conn_id')!r} {self._fields.get('conn_type')!r}>"


class ConnectionAccessor:
    """``conn.X`` in templates; ``.get(conn_id, default)`` too."""

    def __init__(self, backend: RuntimeBackend) -> None:
        self._backend = backend

    def __getattr__(self, conn_id: str) -> ConnectionView:
        if conn_id.startswith("_"):
            raise AttributeError(conn_id)
        return ConnectionView(dict(self._backend.get_connection(conn_id)))

    def __getitem__(self, conn_id: str) -> ConnectionView:
        return ConnectionView(dict(self._backend.get_connection(conn_id)))

    def get(self, conn_id: str, default: Any = None) -> Any:
        """The connection, or ``default`` if it does not exist."""
        try:
            return self[conn_id]
        except ConnectionNotFound:
            return default


def date_values(logical_date: datetime) -> dict[str, Any]:
    """``logical_date`` (pendulum, UTC) and ``ds``, ``ds_nodash``, ``ts``, ``ts_nodash``, ``ts_nodash_with_tz``;
    also Airflow 2's ``execution_date``, ``yesterday_ds``/``tomorrow_ds`` (and their ``_nodash`` forms)."""
    when = pendulum.instance(logical_date).in_timezone("UTC")
    yesterday, tomorrow = when.subtract(days=1), when.add(days=1)
    return {
        "logical_date": when,
        "execution_date": when,
        "ds": when.strftime("%Y-%m-%d"),
        "ds_nodash": when.strftime("%Y%m%d"),
        "ts": when.isoformat(),
        "ts_nodash": when.strftime("%Y%m%dT%H%M%S"),
        "ts_nodash_with_tz": when.isoformat().replace("-", "").replace(":", ""),
        "yesterday_ds": yesterday.strftime("%Y-%m-%d"),
        "yesterday_ds_nodash": yesterday.strftime("%Y%m%d"),
        "tomorrow_ds": tomorrow.strftime("%Y-%m-%d"),
        "tomorrow_ds_nodash": tomorrow.strftime("%Y%m%d"),
    }


def _pendulum(value: datetime | None) -> pendulum.DateTime | None:
    return None if value is None else pendulum.instance(value).in_timezone("UTC")


def warm_imports() -> None:
    """Import what contexts use lazily, so forked task processes find it already loaded.

    ``jinja2.ext`` is imported by every template environment (``jinja2.ext.do``); left
    to the task process, that import alone costs ~20 ms of every try. Once per process
    (and so not again in a worker, which calls this before each fork of a task process),
    a template environment is built and one template rendered, both kinds (plain and
    native): the installed plugins' entry points (their metadata, read for their filters),
    Jinja's lexer for dagflow's settings and its compiler's first use are then inherited by
    every worker forked after, instead of each worker's first try paying for them (~12-20
    ms). The plugins' filters themselves are not imported here (in the scheduler or the
    Celery worker's main process): a plugin's import-time side effects (a client, a thread)
    happen in the process that uses it, after the fork.
    """
    global _templates_warmed
    _macros()
    importlib.import_module("jinja2.ext")
    if _templates_warmed:
        return
    from dagflow import plugins
    from dagflow.sdk.templating import create_template_env, render_value

    plugins.warm()
    for native in (False, True):
        render_value(
            "{{ ds }} {{ params.x | default('') }}",
            {"ds": "", "params": {}},
            create_template_env(native=native, plugin_filters=False),
        )
    _templates_warmed = True


#: True once ``warm_imports`` built and rendered its template environments in this process
#: (or in the process this one was forked from).
_templates_warmed = False


def _macros() -> Any:
    try:
        return importlib.import_module("dagflow.sdk.macros")
    except ImportError:
        return None


def resolve_params(task: Any, dag: Any, conf: dict[str, Any], *, conf_overrides_params: bool = True) -> dict[str, Any]:
    """The run's params: DAG params, then the task's, overridden by the run conf, validated.

    With ``conf_overrides_params=False`` (``core.dag_run_conf_overrides_params``) the conf is
    left out, as in Airflow: tasks read it from ``dag_run.conf`` only. The DAG's ``Param``
    schemas are kept even where the task holds a plain copy of them.
    """
    conf = conf if conf_overrides_params else {}
    dag_params, task_params = getattr(dag, "params", None), getattr(task, "params", None)
    if not isinstance(dag_params, ParamsDict):
        return {**dict(dag_params or {}), **dict(task_params or {}), **conf}
    merged = copy.copy(dag_params)
    if isinstance(task_params, ParamsDict):
        for name, param in task_params.items_params():
            if name in merged and not param.schema:
                if param.value != merged[name]:
                    merged[name] = param.value  # keeps the DAG param's schema
            else:
                merged[name] = param
    return merged.resolve(conf)


def build_context(
    claimed: ClaimedTry,
    *,
    dag: Any,
    task: Any,
    ti: RuntimeTaskInstance,
    backend: RuntimeBackend,
    storage: InternalStorage,
    settings: Any,
    test_mode: bool = False,
) -> Context:
    """The context dict handed to templates, ``execute`` and callbacks."""
    run = claimed.run
    prev_success = run.prev_success_interval
    context: Context = dict(getattr(dag, "user_defined_macros", None) or {})
    context.update(date_values(run.logical_date))
    context.update(
        {
            "dag": dag,
            "task": task,
            "ti": ti,
            "task_instance": ti,
            "dag_run": run,
            "run_id": run.run_id,
            "data_interval_start": _pendulum(run.data_interval_start or run.logical_date),
            "data_interval_end": _pendulum(run.data_interval_end or run.logical_date),
            "prev_data_interval_start_success": _pendulum(prev_success[0]),
            "prev_data_interval_end_success": _pendulum(prev_success[1]),
            "params": resolve_params(
                task, dag, run.conf, conf_overrides_params=settings.core.dag_run_conf_overrides_params
            ),
            "var": {
                "value": VariableAccessor(backend, deserialize_json=False),
                "json": VariableAccessor(backend, deserialize_json=True),
            },
            "conn": ConnectionAccessor(backend),
            "macros": _macros(),
            "conf": SettingsView(settings),
            "storage": storage,
            "try_number": claimed.try_number,
            "map_index": claimed.map_index,
            "task_instance_key_str": f"{claimed.dag_id}__{claimed.task_id}__{context['ds_nodash']}",
            "task_state_store": TaskStateStore(claimed.dag_id, claimed.run_id, claimed.task_id, claimed.map_index),
            "asset_state_store": AssetStateStores(
                [*(getattr(task, "inlets", None) or []), *(getattr(task, "outlets", None) or [])]
            ),
            "run_after": _pendulum(getattr(run, "run_after", None) or run.logical_date),
            "test_mode": test_mode,
        }
    )
    return context
