"""Scripts in any interpreter, with files between them through internal storage.

Shows:
- ``ScriptOperator`` running a bash script in a fresh working directory: ``input_files``
  are written there first, and the files matching ``output_files`` go to internal storage;
  the task's XCom is ``{relative path: dagflow:// URI}``;
- a Python script reading that file: a ``dagflow://`` URI as an ``input_files`` value is
  fetched from storage (here templated from the upstream XCom), and ``requirements=[]``
  runs it in a cached virtualenv under ``$DAGFLOW_HOME/venvs`` (built once, then reused);
- ``@task.virtualenv``: a function run in that virtualenv, arguments and result as JSON;
- a plain ``@task`` reading an output file back with ``context["storage"]``.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

from dagflow import DAG
from dagflow.operators import ScriptOperator
from dagflow.sdk import task

with DAG(
    dag_id="example_script",
    schedule="@daily",
    start_date=datetime(2024, 1, 1),
    catchup=False,
    tags=["example", "scripts"],
    doc_md=__doc__,
) as dag:
    extract = ScriptOperator(
        task_id="extract",
        interpreter="bash",
        script="""
            set -euo pipefail
            echo "extracting for {{ ds }}"
            mkdir -p out
            tail -n +2 orders.csv | cut -d, -f2 > out/amounts.txt
        """,
        input_files={"orders.csv": "id,amount\n1,10\n2,32\n3,8\n"},
        output_files=["out/*.txt"],
    )

    total = ScriptOperator(
        task_id="total",
        script="""
import json
import sys
amounts = [int(line) for line in open("amounts.txt") if line.strip()]
print("python", sys.version.split()[0], "in", sys.prefix)
json.dump({"count": len(amounts), "total": sum(amounts)}, open("total.json", "w"))
""",
        requirements=[],
        input_files={"amounts.txt": "{{ ti.xcom_pull(task_ids='extract')['out/amounts.txt'] }}"},
        output_files=["total.json"],
    )

    @task.virtualenv(requirements=[])
    def grade(count: int) -> str:
        return "busy" if count > 2 else "quiet"

    @task
    def report(files: dict[str, str], level: str, **context: Any) -> dict[str, Any]:
        import json

        summary = json.loads(context["storage"].get_text(files["total.json"]))
        print(f"{summary['count']} orders, total {summary['total']}: a {level} day")
        return {**summary, "level": level}

    extract >> total
    report(total.output, grade(3))
