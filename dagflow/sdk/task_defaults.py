"""Task arguments whose default comes from the configuration: Airflow's ``core.default_task_retries``.

The SDK reads no configuration: each entry point that imports DAG files (the CLI, the parse
server, the callback processes) calls ``set_default_task_retries`` once with the value from
``Settings``, as it does for the default time zone; until then it is 0. Processes forked after
that inherit it. An operator given no ``retries`` (neither as an argument nor in
``default_args``) gets this value.
"""

from __future__ import annotations

_retries = 0


def set_default_task_retries(value: int) -> None:
    """Give operators without ``retries`` this many from now on (in this process and its forks)."""
    global _retries
    _retries = max(int(value), 0)


def default_task_retries() -> int:
    """The ``retries`` of an operator that sets none (0 unless an entry point set another)."""
    return _retries
