"""CI, the README and pre-commit agree on the commands they run."""

from __future__ import annotations

import re
from pathlib import Path

import yaml

ROOT = Path(__file__).resolve().parents[2]
CHECKS = ("ruff check .", "ruff format --check .", "lint-imports")


def ci_lines() -> list[str]:
    return [line.strip() for line in (ROOT / ".ci" / "run").read_text().splitlines() if line.strip()]


def test_ci_ends_with_the_readme_test_command() -> None:
    blocks = re.findall(r"```bash\n(.*?)```", (ROOT / "README.md").read_text(), re.DOTALL)
    readme_test_command = blocks[0].strip().splitlines()[1]
    assert readme_test_command.endswith("&& pytest")
    assert ci_lines()[-1] == readme_test_command


def test_ci_runs_the_static_checks_before_the_tests() -> None:
    lines = ci_lines()
    for check in CHECKS:
        assert check in lines, check
        assert lines.index(check) < len(lines) - 1
    assert any(re.fullmatch(r"mypy\b.*", line) for line in lines)  # enabled, not commented out


def test_pre_commit_runs_the_same_tools() -> None:
    config = yaml.safe_load((ROOT / ".pre-commit-config.yaml").read_text())
    entries = [hook["entry"] for repo in config["repos"] for hook in repo["hooks"]]
    assert [entry.split(" --")[0] for entry in entries] == ["ruff check", "ruff format", "lint-imports", "mypy"]
