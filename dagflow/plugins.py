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
#: Every entry-point group dagflow reads (SPEC §6 "Plugins"); ``dagflow plugins`` lists them.
PLUGIN_GROUPS: tuple[str, ...] = (
    "dagflow.operators",
    "dagflow.sensors",
    "dagflow.executors",
    "dagflow.timetables",
    "dagflow.notifiers",
    "dagflow.storage",
    "dagflow.template_filters",
)


def executor_entry_points() -> dict[str, EntryPoint]:
    """Every executor installed, by name (dagflow's own included)."""
    return {point.name: point for point in entry_points(group=EXECUTORS_GROUP)}


def executor_names() -> list[str]:
    """The names ``core.executor`` accepts."""
    return sorted(executor_entry_points())


def installed_plugins() -> list[dict[str, str | None]]:
    """Every entry point of the plugin groups: group, name, target (``module:attr``) and distribution."""
    found: list[dict[str, str | None]] = []
    for group in PLUGIN_GROUPS:
        for point in sorted(entry_points(group=group), key=lambda p: p.name):
            dist = point.dist
            found.append(
                {
                    "group": group,
                    "name": point.name,
                    "value": point.value,
                    "distribution": dist.name if dist is not None else None,
                    "version": dist.version if dist is not None else None,
                }
            )
    return found
