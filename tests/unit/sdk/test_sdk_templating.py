from __future__ import annotations

import shlex
from typing import Any

import pytest

from dagflow import DAG
from dagflow.exceptions import TemplateError
from dagflow.operators import PythonOperator
from dagflow.sdk import macros
from dagflow.sdk.templating import create_template_env, render_value
from tests.unit.sdk.conftest import FakeBackend, make_context


class Holder:
    template_fields = ("inner",)

    def __init__(self, inner: Any) -> None:
        self.inner = inner


def test_render_nested_containers() -> None:
    env = create_template_env()
    ctx = {"ds": "2024-03-05", "n": 3}
    value = {"a": ["{{ ds }}", ("{{ n }}", {"{{ n }}"})], "b": 1, "c": Holder("x{{ n }}")}
    out = render_value(value, ctx, env)
    assert out["a"] == ["2024-03-05", ("3", {"3"})]
    assert out["b"] == 1 and out["c"].inner == "x3"


def test_sandbox_blocks_unsafe_attribute_access() -> None:
    env = create_template_env()
    with pytest.raises(TemplateError, match="unsafe"):
        render_value("{{ ''.__class__.__mro__[1].__subclasses__() }}", {}, env)
    native = create_template_env(native=True)
    with pytest.raises(TemplateError, match="unsafe"):
        render_value("{{ x.__class__ }}", {"x": 1}, native)


def test_undefined_variable_is_an_error() -> None:
    with pytest.raises(TemplateError, match="missing"):
        render_value("{{ missing }}", {}, create_template_env())


def test_native_mode_returns_python_objects() -> None:
    with DAG("native", render_template_as_native_obj=True) as d:
        op = PythonOperator(task_id="t", python_callable=lambda x, y: (x, y), op_args=["{{ [1, 2] }}", "{{ 2 + 3 }}"])
    assert type(d.get_template_env()).__name__ == "NativeSandboxedEnvironment"
    ctx = make_context(FakeBackend(), op)
    op.render_template_fields(ctx)
    assert op.op_args == [[1, 2], 5]


def test_plain_mode_returns_strings_and_user_macros_and_filters() -> None:
    with DAG("plain", user_defined_macros={"twice": lambda v: v * 2}, params={"name": "x"}) as d:
        op = PythonOperator(
            task_id="t",
            python_callable=print,
            op_kwargs={"a": "{{ twice(21) }}", "b": "{{ params.name }}-{{ logical_date | ds_nodash }}"},
        )
    ctx = make_context(FakeBackend(), op)
    op.render_template_fields(ctx)
    assert op.op_kwargs == {"a": "42", "b": "x-20240305"}
    assert d.get_template_env().filters["ds"] is not None


def test_macros() -> None:
    assert macros.ds_add("2024-03-05", 5) == "2024-03-10"
    assert macros.ds_add("2024-03-05", -5) == "2024-02-29"
    assert macros.ds_format("2024-03-05", "%Y-%m-%d", "%d/%m/%Y") == "05/03/2024"
    assert macros.datetime(2024, 1, 1).year == 2024
    assert macros.timedelta(days=1).days == 1
    assert macros.json.loads("[1]") == [1]
    assert len(str(macros.uuid.uuid4())) == 36
    assert "1 day" in macros.datetime_diff_for_humans(macros.datetime(2020, 1, 1), macros.datetime(2020, 1, 2))
    env = create_template_env()
    assert render_value("{{ macros.ds_add(ds, 1) }}", {"ds": "2024-03-05", "macros": macros}, env) == "2024-03-06"


HOSTILE = "$(touch /tmp/x); echo 'a' \"b\" `id` && rm -rf ~"


@pytest.mark.parametrize("native", [False, True])
def test_shell_quote_filter_gives_one_shell_word(native: bool) -> None:
    with DAG(f"quote_{native}", render_template_as_native_obj=native, params={"x": HOSTILE, "n": 5}):
        op = PythonOperator(
            task_id="t",
            python_callable=print,
            op_kwargs={
                "alone": "{{ params.x | shell_quote }}",
                "inline": "echo {{ params.x | shell_quote }} {{ params.n | shell_quote }}",
                "words": "{{ ['a b', 'c', 7] | shell_quote }}",
                "number": "{{ params.n | shell_quote }}",
            },
        )
    ctx = make_context(FakeBackend(), op)
    op.render_template_fields(ctx)
    out = op.op_kwargs
    assert shlex.split(out["alone"]) == [HOSTILE]  # the native variant keeps the quotes (no literal_eval)
    assert shlex.split(out["inline"]) == ["echo", HOSTILE, "5"]
    assert shlex.split(out["words"]) == ["a b", "c", "7"]
    assert out["number"] == "5" and type(out["number"]) is str


def test_shell_quote_is_in_every_environment() -> None:
    for env in (create_template_env(), create_template_env(native=True)):
        assert render_value("{{ v | shell_quote }}", {"v": "it's"}, env) == "'it'\"'\"'s'"
