"""Keeping each parsed DAG file's source in the DB (``dag_code``), so the web UI shows code without reading files."""

from __future__ import annotations

import hashlib
from datetime import datetime
from pathlib import Path

from sqlalchemy.orm import Session

from dagflow.models import DagCode

#: Larger files are stored cut at this many characters (a generated DAG file can be huge).
MAX_SOURCE_CHARS = 1_000_000


def store_dag_code(session: Session, fileloc: str, *, now: datetime) -> bool:
    """Store the file's text if it changed since last stored; True if written. An unreadable file writes nothing."""
    try:
        text = Path(fileloc).read_text(encoding="utf-8", errors="replace")[:MAX_SOURCE_CHARS]
    except OSError:
        return False
    digest = hashlib.sha256(text.encode("utf-8")).hexdigest()
    stored = session.get(DagCode, fileloc)
    if stored is not None and stored.source_hash == digest:
        return False
    if stored is None:
        session.add(DagCode(fileloc=fileloc, source_hash=digest, source_code=text, last_updated=now))
    else:
        stored.source_hash, stored.source_code, stored.last_updated = digest, text, now
    return True
