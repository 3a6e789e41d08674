"""The grid's cells as HTML, built in Python: a 25-run x 1 000-task grid is 25 000 cells, too many for a
template loop. Every value written here is a state name checked against ``dagflow.state``, a count, or escaped."""

from __future__ import annotations

from markupsafe import Markup, escape

from dagflow.services.grid import GridRow
from dagflow.state import TaskInstanceState

#: The only words a cell's class may hold: the state names (anything else shows as no state).
_STATES = frozenset(state.value for state in TaskInstanceState)


def row_cells(row: GridRow) -> Markup:
    """The ``<td>`` cells of one row: a coloured square per run; counts per state in the title of a mapped or group cell.

    A click on a task's cell opens that task instance (``dagflow.js`` builds the link from the row and the column).
    """
    parts = []
    for cell in row.cells:
        state = cell.state if cell.state in _STATES else "none"
        if not cell.counts:
            parts.append(f'<td class="c state-{state}"></td>')
            continue
        title = escape(" ".join(f"{n} {s}" for s, n in sorted(cell.counts.items())))
        count = f"{sum(cell.counts.values())}" if row.is_mapped else ""
        parts.append(f'<td class="c state-{state}" title="{title}">{count}</td>')
    return Markup("".join(parts))  # built from state names, integers and escaped text only
