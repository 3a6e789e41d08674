"""The scheduler's view of serialized DAGs: loaded in batches, deserialized once per hash.

A tick asks for the DAGs of every run it touches in one call; the cache first reads the
``(dag_id, dag_hash, fileloc)`` triples (cheap), then the JSON only of DAGs it has not
seen at that hash. A ``SerializedDag`` is therefore built once per DAG version for the
life of the scheduler, never per task or per tick. No DAG file is ever imported here.
"""

from __future__ import annotations

import contextlib
import weakref
from collections.abc import Iterable, Iterator, Mapping
from dataclasses import dataclass
from typing import Any

import sqlalchemy as sa
from sqlalchemy.orm import Session

from dagflow.models import SerializedDagModel
from dagflow.serialization import SerializedDag, deserialize_dag

#: dag_ids per IN (...) query, well under SQLite's parameter limit.
_CHUNK = 500


@dataclass(frozen=True)
class CachedDag:
    """One deserialized DAG with the hash and file it came from."""

    dag: SerializedDag
    dag_hash: str
    fileloc: str


class SerializedDagStore:
    """Deserialized DAGs by dag_id, refreshed when their stored hash changes."""

    def __init__(self) -> None:
        self._cache: dict[str, CachedDag] = {}
        self.deserializations = 0
        self._checked_in: weakref.ref[Session] | None = None
        self._checked: set[str] = set()
        self._one_tick = False

    @contextlib.contextmanager
    def one_tick(self) -> Iterator[None]:
        """Within the block a DAG's hash is checked once, whatever the session (one tick's transactions).

        On SQLite a tick reads in one transaction and queues in another; a DAG version
        stored in between is seen by the next tick, as if it had been stored just after.
        """
        self._one_tick, self._checked_in, self._checked = True, None, set()
        try:
            yield
        finally:
            self._one_tick, self._checked_in, self._checked = False, None, set()

    def get_many(
        self, session: Session, dag_ids: Iterable[str], *, hashes: Mapping[str, str | None] | None = None
    ) -> dict[str, CachedDag]:
        """The current version of each DAG in ``dag_ids`` that has a serialized form.

        A DAG whose hash was already checked in this ``session`` (the run pass, then
        queueing), or in this tick (``one_tick``), is not checked again. ``hashes``: the
        stored hashes (None: no serialized form) the caller read in this session already
        (``hash_column`` on its own query); only the others are read.
        """
        wanted = sorted(set(dag_ids))
        found: dict[str, CachedDag] = {}
        stale: list[str] = []
        if not self._one_tick and (self._checked_in is None or self._checked_in() is not session):
            self._checked_in, self._checked = weakref.ref(session), set()
        else:
            found = {d: self._cache[d] for d in wanted if d in self._checked and d in self._cache}
            wanted = [d for d in wanted if d not in found]
        if hashes:
            given = [d for d in wanted if d in hashes]
            wanted = [d for d in wanted if d not in hashes]
            for dag_id in given:
                digest, cached = hashes[dag_id], self._cache.get(dag_id)
                if cached is not None and cached.dag_hash == digest:
                    found[dag_id] = cached
                elif digest is not None:
                    stale.append(dag_id)
        for chunk in _chunks(wanted):
            query = sa.select(SerializedDagModel.dag_id, SerializedDagModel.dag_hash).where(
                SerializedDagModel.dag_id.in_(chunk)
            )
            for dag_id, digest in session.execute(query):
                cached = self._cache.get(dag_id)
                if cached is not None and cached.dag_hash == digest:
                    found[dag_id] = cached
                else:
                    stale.append(dag_id)
        found.update(self._load(session, stale))
        self._checked.update(found)
        return found

    @staticmethod
    def hash_column(dag_id: Any) -> Any:
        """The stored hash of the DAG ``dag_id`` (a column of the caller's query) as a scalar subquery."""
        return (
            sa.select(SerializedDagModel.dag_hash)
            .where(SerializedDagModel.dag_id == dag_id)
            .scalar_subquery()
            .label("dag_hash")
        )

    def get(self, session: Session, dag_id: str) -> CachedDag | None:
        """One DAG (see ``get_many``)."""
        return self.get_many(session, [dag_id]).get(dag_id)

    def _load(self, session: Session, dag_ids: list[str]) -> dict[str, CachedDag]:
        loaded: dict[str, CachedDag] = {}
        for chunk in _chunks(dag_ids):
            query = sa.select(
                SerializedDagModel.dag_id,
                SerializedDagModel.dag_hash,
                SerializedDagModel.fileloc,
                SerializedDagModel.data,
            ).where(SerializedDagModel.dag_id.in_(chunk))
            for dag_id, digest, fileloc, data in session.execute(query):
                entry = CachedDag(deserialize_dag(dict(data)), digest, fileloc)
                self.deserializations += 1
                self._cache[dag_id] = loaded[dag_id] = entry
        return loaded

    def cached(self) -> list[CachedDag]:
        """Every DAG this store holds now, as last loaded (no query)."""
        return list(self._cache.values())

    def forget(self, dag_id: str) -> None:
        """Drop one DAG from the cache."""
        self._cache.pop(dag_id, None)


def _chunks(items: list[str]) -> Iterable[list[str]]:
    for start in range(0, len(items), _CHUNK):
        yield items[start : start + _CHUNK]
