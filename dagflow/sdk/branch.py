"""Recording branch decisions; the scheduler's planner reads them and skips the rest."""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from typing import TYPE_CHECKING, Any

from dagflow.exceptions import DagDefinitionError

if TYPE_CHECKING:
    from dagflow.sdk.abstractoperator import AbstractOperator

#: The XCom key under which branching operators record what they follow.
BRANCH_XCOM_KEY = "skipmixin_key"


def normalize_branches(branches: str | Iterable[str] | None) -> list[str]:
    """A branch result (one id, several, or None) as a list of ids."""
    if branches is None:
        return []
    if isinstance(branches, str):
        return [branches]
    result = list(branches)
    for item in result:
        if not isinstance(item, str):
            raise TypeError(f"a branch must be a task id or a task group id, got {item!r}")
    return result


def expand_branches(task: AbstractOperator, branches: str | Iterable[str] | None) -> list[str]:
    """Task ids to follow: group ids become the group's root tasks; all must be direct downstream."""
    ids = normalize_branches(branches)
    dag = task.dag
    groups = dag.task_group_dict if dag is not None else {}
    followed: list[str] = []
    for branch_id in ids:
        if branch_id in groups and (dag is None or branch_id not in dag.task_dict):
            members = [t.task_id for t in groups[branch_id].roots if t.task_id in task.downstream_task_ids]
            if not members:
                raise DagDefinitionError(
                    f"task {task.task_id!r} chose task group {branch_id!r}, but none of its root tasks is "
                    "directly downstream of it"
                )
            followed.extend(members)
        elif branch_id in task.downstream_task_ids:
            followed.append(branch_id)
        else:
            downstream = ", ".join(sorted(task.downstream_task_ids)) or "none"
            raise DagDefinitionError(
                f"task {task.task_id!r} chose {branch_id!r}, which is not one of its direct downstream "
                f"tasks ({downstream})"
            )
    return sorted(set(followed))


def push_branch(context: Mapping[str, Any], task: AbstractOperator, branches: str | Iterable[str] | None) -> list[str]:
    """Record that ``task`` follows ``branches`` (the other direct downstream tasks get skipped)."""
    followed = expand_branches(task, branches)
    context["ti"].xcom_push(key=BRANCH_XCOM_KEY, value={"followed": followed})
    return followed


def push_skip_all_descendants(context: Mapping[str, Any]) -> None:
    """Record that every descendant is skipped, whatever its trigger rule (short-circuit)."""
    context["ti"].xcom_push(key=BRANCH_XCOM_KEY, value={"followed": [], "all_descendants": True})


def push_skip_direct_downstream(context: Mapping[str, Any]) -> None:
    """Record that every direct downstream task is skipped (trigger rules decide the rest)."""
    context["ti"].xcom_push(key=BRANCH_XCOM_KEY, value={"followed": []})
