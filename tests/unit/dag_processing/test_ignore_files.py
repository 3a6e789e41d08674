"""``.airflowignore`` / ``.dagflowignore``: nested, glob (the default) and regexp, as Airflow reads them."""

from __future__ import annotations

from pathlib import Path

import pytest

from dagflow.config import load_settings
from dagflow.dag_processing.folder_watch import _relevant
from dagflow.dag_processing.loader import list_dag_files
from dagflow.exceptions import ConfigError

DAG_TEXT = "from dagflow import DAG\n"


def tree(root: Path, files: dict[str, str]) -> Path:
    """Write ``files`` (relative path -> text) under ``root``; DAG files get a text that mentions a DAG."""
    for relative, text in files.items():
        path = root / relative
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(text or DAG_TEXT)
    return root


def listed(root: Path, syntax: str = "glob") -> list[str]:
    return [path.relative_to(root.resolve()).as_posix() for path in list_dag_files([root], ignore_syntax=syntax)]


def test_an_airflow_folder_is_read_unchanged_airflowignore_included(tmp_path: Path) -> None:
    tree(
        tmp_path,
        {
            ".airflowignore": "vendor/\n*_test.py  # unit tests beside the DAGs\n",
            "etl.py": "",
            "etl_test.py": "",
            "vendor/lib_dag.py": "",
            "team/report.py": "",
            "team/report_test.py": "",
        },
    )

    assert listed(tmp_path) == ["etl.py", "team/report.py"]


def test_an_ignore_file_applies_to_its_folder_and_below_with_paths_relative_to_it(tmp_path: Path) -> None:
    tree(
        tmp_path,
        {
            "keep.py": "",
            "a/.airflowignore": "draft_*.py\nb/old.py\n",
            "a/draft_one.py": "",
            "a/done.py": "",
            "a/b/old.py": "",
            "a/b/draft_two.py": "",
            "a/b/new.py": "",
            "c/draft_three.py": "",  # a sibling folder: a/.airflowignore does not apply
            "c/old.py": "",
        },
    )

    assert listed(tmp_path) == ["a/b/new.py", "a/done.py", "c/draft_three.py", "c/old.py", "keep.py"]


def test_glob_negation_and_both_file_names_last_match_wins(tmp_path: Path) -> None:
    tree(
        tmp_path,
        {
            ".airflowignore": "generated_*.py\n",
            ".dagflowignore": "!generated_keep.py\n",
            "generated_a.py": "",
            "generated_keep.py": "",
            "sub/.dagflowignore": "generated_keep.py\n",  # a deeper file ignores it again there
            "sub/generated_keep.py": "",
            "sub/other.py": "",
        },
    )

    assert listed(tmp_path) == ["generated_keep.py", "sub/other.py"]


def test_double_star_and_folder_only_patterns(tmp_path: Path) -> None:
    tree(
        tmp_path,
        {
            ".airflowignore": "**/fixtures/**\nbuild/\n",
            "x/fixtures/f.py": "",
            "x/y/fixtures/g.py": "",
            "build/out.py": "",
            "sub/build.py": "",  # a file named like the folder pattern stays: "build/" matches folders only
        },
    )

    assert listed(tmp_path) == ["sub/build.py"]


def test_regexp_syntax_searches_the_relative_path(tmp_path: Path) -> None:
    tree(
        tmp_path,
        {
            ".airflowignore": r"^legacy" + "\n" + r"_v\d+\.py$" + "\n" + "[unclosed\n",
            "legacy_job.py": "",
            "legacy/inner.py": "",
            "report_v2.py": "",
            "report.py": "",
            "sub/.airflowignore": "^skip\n",
            "sub/skip_me.py": "",
            "sub/keep.py": "",
        },
    )

    # The bad line "[unclosed" is skipped with a warning; the other lines still apply.
    assert listed(tmp_path, "regexp") == ["report.py", "sub/keep.py"]


def test_an_ignore_file_that_is_gone_or_empty_ignores_nothing(tmp_path: Path) -> None:
    tree(tmp_path, {".airflowignore": "# only a comment\n\n", "a.py": "", "b/c.py": ""})

    assert listed(tmp_path) == ["a.py", "b/c.py"]


def test_the_syntax_setting_is_checked_with_one_clear_line(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("DAGFLOW_HOME", str(tmp_path))
    monkeypatch.setenv("DAGFLOW__CORE__DAG_IGNORE_FILE_SYNTAX", "regex")

    with pytest.raises(ConfigError, match=r"core.dag_ignore_file_syntax: expected one of glob, regexp, got 'regex'"):
        load_settings()

    monkeypatch.setenv("DAGFLOW__CORE__DAG_IGNORE_FILE_SYNTAX", "regexp")
    assert load_settings().core.dag_ignore_file_syntax == "regexp"


def test_the_folder_watch_reacts_to_ignore_files(tmp_path: Path) -> None:
    assert _relevant(None, str(tmp_path / ".airflowignore"))
    assert _relevant(None, str(tmp_path / "sub" / ".dagflowignore"))
    assert not _relevant(None, str(tmp_path / ".a.py.swp"))
