"""Flow tasks: a ForEach with a concurrency limit, an optional step, a disabled step, per-task logging.

Shows:
- ForEach (Kestra's ``ForEach`` with ``concurrencyLimit``): ``resize`` is mapped over the day's
  images with ``expand``; ``max_active_tis_per_dagrun=3`` lets at most three of them run at
  once in a run (``max_active_tis_per_dag`` would count across runs);
- ``allow_failure=True``: ``warm_cache`` may fail (after its retry) without failing the run;
  ``publish`` treats it as a success and the run ends ``success``;
- ``disabled=True``: ``legacy_export`` never runs; it ends skipped (note "disabled") and
  counts as success downstream. ``dagflow tasks disable DAG_ID TASK_ID --reason …`` does the
  same for one run or every run to come without editing the file;
- ``log_level`` (``resize`` keeps only warnings and errors in its logs, ``publish`` keeps
  debug lines too) and ``description`` (shown in the UI and the API's task details);
- a notifier found by its plugin name: ``notifier("WebhookNotifier", ...)`` builds the class
  installed in the ``dagflow.notifiers`` entry-point group (a plugin distribution adds its
  own the same way); it posts only when a run fails, to the connection ``example_alerts``.

Why is one ``resize`` waiting? ``dagflow tasks failed-deps example_flow_tasks resize RUN_ID
--map-index 5`` names the reached limit (``Task Concurrency Per Run``).
"""

from __future__ import annotations

import logging
from datetime import datetime

from dagflow import DAG, task
from dagflow.notifications import notifier

log = logging.getLogger(__name__)


@task
def list_images() -> list[str]:
    """In real life: the images uploaded today."""
    return [f"photo_{n}.jpg" for n in range(8)]


@task(
    max_active_tis_per_dagrun=3,
    log_level="WARNING",
    description="Resize one image; at most three at once per run.",
)
def resize(name: str) -> int:
    log.info("resizing %s", name)  # below WARNING: not stored
    return len(name)


@task(allow_failure=True, retries=1, retry_delay=0, description="Best effort: warm the CDN cache.")
def warm_cache() -> None:
    raise ConnectionError("the CDN is not reachable from here")


@task(disabled=True, description="Replaced by publish; kept for a while.")
def legacy_export() -> None:
    raise RuntimeError("never runs")


@task(log_level="DEBUG", trigger_rule="all_success")
def publish(sizes: list[int]) -> int:
    log.debug("publishing %d images", len(sizes))
    return sum(sizes)


with DAG(
    "example_flow_tasks",
    schedule="@daily",
    start_date=datetime(2024, 1, 1),
    catchup=False,
    tags=["example", "flow"],
    doc_md=__doc__,
    on_failure_callback=notifier("WebhookNotifier", webhook_conn_id="example_alerts"),
):
    sizes = resize.expand(name=list_images())
    [warm_cache(), legacy_export()] >> publish(sizes)
