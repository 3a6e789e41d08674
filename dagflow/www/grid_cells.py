"""The grid's rows as HTML, built in Python: a 25-run x 1 000-task grid is 25 000 cells, too many for a
template loop. Every value written here is a state name checked against ``dagflow.state``, a count, or escaped."""

from __future__ import annotations

from collections.abc import Sequence

from markupsafe import Markup, escape

from dagflow.services.grid import Grid, GridCell, GridRow
from dagflow.services.task_switches import TaskSwitchRecord
from dagflow.state import TaskInstanceState

#: The only words a cell's class may hold: the state names (anything else shows as no state).
_STATES = frozenset(state.value for state in TaskInstanceState)


def switch_title(switch: TaskSwitchRecord) -> str:
    """One line saying who switched a task off, when, why and for which runs."""
    scope = f"in run {switch.run_id}" if switch.run_id else "for all future runs"
    who = switch.disabled_by or "someone"
    why = f": {switch.reason}" if switch.reason else ""
    return f"disabled {scope} by {who} at {switch.created_at:%Y-%m-%d %H:%M} UTC{why}"


def row_label(row: GridRow, grid: Grid) -> Markup:
    """The row's marks after its label: flow settings as small tags, a switch for all future runs as a ⏻ mark."""
    parts = [f'<small class="mark">{escape(mark)}</small>' for mark in row.marks]
    switch = None if row.is_group else grid.switches.get((row.node_id, None))
    if switch is not None:
        parts.append(f'<small class="mark switched" title="{escape(switch_title(switch))}">off</small>')
    return Markup(" ".join(parts))  # escaped text only


def row_cells(row: GridRow, links: Sequence[str], grid: Grid) -> Markup:
    """The ``<td>`` cells of one row: a coloured square per run; counts per state in the title of a mapped or group cell.

    A task's cell is a link (``<a href>``) to that task instance: it works without JavaScript and opens in
    a new tab. A cell of a task switched off in that run, or of a failure the task allows, carries a mark.
    ``links`` are the runs' page URLs, already HTML-escaped (``views_grid``).
    """
    node = escape(row.node_id)
    linked = not row.is_group
    switches = grid.switches if linked and any(key[0] == row.node_id for key in grid.switches) else {}
    parts = []
    for index, cell in enumerate(row.cells):
        state = cell.state if cell.state in _STATES else "none"
        if not cell.counts and not switches and not (row.allow_failure and state == "failed"):  # the common cell
            if linked and cell.present:
                parts.append(f'<td class="c state-{state}"><a href="{links[index]}/tasks/{node}"></a></td>')
            else:
                parts.append(f'<td class="c state-{state}"></td>')
            continue
        parts.append(
            _marked_cell(row, cell, state, links[index], node, switches.get((row.node_id, grid.runs[index].run_id)))
        )
    return Markup("".join(parts))  # built from state names, integers, escaped URLs and escaped text only


def _marked_cell(
    row: GridRow, cell: GridCell, state: str, link: str, node: str, switch: TaskSwitchRecord | None
) -> str:
    """A cell with a title: counts per state, an allowed failure, a switch."""
    titles = [" ".join(f"{n} {s}" for s, n in sorted(cell.counts.items()))] if cell.counts else []
    classes = f"c state-{state}"
    if row.allow_failure and state == "failed":
        classes += " soft-fail"
        titles.append("failure allowed (allow_failure)")
    if switch is not None:
        classes += " switched"
        titles.append(switch_title(switch))
    title = f' title="{escape("; ".join(t for t in titles if t))}"' if titles else ""
    count = f"{sum(cell.counts.values())}" if row.is_mapped and cell.counts else ""
    if row.is_group or not cell.present:
        return f'<td class="{classes}"{title}>{count}</td>'
    return f'<td class="{classes}"><a href="{link}/tasks/{node}"{title}>{count}</a></td>'
