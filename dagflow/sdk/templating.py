"""Jinja rendering of template fields in a sandboxed environment (native on request)."""

from __future__ import annotations

import shlex
from collections.abc import Iterable, Mapping, Sequence
from datetime import datetime
from typing import Any

import jinja2
import jinja2.nativetypes
import jinja2.sandbox

from dagflow.exceptions import TemplateError
from dagflow.plugins import TEMPLATE_FILTERS_GROUP, load_all


class Resolvable:
    """A value known only at run time (an ``XComArg``, a ``@dag`` param): has ``resolve(context)``."""

    def resolve(self, context: Mapping[str, Any]) -> Any:
        """The value for the running task."""
        raise NotImplementedError


def _ds(value: datetime) -> str:
    return value.strftime("%Y-%m-%d")


def _ds_nodash(value: datetime) -> str:
    return value.strftime("%Y%m%d")


def _ts(value: datetime) -> str:
    return value.isoformat()


def _ts_nodash(value: datetime) -> str:
    return value.strftime("%Y%m%dT%H%M%S")


class ShellQuoted(str):
    """Text already quoted for a POSIX shell: a native template keeps it as it is."""

    __slots__ = ()


def shell_quote(value: Any) -> ShellQuoted:
    """``{{ value | shell_quote }}``: one shell word (``shlex.quote(str(value))``); a list gives one word each."""
    if isinstance(value, (list, tuple)):
        return ShellQuoted(" ".join(shlex.quote(str(item)) for item in value))
    return ShellQuoted(shlex.quote(str(value)))


FILTERS = {"ds": _ds, "ds_nodash": _ds_nodash, "ts": _ts, "ts_nodash": _ts_nodash, "shell_quote": shell_quote}


class SandboxedEnvironment(jinja2.sandbox.SandboxedEnvironment):
    """The sandboxed environment templates render in: no access to private attributes."""


class _NativeTemplate(jinja2.nativetypes.NativeTemplate):
    """A native template that refuses to return an undefined (or unsafe) value."""

    def render(self, *args: Any, **kwargs: Any) -> Any:
        result = super().render(*args, **kwargs)
        if isinstance(result, jinja2.Undefined):
            result._fail_with_undefined_error()
        return result


def _native_concat(values: Iterable[Any]) -> Any:
    """Jinja's native result, except that output holding ``shell_quote``d text stays a string.

    ``literal_eval`` would otherwise turn ``'$(id)'`` back into ``$(id)``, undoing the quoting.
    """
    parts = list(values)
    if any(isinstance(part, ShellQuoted) for part in parts):
        return "".join(str(part) for part in parts)
    return jinja2.nativetypes.native_concat(parts)


class NativeSandboxedEnvironment(jinja2.sandbox.SandboxedEnvironment, jinja2.nativetypes.NativeEnvironment):
    """Sandboxed and rendering to native Python objects (``render_template_as_native_obj``)."""

    template_class = _NativeTemplate
    concat = staticmethod(_native_concat)


_NativeTemplate.environment_class = NativeSandboxedEnvironment  # its render() calls environment_class.concat


def create_template_env(
    *,
    native: bool = False,
    searchpath: Sequence[str] = (),
    user_defined_macros: Mapping[str, Any] | None = None,
    user_defined_filters: Mapping[str, Any] | None = None,
    undefined: type[jinja2.Undefined] = jinja2.StrictUndefined,
    plugin_filters: bool = True,
) -> jinja2.Environment:
    """A sandboxed Jinja environment with dagflow's filters, the installed plugins' filters
    (``dagflow.template_filters``; ``plugin_filters=False`` leaves them unimported), and the
    DAG's own filters and macros (which win a name clash)."""
    cls = NativeSandboxedEnvironment if native else SandboxedEnvironment
    env = cls(
        loader=jinja2.FileSystemLoader(list(searchpath)) if searchpath else None,
        undefined=undefined,
        extensions=["jinja2.ext.do"],
        keep_trailing_newline=True,
        cache_size=0,
    )
    env.filters.update(FILTERS)
    if plugin_filters:
        env.filters.update(load_all(TEMPLATE_FILTERS_GROUP))  # installed plugins' filters
    if user_defined_filters:
        env.filters.update(user_defined_filters)
    if user_defined_macros:
        env.globals.update(user_defined_macros)
    return env


def render_value(
    value: Any,
    context: Mapping[str, Any],
    env: jinja2.Environment,
    *,
    template_ext: Iterable[str] = (),
    seen: set[int] | None = None,
) -> Any:
    """Render ``value``: strings as templates, containers recursively, resolvables resolved."""
    seen = set() if seen is None else seen
    if isinstance(value, Resolvable):
        return value.resolve(context)
    if isinstance(value, str):
        return _render_string(value, context, env, tuple(template_ext))
    if isinstance(value, (list, tuple, set, frozenset, dict)) or _has_template_fields(value):
        if id(value) in seen:
            return value
        seen = seen | {id(value)}
    if isinstance(value, tuple) and hasattr(value, "_fields"):  # namedtuple
        return type(value)(*(render_value(v, context, env, template_ext=template_ext, seen=seen) for v in value))
    if isinstance(value, (list, tuple, set, frozenset)):
        return type(value)(render_value(v, context, env, template_ext=template_ext, seen=seen) for v in value)
    if isinstance(value, dict):
        return {k: render_value(v, context, env, template_ext=template_ext, seen=seen) for k, v in value.items()}
    if _has_template_fields(value):
        for field in value.template_fields:
            rendered = render_value(getattr(value, field), context, env, template_ext=template_ext, seen=seen)
            setattr(value, field, rendered)
    return value


def _has_template_fields(value: Any) -> bool:
    return not isinstance(value, type) and bool(getattr(value, "template_fields", None))


def _render_string(
    text: str, context: Mapping[str, Any], env: jinja2.Environment, template_ext: tuple[str, ...]
) -> Any:
    if template_ext and text.endswith(template_ext):
        if env.loader is None:
            raise TemplateError(f"cannot load template file {text!r}: the task has no DAG folder to look in")
        try:
            template = env.get_template(text)
        except jinja2.TemplateNotFound:
            raise TemplateError(f"template file {text!r} not found next to the DAG file") from None
    elif "{{" not in text and "{%" not in text and "{#" not in text:
        return text
    else:
        try:
            template = env.from_string(text)
        except jinja2.TemplateSyntaxError as exc:
            raise TemplateError(f"template syntax error in {text!r}: {exc}") from None
    try:
        return template.render(**context)
    except jinja2.exceptions.SecurityError as exc:
        raise TemplateError(f"unsafe template {text!r}: {exc}") from exc
    except jinja2.UndefinedError as exc:
        raise TemplateError(f"template {text!r}: {exc}") from exc
