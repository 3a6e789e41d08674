"""Acceptance fixtures: the shared cases in this folder, run through the public CLI."""

from __future__ import annotations

import importlib.util
import json
import os
import sys
from pathlib import Path
from types import ModuleType

import pytest

HERE = Path(__file__).resolve().parent
EXPECTED: dict[str, dict] = json.loads((HERE / "expected.json").read_text())


def _load_runner() -> ModuleType:
    spec = importlib.util.spec_from_file_location("acceptance_run", HERE / "run.py")
    assert spec and spec.loader
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


@pytest.fixture(scope="session")
def acceptance() -> ModuleType:
    """The shared ``run.py``, imported as a module so each case is its own test."""
    bin_dir = str(Path(sys.executable).parent)
    if bin_dir not in os.environ.get("PATH", "").split(os.pathsep):
        os.environ["PATH"] = bin_dir + os.pathsep + os.environ.get("PATH", "")
    return _load_runner()
