"""The one rule for identifiers, whatever entry point they come from (SDK, CLI, API, UI, broker).

``dag_id``, ``task_id`` and group ids: ASCII letters, digits, ``_``, ``.``, ``-``; 1 to 250
characters. A ``run_id`` given by a person or a DAG also allows ``~ : +`` (Airflow's
``allowed_run_id_pattern`` default, so ``manual__2024-01-01T00:00:00+00:00`` passes), 1 to 250
characters. Nothing else gets in: an id never contains ``/``, a space or a NUL, so one
cannot leave the folder it names (logs, storage) or break a URL.
"""

from __future__ import annotations

import re
from typing import Any

from dagflow.exceptions import DagDefinitionError, InvalidIdentifier

MAX_ID_LENGTH = 250
_KEY = re.compile(r"[A-Za-z0-9_.-]+")
_RUN_ID = re.compile(r"[A-Za-z0-9_.~:+-]+")


def validate_key(kind: str, key: Any, max_length: int = MAX_ID_LENGTH) -> str:
    """Check a DAG, task or group id while a DAG is defined (``DagDefinitionError`` if bad)."""
    problem = _problem(kind, key, _KEY, max_length, "letters, digits, '_', '-' and '.'")
    if problem:
        raise DagDefinitionError(problem)
    return str(key)


def check_key(kind: str, key: Any) -> str:
    """Check a DAG or task id given at run time (CLI, API, broker): ``InvalidIdentifier`` if bad."""
    problem = _problem(kind, key, _KEY, MAX_ID_LENGTH, "letters, digits, '_', '-' and '.'")
    if problem:
        raise InvalidIdentifier(problem)
    return str(key)


def check_run_id(run_id: Any) -> str:
    """Check a run id given by a person or a DAG: ``InvalidIdentifier`` if bad."""
    problem = _problem("run_id", run_id, _RUN_ID, MAX_ID_LENGTH, "letters, digits and '_ . ~ : + -'")
    if problem:
        raise InvalidIdentifier(problem)
    return str(run_id)


def _problem(kind: str, value: Any, pattern: re.Pattern[str], max_length: int, allowed: str) -> str | None:
    if not isinstance(value, str):
        return f"{kind} must be a string, got {type(value).__name__}"
    if not value or len(value) > max_length or not pattern.fullmatch(value):
        shown = value if len(value) <= 60 else value[:57] + "..."
        return f"invalid {kind} {shown!r}: use {allowed} (1 to {max_length} characters)"
    return None
