"""``dagflow celery flower``: Flower, the Celery monitoring UI, on dagflow's broker (if installed)."""

from __future__ import annotations

import importlib.util
from typing import TYPE_CHECKING

from dagflow.exceptions import ConfigError
from dagflow.executors.celery.app import build_app

if TYPE_CHECKING:
    from dagflow.config import Settings


def run_flower(settings: Settings, *, port: int | None = None) -> None:
    """Run Flower against ``celery.broker_url`` until stopped."""
    if importlib.util.find_spec("flower") is None:
        raise ConfigError("flower is not installed: pip install 'dagflow[flower]' (or pip install flower)")
    app = build_app(settings)
    app.start(["flower", f"--port={port or settings.celery.flower_port}"])
