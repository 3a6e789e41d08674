"""The DAG-file loader: DAGs collected, broken files become import errors with a line."""

from __future__ import annotations

import textwrap
from pathlib import Path

from dagflow.dag_processing.loader import list_dag_files, load_file, load_folder

GOOD = """
from datetime import datetime
from dagflow import DAG
from dagflow.operators import EmptyOperator

with DAG("good", schedule=None, start_date=datetime(2024, 1, 1)):
    EmptyOperator(task_id="a") >> EmptyOperator(task_id="b")
"""


def write(folder: Path, name: str, text: str) -> Path:
    path = folder / name
    path.write_text(textwrap.dedent(text))
    return path


def test_dag_defined_in_with_block_without_name_is_collected(tmp_path: Path) -> None:
    result = load_file(write(tmp_path, "good.py", GOOD))

    assert result.error is None
    assert [d.dag_id for d in result.dags] == ["good"]
    assert result.dags[0].fileloc == str((tmp_path / "good.py").resolve())


def test_syntax_error_names_file_and_line(tmp_path: Path) -> None:
    path = write(tmp_path, "broken_dag.py", "from dagflow import DAG\n\ndef oops(:\n    pass\n")

    result = load_file(path)

    assert result.dags == []
    assert result.error is not None
    assert result.error.lineno == 3
    assert result.error.message.startswith("SyntaxError")


def test_exception_at_import_names_the_line_in_the_dag_file(tmp_path: Path) -> None:
    path = write(tmp_path, "raises_dag.py", "import dagflow\nx = 1\nraise RuntimeError('no config')\n")

    error = load_file(path).error

    assert error is not None
    assert (error.lineno, error.message) == (3, "RuntimeError: no config")


def test_cycle_is_an_import_error_naming_the_cycle(tmp_path: Path) -> None:
    path = write(
        tmp_path,
        "cycle_dag.py",
        """
        from datetime import datetime
        from dagflow import DAG
        from dagflow.operators import EmptyOperator
        dag = DAG("cycle", schedule=None, start_date=datetime(2024, 1, 1))
        a = EmptyOperator(task_id="a", dag=dag)
        b = EmptyOperator(task_id="b", dag=dag)
        a >> b >> a
    """,
    )

    error = load_file(path).error

    assert error is not None
    assert "DagCycleError" in error.message
    assert "a" in error.message and "b" in error.message


def test_a_broken_file_does_not_hide_the_good_ones(tmp_path: Path) -> None:
    write(tmp_path, "good.py", GOOD)
    write(tmp_path, "bad_dag.py", "import no_such_module_for_dagflow\n")

    result = load_folder([tmp_path])

    assert set(result.dags) == {"good"}
    assert list(result.errors) == [str((tmp_path / "bad_dag.py").resolve())]
    assert "ModuleNotFoundError" in result.errors[str((tmp_path / "bad_dag.py").resolve())].message


def test_same_dag_id_in_two_files_is_an_error_on_the_second(tmp_path: Path) -> None:
    write(tmp_path, "a_first.py", GOOD)
    write(tmp_path, "b_second.py", GOOD)

    result = load_folder([tmp_path])

    assert result.dags["good"].fileloc.endswith("a_first.py")
    assert "already defined" in result.errors[str((tmp_path / "b_second.py").resolve())].message


def test_files_without_dag_and_ignored_files_are_not_imported(tmp_path: Path) -> None:
    write(tmp_path, "helpers.py", "VALUE = 1\n")
    write(tmp_path, "good.py", GOOD)
    (tmp_path / "skipme").mkdir()
    write(tmp_path / "skipme", "other_dag.py", GOOD)
    write(tmp_path, ".dagflowignore", "skipme  # vendored\n")

    files = list_dag_files([tmp_path])

    assert [f.name for f in files] == ["good.py"]


def test_dag_files_can_import_modules_next_to_them(tmp_path: Path) -> None:
    write(tmp_path, "shared_names_for_loader_test.py", "TASK = 'from_helper'\n")
    write(
        tmp_path,
        "uses_helper_dag.py",
        GOOD.replace(
            'EmptyOperator(task_id="a")',
            '__import__("shared_names_for_loader_test") and EmptyOperator(task_id="a")',
        ),
    )

    result = load_file(tmp_path / "uses_helper_dag.py")

    assert result.error is None
