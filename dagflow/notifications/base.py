"""``BaseNotifier``: a callable callback whose ``template_fields`` are rendered with the context first."""

from __future__ import annotations

import copy
from collections.abc import Mapping, Sequence
from typing import Any

from dagflow.sdk import runtime
from dagflow.sdk.templating import create_template_env, render_value


class BaseNotifier:
    """Send a notification from a callback: subclasses implement ``notify(context)``.

    Called with one argument (a task or DAG callback) it gets that callback's context.
    Called as an ``sla_miss_callback`` (``dag, task_list, blocking_task_list, slas,
    blocking_tis``) it gets a context with those five names. Before ``notify`` runs, a
    copy of the notifier has each of its ``template_fields`` rendered with the context
    (Jinja, sandboxed, the DAG's ``user_defined_macros``), so one notifier object can
    serve many tasks and runs.
    """

    template_fields: Sequence[str] = ()

    def notify(self, context: Mapping[str, Any]) -> None:
        """Send the notification (override this)."""
        raise NotImplementedError(f"{type(self).__name__} must implement notify(context)")

    def __call__(self, *args: Any) -> None:
        """Render the template fields and ``notify``; the callback machinery logs any error."""
        context = _context_of(args)
        self.rendered(context).notify(context)

    def rendered(self, context: Mapping[str, Any]) -> BaseNotifier:
        """A shallow copy of this notifier with its template fields rendered with ``context``."""
        dag = context.get("dag")
        env = create_template_env(user_defined_macros=getattr(dag, "user_defined_macros", None))
        copied = copy.copy(self)
        for field in self.template_fields:
            setattr(copied, field, render_value(getattr(self, field), context, env))
        return copied

    def __repr__(self) -> str:
        return f"<{type(self).__name__}>"


def _context_of(args: tuple[Any, ...]) -> Mapping[str, Any]:
    if len(args) == 1 and isinstance(args[0], Mapping):
        return args[0]
    if len(args) == 5:  # sla_miss_callback(dag, task_list, blocking_task_list, slas, blocking_tis)
        names = ("dag", "task_list", "blocking_task_list", "slas", "blocking_tis")
        return dict(zip(names, args, strict=True))
    raise TypeError(f"a notifier is called with a context (or the 5 arguments of an sla_miss_callback), got {args!r}")


def connection(conn_id: str) -> Mapping[str, Any]:
    """The connection ``conn_id`` as a mapping (host, port, login, password, schema, extra)."""
    return runtime.current().get_connection(conn_id)


def describe(context: Mapping[str, Any]) -> str:
    """One line saying what the callback is about: DAG, run, task, state (for default messages)."""
    dag = context.get("dag")
    dag_id = getattr(dag, "dag_id", None) or getattr(context.get("ti"), "dag_id", "?")
    parts = [f"DAG {dag_id}"]
    if context.get("run_id"):
        parts.append(f"run {context['run_id']}")
    ti = context.get("ti")
    if ti is not None:
        map_index = getattr(ti, "map_index", -1)
        suffix = f"[{map_index}]" if map_index is not None and map_index >= 0 else ""
        parts.append(f"task {ti.task_id}{suffix} try {getattr(ti, 'try_number', '?')}")
    state = getattr(ti, "state", None) if ti is not None else context.get("state")
    if state:
        parts.append(f"is {state}")
    if context.get("task_list"):
        parts.append("missed its SLA: " + ", ".join(str(context["task_list"]).splitlines()))
    line = ": ".join([parts[0], " ".join(parts[1:])]) if len(parts) > 1 else parts[0]
    reason = context.get("exception") or context.get("reason")
    return f"{line} ({_one_line(reason)})" if reason else line


def _one_line(value: Any) -> str:
    text = str(value).strip()
    return text.splitlines()[0] if text else type(value).__name__
