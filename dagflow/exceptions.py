"""The dagflow error tree: every error dagflow raises on purpose is a ``DagflowError``.

Builtins are subclassed where the meaning matches, so ``except LookupError`` still works.
Task-control exceptions (``SkipTask``, ``FailTask``, ``TaskRescheduled``, ``TaskTimeout``)
are raised inside ``execute()`` and tell the runner how the try ends.
"""

from __future__ import annotations

from datetime import datetime, timedelta
from typing import Any


class DagflowError(Exception):
    """Root of every error dagflow raises on purpose."""


# --- kinds: what went wrong, for any caller (the CLI maps them to exit codes, the API to HTTP) ---
class InvalidInput(DagflowError, ValueError):
    """The caller's input is wrong (a bad id, conf, date, regex, state...): CLI exit 2, HTTP 422."""


class Conflict(DagflowError):
    """The request clashes with the current state (exists already, not waiting, in use): HTTP 409."""


class PermissionDenied(DagflowError, PermissionError):
    """The caller may not do this (role, DAG access control): HTTP 403."""


class NotAuthenticated(DagflowError):
    """No valid credentials (wrong password, unknown, expired or revoked token, inactive user): HTTP 401."""


# --- configuration and input --------------------------------------------------------
class ConfigError(DagflowError, ValueError):
    """A configuration value is missing or invalid; the message names the key."""


class InvalidDuration(InvalidInput):
    """A duration is neither a timedelta nor an ISO-8601 duration string."""


class ParamValidationError(InvalidInput):
    """A DAG param value does not match its declared schema."""


class InvalidConf(ParamValidationError):
    """A run's conf is not a JSON object or breaks one of the DAG's params; the message names the param."""


class TemplateError(DagflowError, ValueError):
    """A Jinja template failed to render."""


# --- authoring ----------------------------------------------------------------------
class DagDefinitionError(DagflowError, ValueError):
    """A DAG or task is defined wrongly (duplicate task id, bad argument, ...)."""


class DuplicateTaskIdFound(DagDefinitionError):
    """Two tasks in one DAG share a task id."""


class DagCycleError(DagDefinitionError):
    """The task dependencies form a cycle; the message names it (``a -> b -> a``)."""


class DagImportError(DagflowError):
    """A DAG file could not be imported; carries the file, line and message."""

    def __init__(self, filename: str, message: str, lineno: int | None = None) -> None:
        self.filename = filename
        self.message = message
        self.lineno = lineno
        where = f"{filename}:{lineno}" if lineno else filename
        super().__init__(f"{where}: {message}")


# --- lookups ------------------------------------------------------------------------
class NotFound(DagflowError, LookupError):
    """Something named does not exist: HTTP 404."""


class DagNotFound(NotFound):
    """No DAG with that id."""


class PluginNotFound(NotFound):
    """No entry point of that name in a ``dagflow.*`` plugin group."""


class TaskNotFound(NotFound):
    """No task with that id in the DAG."""


class DagRunNotFound(NotFound):
    """No DAG run with that id."""


class TaskInstanceNotFound(NotFound):
    """No task instance with that key."""


class PoolNotFound(NotFound):
    """No pool with that name."""


class VariableNotFound(NotFound):
    """No variable with that key."""


class ConnectionNotFound(NotFound):
    """No connection with that id."""


class EventLogNotFound(NotFound):
    """No audit event with that id."""


class InvalidIdentifier(InvalidInput):
    """A DAG, task or run id that breaks the id rule (``dagflow.sdk.ids``)."""


class AlreadyExists(Conflict, ValueError):
    """Something with that name or id exists already (a run id, a pool, ...)."""


class DagRunAlreadyExists(AlreadyExists):
    """A DAG run with that run id (or logical date) exists already."""


# --- state machine and storage --------------------------------------------------------
class StateStoreConflict(Conflict):
    """A state store compare-and-set lost: the key's version is not the expected one."""

    def __init__(self, message: str, *, namespace: str = "", key: str = "", expected: int = 0, actual: int = 0) -> None:
        super().__init__(message)
        self.namespace, self.key, self.expected, self.actual = namespace, key, expected, actual


class InvalidTransition(DagflowError, RuntimeError):
    """A state change that the transition table in ``dagflow.state`` does not allow."""


class DatabaseError(DagflowError, RuntimeError):
    """The metadata database is unreachable, not migrated, or out of date."""


class StorageError(DagflowError, OSError):
    """Internal storage could not read or write an object."""


class FernetKeyError(DagflowError, ValueError):
    """A fernet key is missing or malformed, or does not decrypt a stored secret; one line naming it."""


class XComError(DagflowError, ValueError):
    """An XCom value cannot be stored or read (not JSON-serializable, missing, ...)."""


# --- task control (raised in execute(), handled by the runner) ------------------------
class TaskControl(DagflowError):
    """Base of exceptions that end a try in a particular state."""


class SkipTask(TaskControl):
    """End the try as ``skipped``."""


class FailTask(TaskControl):
    """End the try as ``failed`` without using the remaining retries."""


class TaskRescheduled(TaskControl):
    """End the try as ``up_for_reschedule``; it is scheduled again at ``reschedule_date``."""

    def __init__(self, reschedule_date: datetime) -> None:
        self.reschedule_date = reschedule_date
        super().__init__(f"rescheduled for {reschedule_date.isoformat()}")


class TaskDeferred(TaskControl):
    """End the try as ``deferred``: ``trigger`` runs in the triggerer; the task resumes in ``method_name``."""

    def __init__(
        self,
        *,
        trigger: Any,
        method_name: str,
        kwargs: dict[str, Any] | None = None,
        timeout: timedelta | None = None,
    ) -> None:
        self.trigger = trigger
        self.method_name = method_name
        self.kwargs = dict(kwargs or {})
        self.timeout = timeout
        super().__init__(f"deferred to {type(trigger).__name__}, resuming in {method_name}")


class TaskDeferralError(DagflowError):
    """A deferral cannot be recorded or resumed (a trigger that cannot be serialized, a missing method)."""


class TaskDeferralTimeout(TaskControl):
    """A deferred task's trigger did not fire within its ``timeout`` (retries apply)."""


class TaskTimeout(TaskControl):
    """The try ran past its ``execution_timeout`` (retries apply)."""


class SensorTimeout(FailTask):
    """A sensor ran past its ``timeout``; fails without retry unless ``soft_fail``."""


# Airflow-compatible aliases, so ported DAG files keep working.
AirflowSkipException = SkipTask
AirflowFailException = FailTask
