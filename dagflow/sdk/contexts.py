"""The stacks of DAGs and task groups opened with ``with`` while a DAG file is parsed."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from dagflow.sdk.dag import DAG
    from dagflow.sdk.taskgroup import TaskGroup

_dags: list[DAG] = []
_groups: list[TaskGroup] = []
_detached: list[bool] = []


def push_dag(dag: DAG) -> None:
    """Make ``dag`` the current DAG (``with DAG(...)``)."""
    _dags.append(dag)


def pop_dag() -> DAG | None:
    """Leave the innermost ``with DAG`` block."""
    return _dags.pop() if _dags else None


def current_dag() -> DAG | None:
    """The DAG of the innermost ``with DAG`` block, if any."""
    return _dags[-1] if _dags else None


def push_group(group: TaskGroup) -> None:
    """Make ``group`` the current task group (``with TaskGroup(...)``)."""
    _groups.append(group)


def pop_group() -> TaskGroup | None:
    """Leave the innermost ``with TaskGroup`` block."""
    return _groups.pop() if _groups else None


def current_group(dag: DAG | None = None) -> TaskGroup | None:
    """The innermost open task group (of ``dag`` when given), else ``dag``'s root group."""
    for group in reversed(_groups):
        if dag is None or group.dag is dag:
            return group
    return dag.task_group if dag is not None else None


@contextmanager
def detached() -> Iterator[None]:
    """Build operators that belong to no DAG (used to unmap a mapped task at run time)."""
    saved_dags, saved_groups = _dags[:], _groups[:]
    _dags.clear()
    _groups.clear()
    _detached.append(True)
    try:
        yield
    finally:
        _detached.pop()
        _dags[:] = saved_dags
        _groups[:] = saved_groups


def is_detached() -> bool:
    """True inside ``detached()``: an operator built now gets no DAG and no dependencies."""
    return bool(_detached)
