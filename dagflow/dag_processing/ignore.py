"""Which files under a DAG folder are not DAG files: ``.airflowignore`` and ``.dagflowignore``.

As in Airflow, an ignore file applies to the folder it is in and to every folder below
it, and its patterns are relative to that folder. Both names are read in every folder
(an Airflow DAG folder works unchanged; the ``.dagflowignore`` lines come after the
``.airflowignore`` ones). ``core.dag_ignore_file_syntax`` picks the syntax, with
Airflow's names and default:

- ``glob``: ``.gitignore`` wildcards (``*``, ``**``, ``?``, ``[a-z]``); a pattern with no
  ``/`` matches a name at any depth, a trailing ``/`` matches folders only, ``!``
  includes again what an earlier pattern (of this file or a parent folder's) ignored;
  the last matching pattern decides. A folder that is ignored is not walked.
- ``regexp``: each line is a regular expression searched in the path relative to the
  ignore file's folder; a match ignores the file or the folder.

Text after ``#`` is a comment in both. A line that is not a valid pattern is logged and
skipped: one bad line never hides the whole folder.
"""

from __future__ import annotations

import logging
import re
from dataclasses import dataclass
from pathlib import Path

import pathspec

log = logging.getLogger(__name__)

#: The ignore files read in every folder, in this order.
IGNORE_FILES = (".airflowignore", ".dagflowignore")


@dataclass(frozen=True)
class _GlobRules:
    """The glob patterns of one folder's ignore files."""

    folder: Path
    spec: pathspec.GitIgnoreSpec

    def verdict(self, relative: str) -> bool | None:
        """True: ignored, False: included again (``!``), None: no pattern matches."""
        return self.spec.check_file(relative).include


@dataclass(frozen=True)
class _RegexpRules:
    """The regular expressions of one folder's ignore files."""

    folder: Path
    patterns: tuple[re.Pattern[str], ...]

    def verdict(self, relative: str) -> bool | None:
        """True if a pattern is found in the path, else None (regexp rules never include again)."""
        return True if any(p.search(relative.rstrip("/")) for p in self.patterns) else None


@dataclass(frozen=True)
class IgnoreRules:
    """The rules in force in one folder: its parents' ignore files first, then its own."""

    syntax: str = "glob"
    layers: tuple[_GlobRules | _RegexpRules, ...] = ()

    def below(self, folder: Path) -> IgnoreRules:
        """The rules in force in ``folder`` (a sub-folder of this one's, or the DAG folder itself)."""
        lines = _read_lines(folder)
        if not lines:
            return self
        layer = _glob_layer(folder, lines) if self.syntax == "glob" else _regexp_layer(folder, lines)
        return IgnoreRules(self.syntax, (*self.layers, layer))

    def ignores(self, path: Path, *, is_dir: bool = False) -> bool:
        """Whether ``path`` (a file, or a folder with ``is_dir``) is ignored."""
        ignored = False
        for layer in self.layers:
            relative = path.relative_to(layer.folder).as_posix() + ("/" if is_dir else "")
            verdict = layer.verdict(relative)
            if verdict is not None:
                ignored = verdict
        return ignored


def _read_lines(folder: Path) -> list[str]:
    """The pattern lines of ``folder``'s ignore files (comments and blank lines dropped)."""
    lines: list[str] = []
    for name in IGNORE_FILES:
        try:
            text = (folder / name).read_text(encoding="utf-8", errors="replace")
        except OSError:
            continue
        for line in text.splitlines():
            pattern = line.split("#", 1)[0].strip()
            if pattern:
                lines.append(pattern)
    return lines


def _glob_layer(folder: Path, lines: list[str]) -> _GlobRules:
    valid: list[str] = []
    for line in lines:
        try:
            pathspec.GitIgnoreSpec.from_lines([line])
        except (ValueError, TypeError) as exc:
            log.warning("%s: ignore pattern %r skipped: %s", folder, line, exc)
            continue
        valid.append(line)
    return _GlobRules(folder, pathspec.GitIgnoreSpec.from_lines(valid))


def _regexp_layer(folder: Path, lines: list[str]) -> _RegexpRules:
    compiled: list[re.Pattern[str]] = []
    for line in lines:
        try:
            compiled.append(re.compile(line))
        except re.error as exc:
            log.warning("%s: ignore pattern %r skipped: %s", folder, line, exc)
    return _RegexpRules(folder, tuple(compiled))
