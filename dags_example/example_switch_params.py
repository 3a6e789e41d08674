"""Run parameters and a switch: the trigger picks which deployment runs.

Shows:
- DAG ``params`` declared with ``Param``: a default, a JSON-schema ``type``, an
  ``enum`` of allowed values and a description; a trigger's ``--conf`` overrides them
  and is validated against the schema (``--conf '{"target": "qa"}'`` is refused);
- ``SwitchOperator``: renders ``value`` (here ``{{ params.target }}``), follows the
  task id that ``cases`` maps it to and skips the other cases;
- params used in templates (``{{ params.version }}``) and in Python
  (``context["params"]``);
- a param handed to bash safely: through ``env=`` (bash reads ``$VERSION`` as data),
  never pasted into ``bash_command`` where a conf like ``"1.0'; rm -rf ~; '"`` would
  run as code (see docs/security.md).

    dagflow dags test example_switch_params                            # staging (default)
    dagflow dags test example_switch_params --conf '{"target": "prod"}'
"""

from __future__ import annotations

from datetime import datetime

from dagflow import DAG, Param
from dagflow.operators import BashOperator, EmptyOperator, PythonOperator, SwitchOperator

TARGETS = ("dev", "staging", "prod")


def check_release(params) -> str:
    """Refuse a release without a version; return what will be deployed."""
    if not params["version"]:
        raise ValueError("params.version must not be empty")
    return f"{params['version']} -> {params['target']}"


with DAG(
    dag_id="example_switch_params",
    schedule="0 9 * * 1",  # Mondays at 09:00
    start_date=datetime(2024, 1, 1),
    catchup=False,
    params={
        "target": Param("staging", type="string", enum=list(TARGETS), description="Where to deploy"),
        "version": Param("1.4.2", type="string", minLength=1, description="Release to deploy"),
    },
    tags=["example", "params"],
    doc_md=__doc__,
) as dag:
    check = PythonOperator(task_id="check_release", python_callable=check_release)

    switch = SwitchOperator(
        task_id="choose_target",
        value="{{ params.target }}",
        cases={target: f"deploy_{target}" for target in TARGETS},
        default="unknown_target",
    )

    deploys = [
        BashOperator(
            task_id=f"deploy_{target}",
            bash_command=f'echo "deploying $VERSION to {target}"',
            env={"VERSION": "{{ params.version }}"},
            append_env=True,
        )
        for target in TARGETS
    ]
    unknown = BashOperator(task_id="unknown_target", bash_command="echo 'no such target' && exit 1")

    announce = EmptyOperator(task_id="announce", trigger_rule="none_failed_min_one_success")

    check >> switch >> [*deploys, unknown] >> announce
