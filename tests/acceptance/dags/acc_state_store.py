"""The state store across task instances: compare-and-set from mapped tasks, TTL, namespaces.

Six mapped ``bump`` task instances (several at once in scheduler mode, on any worker) each
add their number to one counter with a compare-and-set loop; ``verify`` fails unless the
total is exactly 1 + 2 + ... + 6 and the version shows one write per bump (no lost update).
``ttl`` checks that a key with a TTL reads as missing once it expired and can be created
again with ``expected_version=0``; ``namespaces`` that one key in two namespaces holds two
values and that listing with a prefix stays in its namespace. Keys carry the run id, so a
shared database never mixes runs.
"""
import time
from datetime import datetime

from dagflow import DAG, task
from dagflow.exceptions import StateStoreConflict
from dagflow.state_store import state_store

NS = "acc_state_store"
NUMBERS = [1, 2, 3, 4, 5, 6]


@task
def reset(**context):
    key = f"counter/{context['run_id']}"
    if state_store.set(key, 0, namespace=NS) != 1:
        raise ValueError("a new key must start at version 1")
    return key


@task
def bump(n, key):
    conflicts = 0
    while True:
        total, version = state_store.get_versioned(key, namespace=NS)
        try:
            state_store.set(key, total + n, namespace=NS, expected_version=version)
            return conflicts
        except StateStoreConflict:
            conflicts += 1


@task
def verify(key, conflicts):
    total, version = state_store.get_versioned(key, namespace=NS)
    if total != sum(NUMBERS) or version != 1 + len(NUMBERS):
        raise ValueError(f"lost an update: total {total}, version {version} ({sum(conflicts)} conflicts retried)")


@task
def ttl(**context):
    key = f"short/{context['run_id']}"
    state_store.set(key, "soon gone", namespace=NS, ttl=0.5)
    if state_store.get(key, namespace=NS) != "soon gone":
        raise ValueError("a key with a TTL must read before it expires")
    time.sleep(0.7)
    if state_store.get_versioned(key, namespace=NS) != (None, 0) or key in state_store.list(prefix="short/", namespace=NS):
        raise ValueError("an expired key must read and list as missing")
    if state_store.set(key, "again", namespace=NS, expected_version=0) != 1:
        raise ValueError("an expired key counts as missing for compare-and-set")


@task
def namespaces(**context):
    key = f"shared/{context['run_id']}"
    state_store.set(key, "a", namespace=f"{NS}.a")
    state_store.set(key, "b", namespace=f"{NS}.b")
    got = (state_store.get(key, namespace=f"{NS}.a"), state_store.get(key, namespace=f"{NS}.b"))
    if got != ("a", "b") or state_store.list(prefix=key, namespace=f"{NS}.a") != [key]:
        raise ValueError(f"namespaces mixed: {got}")
    if state_store.get(key, namespace=NS) is not None:
        raise ValueError("the key leaked into another namespace")


with DAG("acc_state_store", schedule=None, start_date=datetime(2024, 1, 1)):
    counter = reset()
    verify(counter, bump.partial(key=counter).expand(n=NUMBERS))
    ttl()
    namespaces()
