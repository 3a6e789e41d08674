"""Setup and teardown tasks (Airflow's): ``as_setup()``, ``as_teardown(setups=...)`` and ``with teardown:``.

A teardown runs once everything upstream of it is done, if at least one of its setups
succeeded (trigger rule ``all_done_setup_success``), and its failure does not fail the
run unless ``on_failure_fail_dagrun=True``. Inside ``with teardown_task:`` every task
created runs after the teardown's setups and before the teardown.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from dagflow.exceptions import DagDefinitionError
from dagflow.sdk.dependencies import flatten_nodes
from dagflow.state import TriggerRule

if TYPE_CHECKING:
    from dagflow.sdk.abstractoperator import AbstractOperator
    from dagflow.sdk.dag import DAG


def mark_setup(task: AbstractOperator) -> None:
    """Make ``task`` a setup task."""
    if task.is_teardown:
        raise DagDefinitionError(f"task {task.task_id!r} cannot be both a setup and a teardown")
    task.is_setup = True


def mark_teardown(task: AbstractOperator, setups: Any = None, on_failure_fail_dagrun: bool | None = None) -> None:
    """Make ``task`` a teardown of ``setups`` (tasks or XComArgs, wired upstream of it)."""
    if task.is_setup:
        raise DagDefinitionError(f"task {task.task_id!r} cannot be both a setup and a teardown")
    task.is_teardown = True
    task.trigger_rule = TriggerRule.ALL_DONE_SETUP_SUCCESS
    if on_failure_fail_dagrun is not None:
        task.on_failure_fail_dagrun = bool(on_failure_fail_dagrun)
    if setups is not None:
        for node in flatten_nodes(setups):
            for setup in node.dependency_leaves():
                mark_setup(setup)
                setup.add_edge_to(task)


class TeardownScope:
    """``with teardown:``: tasks created in the block run between the teardown's setups and it."""

    def __init__(self, teardowns: list[AbstractOperator]) -> None:
        for teardown in teardowns:
            if not teardown.is_teardown:
                raise DagDefinitionError(f"'with {teardown.task_id}:' needs a teardown task (call as_teardown())")
        self.teardowns = teardowns
        self._before: set[str] = set()

    def _dag(self) -> DAG:
        dag = self.teardowns[0].dag
        if dag is None:
            raise DagDefinitionError(f"task {self.teardowns[0].task_id!r} is not in a DAG")
        return dag

    def __enter__(self) -> None:
        self._before = set(self._dag().task_dict)

    def __exit__(self, exc_type: type[BaseException] | None, *exc: object) -> None:
        if exc_type is not None:
            return
        dag = self._dag()
        new = [t for tid, t in dag.task_dict.items() if tid not in self._before]
        new_ids = {t.task_id for t in new}
        roots = [t for t in new if not t.upstream_task_ids & new_ids]
        leaves = [t for t in new if not t.downstream_task_ids & new_ids and not t.is_teardown]
        for teardown in self.teardowns:
            setups = [dag.task_dict[u] for u in teardown.upstream_task_ids if dag.task_dict[u].is_setup]
            for setup in setups:
                for root in roots:
                    if root is not setup and not root.is_setup:
                        setup.add_edge_to(root)
            for leaf in leaves:
                if leaf is not teardown:
                    leaf.add_edge_to(teardown)
