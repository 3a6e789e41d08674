"""The graph view's layout: tasks and collapsed task groups as boxes, placed by grandalf's Sugiyama layout.

Groups not listed in ``expanded`` show as one box (a 1 000-task DAG with groups stays a
few dozen boxes); edges into and out of a collapsed group attach to its box. The DAG
flows left to right, as Airflow draws it. Layouts are cached per structure.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from functools import lru_cache

from grandalf.graphs import Edge, Graph, Vertex
from grandalf.layouts import SugiyamaLayout
from grandalf.routing import route_with_lines

from dagflow.serialization import SerializedDag
from dagflow.serialization.objects import SerializedTaskGroup

NODE_HEIGHT = 28
CHAR_WIDTH = 7
MIN_WIDTH = 60
GAP = 40  # between the graph's unconnected parts


@dataclass(frozen=True)
class Node:
    """A box: a task, or a collapsed group (``members`` are its tasks); ``x``, ``y`` its top-left corner."""

    node_id: str
    label: str
    is_group: bool
    members: tuple[str, ...]
    x: float
    y: float
    width: float
    height: float


@dataclass(frozen=True)
class Line:
    """An edge as a polyline."""

    source: str
    target: str
    points: tuple[tuple[float, float], ...]


@dataclass(frozen=True)
class Layout:
    """The boxes, the lines and the size of the drawing."""

    nodes: tuple[Node, ...]
    lines: tuple[Line, ...]
    width: float
    height: float


class _Box:
    """What grandalf needs of a vertex: its size (``w``, ``h``) and a place for its centre (``xy``)."""

    def __init__(self, w: float, h: float) -> None:
        self.w, self.h = w, h
        self.xy: tuple[float, float] = (0.0, 0.0)


class _Path:
    """What grandalf needs of an edge: a place for its points."""

    def __init__(self) -> None:
        self.points: list[tuple[float, float]] = []

    def setpath(self, points: list[tuple[float, float]]) -> None:
        self.points = list(points)


def _groups(group: SerializedTaskGroup | None) -> Iterable[SerializedTaskGroup]:
    if group is None:
        return
    for child in group.children:
        yield child
        yield from _groups(child)


def visible_nodes(sdag: SerializedDag, expanded: frozenset[str]) -> dict[str, str]:
    """Each task's box: itself, or its outermost group that is not expanded."""
    owner = {task_id: task_id for task_id in sdag.tasks}

    def walk(group: SerializedTaskGroup, collapsed_into: str | None) -> None:
        for child in group.children:
            into = collapsed_into
            if into is None and child.group_id is not None and child.group_id not in expanded:
                into = child.group_id
            for task_id in child.task_ids:
                owner[task_id] = into or task_id
            walk(child, into)

    if sdag.task_group is not None:
        walk(sdag.task_group, None)
    return owner


def layout(sdag: SerializedDag, expanded: frozenset[str] = frozenset()) -> Layout:
    """The drawing of ``sdag`` with the ``expanded`` groups open."""
    owner = visible_nodes(sdag, expanded)
    edges = sorted(
        {
            (owner[task_id], owner[down])
            for task_id, task in sdag.tasks.items()
            for down in task.downstream_task_ids
            if owner[task_id] != owner[down]
        }
    )
    members: dict[str, list[str]] = {}
    for task_id in sdag.topological_order():
        members.setdefault(owner[task_id], []).append(task_id)
    group_ids = {g.group_id for g in _groups(sdag.task_group)}
    return _cached_layout(tuple((n, tuple(m), n in group_ids) for n, m in members.items()), tuple(edges))


@lru_cache(maxsize=64)
def _cached_layout(nodes: tuple[tuple[str, tuple[str, ...], bool], ...], edges: tuple[tuple[str, str], ...]) -> Layout:
    info = {node_id: (members, is_group) for node_id, members, is_group in nodes}
    vertices: dict[str, Vertex] = {}
    for node_id, members, is_group in nodes:
        label = _label(node_id, is_group, len(members))
        vertex = Vertex(node_id)
        # laid out top-down by grandalf, then turned to run left to right: width and height swap
        vertex.view = _Box(NODE_HEIGHT, max(MIN_WIDTH, CHAR_WIDTH * len(label) + 16))
        vertices[node_id] = vertex
    graph_edges = []
    for source, target in edges:
        edge = Edge(vertices[source], vertices[target])
        edge.view = _Path()
        graph_edges.append(edge)
    graph = Graph(list(vertices.values()), graph_edges)
    boxes: list[Node] = []
    lines: list[Line] = []
    offset_y = 0.0
    width = 0.0
    for component in graph.C:
        sugiyama = SugiyamaLayout(component)
        sugiyama.route_edge = route_with_lines
        sugiyama.init_all()
        sugiyama.draw()
        xs = [v.view.xy[0] - v.view.w / 2 for v in component.sV]
        ys = [v.view.xy[1] - v.view.h / 2 for v in component.sV]
        min_x, min_y = min(xs), min(ys)
        bottom = 0.0
        for vertex in component.sV:
            box: _Box = vertex.view
            # turn: grandalf's y (rank) becomes x, its x becomes y
            x = box.xy[1] - min_y - box.h / 2
            y = box.xy[0] - min_x - box.w / 2 + offset_y
            node_id = str(vertex.data)
            members, is_group = info[node_id]
            boxes.append(Node(node_id, _label(node_id, is_group, len(members)), is_group, members, x, y, box.h, box.w))
            bottom = max(bottom, y + box.w)
            width = max(width, x + box.h)
        for edge in component.sE:
            path: _Path = edge.view
            points = tuple((py - min_y, px - min_x + offset_y) for px, py in path.points)
            lines.append(Line(str(edge.v[0].data), str(edge.v[1].data), points))
        offset_y = bottom + GAP
    return Layout(tuple(boxes), tuple(lines), width, max(offset_y - GAP, 0.0))


def _label(node_id: str, is_group: bool, count: int) -> str:
    return f"{node_id} ({count})" if is_group else node_id
