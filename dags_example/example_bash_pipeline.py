"""A shell pipeline: templated BashOperator steps, a task group and XCom from stdout.

Shows:
- ``{{ ds }}`` and ``{{ ds_nodash }}`` rendered into commands and into ``env``;
- ``env`` with ``append_env=True`` (keep the worker's environment, add these) and
  ``cwd`` (the directory the command runs in);
- the last line a BashOperator prints is its XCom (``return_value``); a later task
  reads it with ``{{ ti.xcom_pull(task_ids='...') }}``;
- a ``TaskGroup``: its tasks' ids are prefixed with the group id
  (``transform.count_words``), and the group is wired like a task.
"""

from __future__ import annotations

import tempfile
from datetime import datetime

from dagflow import DAG, TaskGroup
from dagflow.operators import BashOperator

WORKDIR = tempfile.gettempdir()  # where the commands run; nothing is read from it at parse time

with DAG(
    dag_id="example_bash_pipeline",
    schedule="30 2 * * *",
    start_date=datetime(2024, 1, 1),
    catchup=False,
    default_args={"owner": "ops", "cwd": WORKDIR},
    tags=["example", "bash"],
    doc_md=__doc__,
) as dag:
    prepare = BashOperator(
        task_id="prepare",
        bash_command='mkdir -p "dagflow_examples/bash/$RUN_DAY" && echo "prepared $RUN_DAY in $PWD"',
        env={"RUN_DAY": "{{ ds_nodash }}"},
        append_env=True,
    )

    with TaskGroup("transform") as transform:
        generate = BashOperator(
            task_id="generate",
            bash_command=(
                'printf "alpha beta\\ngamma delta epsilon\\n" > "dagflow_examples/bash/{{ ds_nodash }}/words.txt"'
            ),
        )
        count_words = BashOperator(
            task_id="count_words",
            # Only the last line printed becomes the XCom.
            bash_command=(
                'echo "counting words for {{ ds }}"; '
                'wc -w < "dagflow_examples/bash/{{ ds_nodash }}/words.txt" | tr -d " "'
            ),
        )
        generate >> count_words

    report = BashOperator(
        task_id="report",
        bash_command=(
            "WORDS=\"{{ ti.xcom_pull(task_ids='transform.count_words') }}\"; "
            'echo "{{ ds }}: $WORDS words"; test "$WORDS" -eq 5'
        ),
    )

    cleanup = BashOperator(
        task_id="cleanup",
        bash_command='rm -rf "dagflow_examples/bash/{{ ds_nodash }}"',
    )

    prepare >> transform >> report >> cleanup
