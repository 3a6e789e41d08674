"""``notifier(name, **kwargs)``: a notifier built from the ``dagflow.notifiers`` entry point ``name``.

A DAG file can then name a notifier that a plugin distribution installs without importing
its package: ``on_failure_callback=notifier("TeamsNotifier", channel="#data")``. dagflow's own
``WebhookNotifier`` and ``SmtpNotifier`` are in that group too. The plugin must be installed
where the DAG file is parsed and where its tasks run; an unknown name fails the parse with
one line naming what is installed.
"""

from __future__ import annotations

from typing import Any

from dagflow import plugins
from dagflow.exceptions import PluginNotFound
from dagflow.notifications.base import BaseNotifier


def notifier(name: str, /, **kwargs: Any) -> BaseNotifier:
    """Build the notifier class installed as ``name`` in ``dagflow.notifiers`` with ``kwargs``."""
    found = plugins.load(plugins.NOTIFIERS_GROUP, name)
    if not (isinstance(found, type) and issubclass(found, BaseNotifier)):
        raise PluginNotFound(f"dagflow.notifiers plugin {name!r} is not a BaseNotifier subclass: {found!r}")
    instance: BaseNotifier = found(**kwargs)
    return instance
