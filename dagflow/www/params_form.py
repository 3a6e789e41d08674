"""The trigger form built from a DAG's Params: one field per param (type, default, description), parsed back to a conf.

A field's kind follows the param's JSON schema: ``enum`` -> a select, ``boolean`` -> a
checkbox, ``integer``/``number`` -> a number box, ``array``/``object`` -> JSON text,
anything else -> a text box. The server-side check is the DAG's own schema (the service
validates the conf); the form only turns text into the right JSON types.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from dagflow.exceptions import InvalidInput

FIELD_PREFIX = "param:"


@dataclass(frozen=True)
class ParamField:
    """One input of the trigger form."""

    name: str
    kind: str  # select | checkbox | integer | number | json | text
    value: str  # the text the input shows
    checked: bool
    options: tuple[str, ...]
    description: str | None
    schema_type: str
    required: bool
    nullable: bool
    #: HTML validation attributes from the schema (``min``, ``max``, ``minlength``, ``maxlength``).
    limits: tuple[tuple[str, str], ...] = ()


def _types(schema: Mapping[str, Any]) -> list[str]:
    kind = schema.get("type")
    return [kind] if isinstance(kind, str) else [str(k) for k in kind or []]


def _kind(schema: Mapping[str, Any]) -> str:
    types = [t for t in _types(schema) if t != "null"]
    if "enum" in schema:
        return "select"
    first = types[0] if types else "string"
    return {"boolean": "checkbox", "integer": "integer", "number": "number", "array": "json", "object": "json"}.get(
        first, "text"
    )


def _text(value: Any, kind: str) -> str:
    if value is None:
        return ""
    if kind == "json" or (kind == "select" and not isinstance(value, str)):
        return json.dumps(value)
    return str(value)


def param_fields(params: Mapping[str, Mapping[str, Any]], values: Mapping[str, Any] | None = None) -> list[ParamField]:
    """The form's fields, filled with ``values`` (a conf) or the params' defaults."""
    fields = []
    for name, spec in params.items():
        schema = dict(spec.get("schema") or {})
        kind = _kind(schema)
        value = (values or {}).get(name, spec.get("default"))
        options = tuple(_text(o, "select") for o in schema.get("enum", ()))
        fields.append(
            ParamField(
                name=name,
                kind=kind,
                value=_text(value, kind),
                checked=value is True,
                options=options,
                description=spec.get("description"),
                schema_type="/".join(_types(schema)) or ("enum" if options else "any"),
                required="default" not in spec,
                nullable="null" in _types(schema),
                limits=_limits(schema, kind),
            )
        )
    return fields


_HTML_LIMITS = {"minimum": "min", "maximum": "max", "minLength": "minlength", "maxLength": "maxlength"}


def _limits(schema: Mapping[str, Any], kind: str) -> tuple[tuple[str, str], ...]:
    """The browser's own checks for a field (the server checks the whole schema anyway)."""
    wanted = ("minimum", "maximum") if kind in ("integer", "number") else ("minLength", "maxLength")
    return tuple((_HTML_LIMITS[k], str(schema[k])) for k in wanted if isinstance(schema.get(k), (int, float)))


def conf_from_form(params: Mapping[str, Mapping[str, Any]], form: Mapping[str, str], raw: str) -> dict[str, Any]:
    """The conf of a submitted trigger form: the param fields, then the raw JSON object's keys over them."""
    conf: dict[str, Any] = {}
    for field in param_fields(params):
        key = FIELD_PREFIX + field.name
        if field.kind == "checkbox":
            conf[field.name] = key in form
            continue
        if key not in form:
            continue
        conf[field.name] = _parse(field, form[key])
    raw = raw.strip()
    if raw:
        try:
            extra = json.loads(raw)
        except ValueError as exc:
            raise InvalidInput(f"the conf is not valid JSON: {exc}") from None
        if not isinstance(extra, dict):
            raise InvalidInput('the conf must be a JSON object, like {"key": "value"}')
        conf.update(extra)
    return conf


def _parse(field: ParamField, text: str) -> Any:
    text = text.strip() if field.kind != "text" else text
    if text == "" and (field.nullable or field.kind != "text"):
        return None
    try:
        if field.kind == "integer":
            return int(text)
        if field.kind == "number":
            return float(text)
        if field.kind == "json":
            return json.loads(text)
    except ValueError:
        raise InvalidInput(f"param {field.name!r}: {text!r} is not a valid {field.schema_type}") from None
    if field.kind == "select":
        return _enum_value(field, text)
    return text


def _enum_value(field: ParamField, text: str) -> Any:
    """A select's value back to its JSON type (the options are shown as text)."""
    try:
        value = json.loads(text)
    except ValueError:
        return text
    return value if not isinstance(value, str) and _text(value, "select") == text else text
