"""Who is acting: the user the audit event log names, held in a context variable.

Kept apart from ``dagflow.services.events`` so that setting it imports nothing heavy
(the CLI sets it at its start, before any command imports the database layer).
"""

from __future__ import annotations

import getpass
import os
from collections.abc import Iterator
from contextlib import contextmanager
from contextvars import ContextVar, Token

_ACTOR: ContextVar[str | None] = ContextVar("dagflow_actor", default=None)

#: Longest actor name the event log holds.
ACTOR_LEN = 256


def current_actor() -> str | None:
    """Who is acting in this context (None: nobody was named)."""
    return _ACTOR.get()


def set_actor(actor: str | None) -> Token[str | None]:
    """Name who acts from now on in this context; returns the token ``reset_actor`` takes."""
    return _ACTOR.set(actor[:ACTOR_LEN] if actor else None)


def reset_actor(token: Token[str | None]) -> None:
    """Undo a ``set_actor``."""
    _ACTOR.reset(token)


@contextmanager
def acting_as(actor: str | None) -> Iterator[None]:
    """Within the block, events are recorded as done by ``actor``."""
    token = set_actor(actor)
    try:
        yield
    finally:
        reset_actor(token)


def os_user() -> str:
    """The operating-system user running this process (as Airflow's CLI names it in its log)."""
    try:
        return getpass.getuser()
    except (KeyError, OSError):  # a uid with no passwd entry (some containers)
        return f"uid:{os.getuid()}"
