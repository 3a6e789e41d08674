"""Scripts in any interpreter: shell and Python with files through internal storage, retries, allow_failure.

``shell`` gets an input file and writes ``out/sum.txt`` (its XCom maps that name to a storage
URI); ``python_script`` reads it as an input file given by that URI and writes ``double.json``;
``check`` (a plain task) reads the file back and fails unless it holds 2 x (3 + 4 + 5).
``flaky`` fails on its first try and succeeds on the retry; ``optional`` always fails
(after one retry) but ``allow_failure`` lets ``after_optional`` and the run succeed.
"""
import json
from datetime import datetime

from dagflow import DAG, task
from dagflow.operators import ScriptOperator

with DAG("acc_scripts", schedule=None, start_date=datetime(2024, 1, 1)):
    shell = ScriptOperator(
        task_id="shell",
        interpreter="bash",
        script="set -eu; mkdir -p out; awk '{ s += $1 } END { print s }' numbers.txt > out/sum.txt",
        input_files={"numbers.txt": "3\n4\n5\n"},
        output_files=["out/*.txt"],
    )
    python_script = ScriptOperator(
        task_id="python_script",
        script=(
            "import json\n"
            "total = int(open('sum.txt').read())\n"
            "json.dump({'double': 2 * total}, open('double.json', 'w'))\n"
        ),
        input_files={"sum.txt": "{{ ti.xcom_pull(task_ids='shell')['out/sum.txt'] }}"},
        output_files=["double.json"],
    )

    @task
    def check(files, **context):
        got = json.loads(context["storage"].get_bytes(files["double.json"]))
        if got != {"double": 24}:
            raise ValueError(f"the scripts computed {got}")

    flaky = ScriptOperator(
        task_id="flaky",
        interpreter="sh",
        script='test "{{ ti.try_number }}" -ge 2 || { echo "try {{ ti.try_number }} fails"; exit 1; }',
        retries=2,
        retry_delay=0,
    )
    optional = ScriptOperator(
        task_id="optional", interpreter="bash", script="exit 4", retries=1, retry_delay=0, allow_failure=True
    )

    @task
    def after_optional():
        return "ran"

    shell >> python_script
    check(python_script.output)
    optional >> after_optional()
    flaky
