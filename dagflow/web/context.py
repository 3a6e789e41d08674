"""The app's Settings and Database, built once by ``create_app`` and read by views."""

from __future__ import annotations

from dataclasses import dataclass

from flask import Flask, current_app

from dagflow.config import Settings
from dagflow.db import Database

EXTENSION = "dagflow"


@dataclass(frozen=True)
class WebContext:
    """What every view needs: the settings and the metadata database."""

    settings: Settings
    db: Database


def install(app: Flask, settings: Settings, db: Database) -> WebContext:
    """Attach the context to ``app`` (``create_app`` does it once)."""
    context = WebContext(settings, db)
    app.extensions[EXTENSION] = context
    return context


def web_context() -> WebContext:
    """The current app's context."""
    context: WebContext = current_app.extensions[EXTENSION]
    return context
