"""The duration chart: the service's numbers per task and run, the SVG laid out from them, the pages."""

from __future__ import annotations

import re

import pendulum
import pytest
import sqlalchemy as sa

from dagflow.models import TaskInstance
from dagflow.services.durations import DurationPoint, TaskDurations, task_durations
from dagflow.www.duration_chart import human_seconds, layout, nice_ceiling
from tests.unit.services.seed import add_run, store_dags
from tests.unit.www.conftest import Ui


@pytest.fixture(scope="module")
def seeded(ui: Ui) -> Ui:
    """``etl`` ran on 2024-03-01 (30 s a task, extract failed), 03-02 (60 s) and 03-03 (load not run yet)."""
    store_dags(ui.db)
    add_run(ui.db, "etl", 1, "failed", {"extract": "failed", "load": "upstream_failed"})
    add_run(ui.db, "etl", 2, "success", {"extract": "success", "load": "success"})
    add_run(ui.db, "etl", 3, "running", {"extract": "success", "load": None})
    return ui


def test_the_service_gives_each_task_its_runs_oldest_first(seeded: Ui) -> None:
    extract, load = task_durations(seeded.db, "etl")
    assert extract.task_id == "extract" and load.task_id == "load"  # topological order
    assert [(p.duration, p.state) for p in extract.points] == [(30.0, "failed"), (60.0, "success"), (90.0, "success")]
    assert [(p.duration, p.state) for p in load.points] == [(30.0, "upstream_failed"), (60.0, "success"), (None, None)]
    assert [len(t.points) for t in task_durations(seeded.db, "etl", last_runs=2)] == [2, 2]


def test_a_mapped_task_spans_its_first_start_to_its_last_end(seeded: Ui) -> None:
    run_id = add_run(seeded.db, "report", 9, "success", {"render": "success"})
    start = pendulum.datetime(2024, 3, 9, 0, 5, tz="UTC")
    with seeded.db.transaction() as session:
        session.execute(sa.delete(TaskInstance).where(TaskInstance.dag_id == "report", TaskInstance.run_id == run_id))
        for i in range(3):
            session.add(
                TaskInstance(
                    dag_id="report", run_id=run_id, task_id="render", map_index=i, try_number=1,
                    state="failed" if i == 1 else "success", start_date=start.add(seconds=i * 10),
                    end_date=start.add(seconds=i * 10 + 5), duration=5.0,
                )
            )  # fmt: skip
    [render] = task_durations(seeded.db, "report")
    assert (render.points[-1].duration, render.points[-1].state) == (25.0, "failed")


def test_layout_scales_to_a_rounded_top_and_skips_unfinished_runs() -> None:
    when = pendulum.datetime(2024, 3, 1, tz="UTC")
    points = (
        DurationPoint("r1", when, 30.0, "success", 1),
        DurationPoint("r2", when.add(days=1), None, "running", 1),
        DurationPoint("r3", when.add(days=2), 75.0, "failed", 2),
    )
    chart = layout(TaskDurations("t", points), width=400, height=122)
    assert [b.fill for b in chart.bars] == ["green", "red"]
    assert chart.bars[1].height == pytest.approx(92 * 75 / 100, abs=0.1)  # inner height 92, top rounded to 100 s
    assert "try 2" in chart.bars[1].title and chart.ticks[-1].label == "1 min 40 s"
    assert (chart.first_label, chart.last_label) == ("2024-03-01", "2024-03-03")
    assert [nice_ceiling(v) for v in (0.3, 7, 13, 240, 2600)] == [1.0, 10.0, 20.0, 250.0, 5000.0]
    assert [human_seconds(s) for s in (4.25, 42, 185, 7800)] == ["4.2 s", "42 s", "3 min 5 s", "2 h 10 min"]


def test_the_pages(seeded: Ui) -> None:
    page = seeded.get("/dags/etl/durations", "viewer").get_data(as_text=True)
    assert page.count("<figure") == 2 and len(re.findall(r'<rect class="bar"', page)) == 5
    one = seeded.get("/dags/etl/tasks/load/durations?runs=1", "viewer").get_data(as_text=True)
    assert "<svg" not in one and "No finished runs yet" in one  # its newest run has not finished
    assert seeded.get("/dags/etl/durations?task=bad id!", "viewer").status_code == 422
    assert seeded.get("/dags/nope/durations", "viewer").status_code == 404
