"""Plugins through entry points: how dagflow finds operators, sensors, executors, timetables,
notifiers, storage backends and template filters that other distributions install.

A distribution adds one by declaring, in its ``pyproject.toml``::

    [project.entry-points."dagflow.executors"]
    MyExecutor = "my_package.executor:MyExecutor"

    [project.entry-points."dagflow.template_filters"]
    slugify = "my_package.filters:slugify"

dagflow's own executors and notifiers are declared the same way (see dagflow's ``pyproject.toml``).
Listing a group reads installed package metadata only; loading one imports its module. What each
group's entry points are used for:

- ``dagflow.operators`` / ``dagflow.sensors``: ``load("dagflow.operators", name)`` returns the class;
- ``dagflow.executors`` / ``dagflow.notifiers``: named in the config / by name;
- ``dagflow.timetables``: ``DAG(schedule="name")`` builds the class with no arguments, and the
  scheduler rebuilds a serialized timetable whose ``type`` is the entry-point name;
- ``dagflow.storage``: the backend class for a ``storage.url`` scheme (the entry-point name), built
  with the URL;
- ``dagflow.template_filters``: a Jinja filter of that name in every template.
"""

from __future__ import annotations

import logging
import re
import sys
from importlib.metadata import EntryPoint, distributions, entry_points
from typing import Any

from dagflow.exceptions import PluginNotFound

log = logging.getLogger(__name__)

OPERATORS_GROUP = "dagflow.operators"
SENSORS_GROUP = "dagflow.sensors"
EXECUTORS_GROUP = "dagflow.executors"
TIMETABLES_GROUP = "dagflow.timetables"
NOTIFIERS_GROUP = "dagflow.notifiers"
STORAGE_GROUP = "dagflow.storage"
TEMPLATE_FILTERS_GROUP = "dagflow.template_filters"
#: Every entry-point group dagflow reads (SPEC §6 "Plugins"); ``dagflow plugins`` lists them.
PLUGIN_GROUPS: tuple[str, ...] = (
    OPERATORS_GROUP,
    SENSORS_GROUP,
    EXECUTORS_GROUP,
    TIMETABLES_GROUP,
    NOTIFIERS_GROUP,
    STORAGE_GROUP,
    TEMPLATE_FILTERS_GROUP,
)

# Reading metadata scans every sys.path entry: cached per group and sys.path, and per entry, so
# a sys.path that grew (a worker importing a DAG file appends its folder) reads only what is new.
_points: dict[tuple[str, tuple[str, ...]], dict[str, EntryPoint]] = {}
#: Per sys.path entry: each distribution found there (its normalized name) and its entry points.
_on_entry: dict[str, list[tuple[str, tuple[EntryPoint, ...]]]] = {}
_loaded: dict[tuple[str, str, str], Any] = {}


def group_entry_points(group: str) -> dict[str, EntryPoint]:
    """The entry points of ``group`` by name (the first installed wins a duplicate name).

    As ``importlib.metadata.entry_points(group=...)``: distributions in ``sys.path`` order, a
    distribution name seen on an earlier entry hides the same name later on.
    """
    key = (group, tuple(sys.path))
    found = _points.get(key)
    if found is None:
        found = {}
        seen: set[str] = set()
        for entry in key[1]:
            for dist_name, points in _distributions_on(entry):
                if dist_name in seen:
                    continue
                seen.add(dist_name)
                for point in points:
                    if point.group == group:
                        found.setdefault(point.name, point)
        _points[key] = found
    return found


def _distributions_on(entry: str) -> list[tuple[str, tuple[EntryPoint, ...]]]:
    found = _on_entry.get(entry)
    if found is None:
        found = []
        for dist in distributions(path=[entry]):
            name = getattr(dist, "_normalized_name", None) or _normalize(dist.metadata["Name"] or "")
            found.append((name, tuple(dist.entry_points)))
        _on_entry[entry] = found
    return found


def _normalize(name: str) -> str:
    return re.sub(r"[-_.]+", "_", name).lower()


def warm() -> None:
    """Read the installed entry points now (the LocalExecutor, before it forks its workers)."""
    for group in PLUGIN_GROUPS:
        group_entry_points(group)


def names(group: str) -> list[str]:
    """The names installed in ``group``, sorted."""
    return sorted(group_entry_points(group))


def load(group: str, name: str) -> Any:
    """The object the entry point ``name`` of ``group`` points at (imported once);
    ``PluginNotFound`` naming what is installed when there is none."""
    if group not in PLUGIN_GROUPS:
        raise PluginNotFound(f"unknown plugin group {group!r} (known: {', '.join(PLUGIN_GROUPS)})")
    point = group_entry_points(group).get(name)
    if point is None:
        known = ", ".join(names(group)) or "none installed"
        raise PluginNotFound(f"no {group} plugin named {name!r} (installed: {known})")
    key = (group, name, point.value)
    if key not in _loaded:
        _loaded[key] = point.load()
    return _loaded[key]


def load_all(group: str) -> dict[str, Any]:
    """Every entry point of ``group``, loaded, by name; one that fails to import is logged and left out."""
    found: dict[str, Any] = {}
    for name in names(group):
        try:
            found[name] = load(group, name)
        except Exception as exc:  # noqa: BLE001 - a broken plugin must not break the others
            log.warning("cannot load %s plugin %r: %s", group, name, exc)
    return found


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
