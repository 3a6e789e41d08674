"""Flow groups: a group that runs at most two task instances at once, and a sequential group.

Each task returns the wall-clock span it ran in; ``check`` fails the run if more than two
of the limited group's task instances overlapped, or if the sequential steps overlapped or
ran out of definition order.
"""
import time
from datetime import datetime

from dagflow import DAG, TaskGroup, task


@task
def work(n, pause=0.4):
    started = time.time()
    time.sleep(pause)
    return [started, time.time(), n]


@task
def check(limited, extra, steps):
    spans = [*list(limited), extra]
    for start, _, _ in spans:
        running = sum(1 for s, e, _ in spans if s <= start < e)
        if running > 2:
            raise ValueError(f"{running} task instances of the limited group ran at once: {spans}")
    order = [n for _, _, n in sorted(steps)]
    if order != ["first", "second", "third"]:
        raise ValueError(f"sequential steps ran as {order}")
    for (_, end, _), (start, _, _) in zip(sorted(steps), sorted(steps)[1:]):
        if start < end:
            raise ValueError(f"sequential steps overlapped: {steps}")


with DAG("acc_flow_groups", schedule=None, start_date=datetime(2024, 1, 1)):
    with TaskGroup("limited", max_active_tasks=2):
        fan = work.expand(n=[1, 2, 3, 4])
        extra = work.override(task_id="extra")(5)
    with TaskGroup("steps", sequential=True):
        first = work.override(task_id="first")("first", pause=0.01)
        second = work.override(task_id="second")("second", pause=0.01)
        third = work.override(task_id="third")("third", pause=0.01)
    check(fan, extra, [first, second, third])
