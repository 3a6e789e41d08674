"""Per-DAG access: a DAG's ``access_control`` (``{role: {"can_read", "can_edit", "can_delete"}}``, Airflow's name).

A DAG without ``access_control`` is open to every role as far as that role's global
permissions go. A DAG with one is restricted: only the roles it names get the actions it
gives them (on top of what their role allows anyway); ``admin`` is never restricted. A
DAG a role may not read is left out of every list and refused (``PermissionDenied``) on
every route that names it.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence

import sqlalchemy as sa

from dagflow.db import Database
from dagflow.exceptions import PermissionDenied
from dagflow.models import DagModel
from dagflow.services.database import ensure_schema

CAN_READ = "can_read"
CAN_EDIT = "can_edit"
CAN_DELETE = "can_delete"
#: The role that every DAG's ``access_control`` leaves alone.
UNRESTRICTED_ROLE = "admin"


def may(access_control: Mapping[str, Sequence[str]] | None, role: str | None, action: str) -> bool:
    """True when ``role`` may take ``action`` on a DAG with this ``access_control`` (None: not restricted)."""
    if access_control is None or role == UNRESTRICTED_ROLE:
        return True
    return role is not None and action in access_control.get(role, ())


def hidden_dag_ids(db: Database, role: str | None, action: str = CAN_READ) -> frozenset[str]:
    """The DAGs whose ``access_control`` refuses ``role`` this action (the few restricted DAGs are read)."""
    if role == UNRESTRICTED_ROLE:
        return frozenset()
    ensure_schema(db)
    with db.transaction(readonly=True) as session:
        rows = session.execute(
            sa.select(DagModel.dag_id, DagModel.access_control).where(DagModel.access_control.is_not(None))
        )
        return frozenset(dag_id for dag_id, control in rows if not may(control, role, action))


def check_dag_access(db: Database, role: str | None, dag_id: str, action: str) -> None:
    """Refuse (``PermissionDenied``) when the DAG's ``access_control`` does not give ``role`` this action.

    An unknown DAG passes: the route answers 404 itself.
    """
    if role == UNRESTRICTED_ROLE:
        return
    ensure_schema(db)
    with db.transaction(readonly=True) as session:
        control = session.scalar(sa.select(DagModel.access_control).where(DagModel.dag_id == dag_id))
    if not may(control, role, action):
        raise PermissionDenied(f"role {role} may not {action.removeprefix('can_')} DAG {dag_id!r} (its access_control)")
