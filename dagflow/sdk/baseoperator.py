"""``BaseOperator``: the class every task derives from, with Airflow's ``default_args`` rules."""

from __future__ import annotations

import functools
import inspect
from collections.abc import Callable, Mapping, Sequence
from datetime import datetime, timedelta
from typing import TYPE_CHECKING, Any, NoReturn

import jinja2

from dagflow.exceptions import (
    DagDefinitionError,
    SensorTimeout,
    TaskDeferralError,
    TaskDeferralTimeout,
    TaskDeferred,
)
from dagflow.sdk import contexts
from dagflow.sdk.abstractoperator import (
    DEFAULT_OWNER,
    AbstractOperator,
    Callback,
    normalize_scheduling_args,
)
from dagflow.sdk.assets import Asset, to_assets
from dagflow.sdk.durations import to_timedelta
from dagflow.sdk.ids import validate_key
from dagflow.sdk.params import ParamsDict
from dagflow.sdk.task_defaults import default_task_retries
from dagflow.sdk.templating import create_template_env, render_value

if TYPE_CHECKING:
    from dagflow.sdk.dag import DAG
    from dagflow.sdk.mappedoperator import OperatorPartial
    from dagflow.sdk.taskgroup import TaskGroup

CallbackArg = Callback | Sequence[Callback] | None

#: The scheduling arguments that are normalised the same way for mapped tasks.
SCHEDULING_ARGS = (
    "owner", "email", "email_on_retry", "email_on_failure", "retries", "retry_delay",
    "retry_exponential_backoff", "max_retry_delay", "start_date", "end_date", "execution_timeout",
    "sla", "trigger_rule", "depends_on_past", "ignore_first_depends_on_past", "wait_for_downstream",
    "pool", "pool_slots", "queue", "priority_weight", "weight_rule", "max_active_tis_per_dag",
    "max_active_tis_per_dagrun", "do_xcom_push", "multiple_outputs", "on_execute_callback",
    "on_success_callback", "on_failure_callback", "on_retry_callback", "on_skipped_callback",
    "executor_config", "doc_md", "doc", "description", "disabled", "allow_failure", "log_level",
)  # fmt: skip


def effective_default_args(
    dag: DAG | None, group: TaskGroup | None, explicit: Mapping[str, Any] | None
) -> dict[str, Any]:
    """default_args in force for a new task: DAG's, then enclosing groups', then the task's own."""
    merged: dict[str, Any] = dict(dag.default_args) if dag is not None else {}
    for layer in reversed(group.lineage() if group is not None else []):
        merged.update(layer.default_args)
    merged.update(explicit or {})
    return merged


def resolve_placement(kwargs: Mapping[str, Any]) -> tuple[DAG | None, TaskGroup | None]:
    """The DAG and task group a task built with ``kwargs`` belongs to (explicit or from ``with``)."""
    dag = kwargs.get("dag")
    group = kwargs.get("task_group")
    if dag is None and group is not None:
        dag = group.dag
    if dag is None:
        dag = contexts.current_dag()
    if group is None:
        group = contexts.current_group(dag)
    return dag, group


def _named_params(init: Callable[..., None]) -> tuple[inspect.Signature, frozenset[str], bool]:
    sig = inspect.signature(init)
    kinds = (inspect.Parameter.POSITIONAL_OR_KEYWORD, inspect.Parameter.KEYWORD_ONLY)
    names = frozenset(p.name for p in list(sig.parameters.values())[1:] if p.kind in kinds)
    has_var_kw = any(p.kind is inspect.Parameter.VAR_KEYWORD for p in sig.parameters.values())
    return sig, names, has_var_kw


def _passed_names(
    sig: inspect.Signature,
    names: frozenset[str],
    has_var_kw: bool,
    self: Any,
    args: tuple[Any, ...],
    kwargs: Mapping[str, Any],
) -> set[str] | frozenset[str]:
    """The parameter names a call passes (keyword-only calls, the usual case, skip ``bind``)."""
    if not args and (has_var_kw or names.issuperset(kwargs)):
        return kwargs.keys()  # type: ignore[return-value]
    try:
        return set(sig.bind_partial(self, *args, **kwargs).arguments)
    except TypeError as exc:
        raise DagDefinitionError(f"{type(self).__name__}: {exc}") from None


def _apply_defaults(init: Callable[..., None]) -> Callable[..., None]:
    """Wrap an operator ``__init__`` so DAG ``default_args`` fill the arguments not passed."""
    sig, names, has_var_kw = _named_params(init)

    @functools.wraps(init)
    def wrapper(self: BaseOperator, *args: Any, **kwargs: Any) -> None:
        dag, group = resolve_placement(kwargs)
        defaults = effective_default_args(dag, group, kwargs.get("default_args"))
        passed = _passed_names(sig, names, has_var_kw, self, args, kwargs)
        if defaults:
            for name in names - passed - {"params", "default_args", "dag", "task_group", "task_id"}:
                if name in defaults:
                    kwargs[name] = defaults[name]
        if defaults and ("default_args" in names or has_var_kw):
            kwargs["default_args"] = defaults
        depth = self.__dict__.get("_init_depth", 0)
        self.__dict__["_init_depth"] = depth + 1
        try:
            init(self, *args, **kwargs)
        finally:
            self.__dict__["_init_depth"] = depth
        if depth == 0:
            self._post_init()

    wrapper.__dagflow_apply_defaults__ = True  # type: ignore[attr-defined]
    return wrapper


class BaseOperator(AbstractOperator):
    """The base of every operator: scheduling settings, templating and ``execute(context)``."""

    def __init_subclass__(cls, **kwargs: Any) -> None:
        super().__init_subclass__(**kwargs)
        init = cls.__dict__.get("__init__")
        if init is not None and not getattr(init, "__dagflow_apply_defaults__", False):
            cls.__init__ = _apply_defaults(init)  # type: ignore[method-assign]

    def __init__(
        self,
        task_id: str,
        *,
        owner: str = DEFAULT_OWNER,
        email: str | Sequence[str] | None = None,
        email_on_retry: bool = True,
        email_on_failure: bool = True,
        retries: int | None = None,
        retry_delay: timedelta | float | str = timedelta(seconds=300),
        retry_exponential_backoff: bool = False,
        max_retry_delay: timedelta | float | str | None = None,
        start_date: datetime | None = None,
        end_date: datetime | None = None,
        execution_timeout: timedelta | float | str | None = None,
        sla: timedelta | float | str | None = None,
        trigger_rule: str = "all_success",
        depends_on_past: bool = False,
        ignore_first_depends_on_past: bool = True,
        wait_for_downstream: bool = False,
        dag: DAG | None = None,
        task_group: TaskGroup | None = None,
        default_args: Mapping[str, Any] | None = None,
        params: Mapping[str, Any] | None = None,
        pool: str | None = "default_pool",
        pool_slots: int = 1,
        queue: str = "default",
        priority_weight: int = 1,
        weight_rule: str = "downstream",
        max_active_tis_per_dag: int | None = None,
        max_active_tis_per_dagrun: int | None = None,
        do_xcom_push: bool = True,
        multiple_outputs: bool = False,
        on_execute_callback: CallbackArg = None,
        on_success_callback: CallbackArg = None,
        on_failure_callback: CallbackArg = None,
        on_retry_callback: CallbackArg = None,
        on_skipped_callback: CallbackArg = None,
        executor_config: Mapping[str, Any] | None = None,
        doc_md: str | None = None,
        doc: str | None = None,
        description: str | None = None,
        disabled: bool = False,
        allow_failure: bool = False,
        log_level: str | int | None = None,
        inlets: Any = None,
        outlets: Any = None,
        task_display_name: str | None = None,
        **kwargs: Any,
    ) -> None:
        if kwargs:
            raise DagDefinitionError(
                f"invalid arguments for {type(self).__name__} {task_id!r}: {', '.join(sorted(kwargs))}"
            )
        validate_key("task_id", task_id)
        dag, group = resolve_placement({"dag": dag, "task_group": task_group})
        self.task_id = group.child_id(task_id) if group is not None else task_id
        self.upstream_task_ids: set[str] = set()
        self.downstream_task_ids: set[str] = set()
        passed = locals()
        values = {name: passed[name] for name in SCHEDULING_ARGS}  # each is a parameter of this method
        values["pool"] = pool or "default_pool"
        values["retries"] = default_task_retries() if retries is None else retries
        for name, value in normalize_scheduling_args(self.task_id, values).items():
            setattr(self, name, value)
        self.default_args = dict(default_args or {})
        self._task_display_name = task_display_name
        self.params = ParamsDict(dag.params if dag is not None else None)
        self.params.update(self.default_args.get("params") or {})
        self.params.update(params or {})
        self.map_index = -1
        self.inlets: list[Asset] = to_assets(inlets, f"task {self.task_id!r}: inlets")
        self.outlets: list[Asset] = to_assets(outlets, f"task {self.task_id!r}: outlets")
        self._attach(dag, group)

    def _post_init(self) -> None:
        """After the outermost ``__init__``: XComArgs in template fields become dependencies.

        Not for an operator unmapped from a mapped task at run time (``contexts.detached``):
        it copies its dependencies from the mapped task and joins no DAG.
        """
        from dagflow.sdk.xcom_arg import XComArg

        if contexts.is_detached():
            return
        for field in self.template_fields:
            for arg in XComArg.iter_xcom_args(getattr(self, field, None)):
                for upstream in arg.dependency_roots():
                    upstream.set_downstream(self)

    @property
    def task_display_name(self) -> str:
        """The name shown for the task (Airflow's ``task_display_name``; the task id when not given)."""
        return self._task_display_name or self.task_id

    # --- mapping -------------------------------------------------------------------------
    @classmethod
    def partial(cls, **kwargs: Any) -> OperatorPartial:
        """Fix the arguments shared by every mapped instance; follow with ``.expand(...)``."""
        from dagflow.sdk.mappedoperator import OperatorPartial

        return OperatorPartial(cls, kwargs)

    # --- running -------------------------------------------------------------------------
    def execute(self, context: Mapping[str, Any]) -> Any:
        """Do the task's work; the return value is pushed as the ``return_value`` XCom."""
        raise NotImplementedError(f"{type(self).__name__} must implement execute()")

    def defer(
        self,
        *,
        trigger: Any,
        method_name: str,
        kwargs: Mapping[str, Any] | None = None,
        timeout: timedelta | float | str | None = None,
    ) -> NoReturn:
        """End this try as ``deferred``: the triggerer runs ``trigger``; its event resumes the task.

        The task resumes (same try number, in a worker slot again) in ``method_name``,
        called as ``method(context=context, event=payload, **kwargs)``. If the trigger does not
        fire within ``timeout`` the try fails (a sensor: as its own timeout).
        """
        if not callable(getattr(self, method_name, None)):
            raise DagDefinitionError(f"task {self.task_id!r}: cannot defer to missing method {method_name!r}")
        raise TaskDeferred(
            trigger=trigger, method_name=method_name, kwargs=dict(kwargs or {}), timeout=to_timedelta(timeout)
        )

    def resume_execution(
        self, next_method: str, next_kwargs: Mapping[str, Any] | None, context: Mapping[str, Any]
    ) -> Any:
        """Run the method a deferred try resumes in (``__fail__``: the trigger timed out or failed)."""
        kwargs = dict(next_kwargs or {})
        if next_method == "__fail__":
            error = kwargs.get("error") or "Trigger failure"
            if error == "Trigger timeout" and getattr(self, "is_sensor", False):
                raise SensorTimeout(f"sensor {self.task_id!r} timed out while deferred")
            raise TaskDeferralTimeout(error) if error == "Trigger timeout" else TaskDeferralError(error)
        method = getattr(self, next_method, None)
        if not callable(method):
            raise TaskDeferralError(f"task {self.task_id!r} has no method {next_method!r} to resume in")
        return method(context=context, **kwargs)

    def on_kill(self) -> None:
        """Stop whatever ``execute`` started (subprocesses, remote jobs); called on timeout/kill."""

    def get_template_env(self) -> jinja2.Environment:
        """The Jinja environment of this task's DAG (a plain sandboxed one without a DAG)."""
        if self.dag is not None:
            return self.dag.get_template_env()
        return create_template_env()

    def render_template(
        self, content: Any, context: Mapping[str, Any], jinja_env: jinja2.Environment | None = None
    ) -> Any:
        """Render one value (string, container, XComArg) with ``context``."""
        env = jinja_env or self.get_template_env()
        return render_value(content, context, env, template_ext=self.template_ext)

    def render_template_fields(self, context: Mapping[str, Any], jinja_env: jinja2.Environment | None = None) -> None:
        """Render every field in ``template_fields`` in place."""
        env = jinja_env or self.get_template_env()
        for field in self.template_fields:
            value = getattr(self, field)
            setattr(self, field, render_value(value, context, env, template_ext=self.template_ext))

    def prepare_for_execution(self) -> BaseOperator:
        """A shallow copy to render and run, leaving the parsed task untouched."""
        import copy

        return copy.copy(self)


BaseOperator.__init__ = _apply_defaults(BaseOperator.__init__)  # type: ignore[method-assign]
