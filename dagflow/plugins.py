"""Entry-point groups: how dagflow finds the executors (and, later, the other plugin kinds).

A distribution adds an executor by declaring, in its ``pyproject.toml``::

    [project.entry-points."dagflow.executors"]
    MyExecutor = "my_package.executor:MyExecutor"

dagflow's own executors are declared the same way (see dagflow's ``pyproject.toml``).
Listing a group reads installed package metadata only; loading one imports its module.
"""

from __future__ import annotations

from importlib.metadata import EntryPoint, entry_points

EXECUTORS_GROUP = "dagflow.executors"


def executor_entry_points() -> dict[str, EntryPoint]:
    """Every executor installed, by name (dagflow's own included)."""
    return {point.name: point for point in entry_points(group=EXECUTORS_GROUP)}


def executor_names() -> list[str]:
    """The names ``core.executor`` accepts."""
    return sorted(executor_entry_points())
