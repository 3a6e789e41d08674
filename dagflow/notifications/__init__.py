"""Notifiers: callback objects that tell people about a task or a run (Airflow's notifier classes).

``BaseNotifier`` (subclass it and implement ``notify(context)``), ``WebhookNotifier`` (an
HTTP POST of a Slack-compatible JSON body) and ``SmtpNotifier`` (an email over SMTP).
A notifier is usable wherever a callback is: ``on_failure_callback=WebhookNotifier(...)``,
a list of callbacks and notifiers, a DAG's ``on_success_callback`` or ``sla_miss_callback``.
``notifier(name, **kwargs)`` builds one installed by a plugin (``dagflow.notifiers`` entry points).

This package is authoring code: it imports the SDK (and ``dagflow.plugins``) only (never the DB layer, the
scheduler or the CLI); connections are read through the task runtime when one is installed.
"""

from __future__ import annotations

from dagflow.notifications.base import BaseNotifier
from dagflow.notifications.by_name import notifier
from dagflow.notifications.smtp import SmtpNotifier
from dagflow.notifications.webhook import WebhookNotifier

__all__ = ["BaseNotifier", "SmtpNotifier", "WebhookNotifier", "notifier"]
