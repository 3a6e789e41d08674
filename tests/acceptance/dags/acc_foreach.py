"""ForEach over a list with a concurrency limit, a disabled task, per-task log level and description.

``each`` is mapped over eight items with ``max_active_tis_per_dagrun=2`` (and the same
``max_active_tis_per_dag``): every task instance returns the wall-clock span it ran in, and
``check`` fails if more than two overlapped. ``off`` is ``disabled=True``: it ends skipped
and ``after_off`` still runs. ``quiet`` (``log_level="WARNING"``) and ``chatty``
(``log_level="DEBUG"``) fail unless their logging level is the one they asked for; ``each``
fails unless its ``description`` reached the worker.
"""
import logging
import time
from datetime import datetime

from dagflow import DAG, task

ITEMS = list(range(8))


@task(max_active_tis_per_dagrun=2, max_active_tis_per_dag=2, description="one item of the list")
def each(item, **context):
    if context["task"].description != "one item of the list":
        raise ValueError(f"description lost: {context['task'].description!r}")
    started = time.time()
    time.sleep(0.2)
    return [started, time.time(), item]


@task
def check(spans):
    spans = list(spans)
    if sorted(item for _, _, item in spans) != ITEMS:
        raise ValueError(f"items lost: {spans}")
    for start, _, _ in spans:
        running = sum(1 for s, e, _ in spans if s <= start < e)
        if running > 2:
            raise ValueError(f"{running} task instances of 'each' ran at once: {spans}")


@task(disabled=True)
def off():
    raise RuntimeError("a disabled task must not run")


@task
def after_off():
    return "ran"


@task(log_level="WARNING")
def quiet():
    logger = logging.getLogger("acc_foreach")
    if logger.isEnabledFor(logging.INFO) or not logger.isEnabledFor(logging.WARNING):
        raise ValueError(f"log_level WARNING not applied: {logger.getEffectiveLevel()}")
    logger.info("never stored")
    logger.warning("stored")


@task(log_level="DEBUG")
def chatty():
    logger = logging.getLogger("acc_foreach")
    if not logger.isEnabledFor(logging.DEBUG):
        raise ValueError(f"log_level DEBUG not applied: {logger.getEffectiveLevel()}")
    logger.debug("stored too")


with DAG("acc_foreach", schedule=None, start_date=datetime(2024, 1, 1)):
    check(each.expand(item=ITEMS))
    off() >> after_off()
    quiet()
    chatty()
