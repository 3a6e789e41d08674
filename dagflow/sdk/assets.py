"""Assets (data-aware scheduling): ``Asset("uri")``, ``AssetAll``/``AssetAny`` and ``&``/``|``.

A task lists the assets it writes in ``outlets=[...]``; each successful try records one
asset event per outlet. A DAG with ``schedule=[a, b]`` (all of them) or an asset
expression (``a | (b & c)``) runs when the condition holds over the assets that have new
events since its last asset-triggered run (Airflow's semantics). ``Dataset`` is an alias.

Plain objects: no DB, no config. The scheduler sees an expression as JSON
(``as_expression``) and evaluates it with ``evaluate_expression``.
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator, Mapping
from typing import Any

from dagflow.exceptions import DagDefinitionError

#: Longest asset URI stored (as Airflow's ``asset.uri``).
URI_MAX_LEN = 1500


class BaseAsset:
    """Something a DAG can be scheduled on: one asset or a condition over several."""

    def __and__(self, other: BaseAsset) -> AssetAll:
        if not isinstance(other, BaseAsset):
            return NotImplemented
        return AssetAll(self, other)

    def __or__(self, other: BaseAsset) -> AssetAny:
        if not isinstance(other, BaseAsset):
            return NotImplemented
        return AssetAny(self, other)

    def iter_assets(self) -> Iterator[Asset]:
        """Every ``Asset`` in this condition (depth first, possibly repeated)."""
        raise NotImplementedError

    def as_expression(self) -> Any:
        """The condition as JSON: a URI string, or ``{"all": [...]}`` / ``{"any": [...]}``."""
        raise NotImplementedError

    def evaluate(self, statuses: Mapping[str, bool]) -> bool:
        """True if the condition holds when the assets whose URI maps to True have new events."""
        return evaluate_expression(self.as_expression(), statuses)


class Asset(BaseAsset):
    """A piece of data named by a URI (``s3://bucket/key``, ``file:///path``, ``postgres://db/table``)."""

    def __init__(
        self,
        uri: str,
        *,
        name: str | None = None,
        group: str = "asset",
        extra: Mapping[str, Any] | None = None,
    ) -> None:
        if not isinstance(uri, str) or not uri.strip():
            raise DagDefinitionError(f"invalid asset URI {uri!r}: expected a non-empty string")
        uri = uri.strip()
        if len(uri) > URI_MAX_LEN or any(c.isspace() for c in uri):
            raise DagDefinitionError(f"invalid asset URI {uri!r}: no whitespace, at most {URI_MAX_LEN} characters")
        if uri.split("://", 1)[0].lower() in ("airflow", "dagflow") and "://" in uri:
            raise DagDefinitionError(f"invalid asset URI {uri!r}: the scheme is reserved")
        self.uri = uri
        self.name = name or uri
        self.group = group
        self.extra = dict(extra or {})

    def iter_assets(self) -> Iterator[Asset]:
        """This asset."""
        yield self

    def as_expression(self) -> Any:
        """The URI."""
        return self.uri

    def __eq__(self, other: object) -> bool:
        return isinstance(other, Asset) and other.uri == self.uri

    def __hash__(self) -> int:
        return hash(("asset", self.uri))

    def __repr__(self) -> str:
        return f"Asset({self.uri!r})"


class _AssetBooleanCondition(BaseAsset):
    kind = ""

    def __init__(self, *objects: BaseAsset) -> None:
        if not objects:
            raise DagDefinitionError(f"{type(self).__name__} needs at least one asset")
        for obj in objects:
            if not isinstance(obj, BaseAsset):
                raise DagDefinitionError(f"{type(self).__name__}: expected assets, got {obj!r}")
        self.objects = tuple(objects)

    def iter_assets(self) -> Iterator[Asset]:
        """Every asset below this condition."""
        for obj in self.objects:
            yield from obj.iter_assets()

    def as_expression(self) -> Any:
        """``{"all"|"any": [children]}``."""
        return {self.kind: [obj.as_expression() for obj in self.objects]}

    def __repr__(self) -> str:
        return f"{type(self).__name__}({', '.join(map(repr, self.objects))})"


class AssetAll(_AssetBooleanCondition):
    """Holds when every part holds (``a & b``; a list given as ``schedule``)."""

    kind = "all"

    def __and__(self, other: BaseAsset) -> AssetAll:
        if not isinstance(other, BaseAsset):
            return NotImplemented
        return AssetAll(*self.objects, other)


class AssetAny(_AssetBooleanCondition):
    """Holds when any part holds (``a | b``)."""

    kind = "any"

    def __or__(self, other: BaseAsset) -> AssetAny:
        if not isinstance(other, BaseAsset):
            return NotImplemented
        return AssetAny(*self.objects, other)


def evaluate_expression(expression: Any, statuses: Mapping[str, bool]) -> bool:
    """Evaluate an ``as_expression`` value: a URI holds when ``statuses[uri]`` is true."""
    if isinstance(expression, str):
        return bool(statuses.get(expression, False))
    if isinstance(expression, Mapping) and len(expression) == 1:
        ((kind, parts),) = expression.items()
        results = (evaluate_expression(part, statuses) for part in parts)
        if kind == "all":
            return all(results)
        if kind == "any":
            return any(results)
    raise ValueError(f"not an asset expression: {expression!r}")


def expression_uris(expression: Any) -> list[str]:
    """Every URI in an ``as_expression`` value, in order, without repeats."""
    found: list[str] = []
    stack = [expression]
    while stack:
        item = stack.pop(0)
        if isinstance(item, str):
            if item not in found:
                found.append(item)
        elif isinstance(item, Mapping):
            for parts in item.values():
                stack.extend(parts)
    return found


def asset_condition(schedule: Any) -> BaseAsset | None:
    """The asset condition of a DAG's ``schedule`` (a list of assets means all of them), else None."""
    if isinstance(schedule, BaseAsset):
        return schedule
    if isinstance(schedule, (list, tuple)) and schedule and all(isinstance(s, BaseAsset) for s in schedule):
        return schedule[0] if len(schedule) == 1 else AssetAll(*schedule)
    if isinstance(schedule, (list, tuple)):
        raise DagDefinitionError(f"invalid schedule {schedule!r}: a list schedule must hold assets only")
    return None


def to_assets(value: Any, what: str) -> list[Asset]:
    """``outlets``/``inlets`` as a list of ``Asset`` (one asset, or an iterable of them)."""
    if value is None:
        return []
    items: Iterable[Any] = [value] if isinstance(value, BaseAsset) else value
    assets: list[Asset] = []
    for item in items:
        if not isinstance(item, Asset):
            raise DagDefinitionError(f"{what}: expected Asset objects, got {item!r}")
        if item not in assets:
            assets.append(item)
    return assets


class OutletEventAccessor:
    """``context["outlet_events"][asset]``: set ``extra`` on the event this try records."""

    def __init__(self, asset: Asset) -> None:
        self.asset = asset
        self.extra: dict[str, Any] = {}

    def __repr__(self) -> str:
        return f"OutletEventAccessor({self.asset.uri!r}, extra={self.extra!r})"


class OutletEventAccessors(Mapping[Any, OutletEventAccessor]):
    """``context["outlet_events"]``: one accessor per asset (or URI), made on first use."""

    def __init__(self) -> None:
        self._by_uri: dict[str, OutletEventAccessor] = {}

    def __getitem__(self, key: Any) -> OutletEventAccessor:
        asset = key if isinstance(key, Asset) else Asset(str(key))
        accessor = self._by_uri.get(asset.uri)
        if accessor is None:
            accessor = self._by_uri[asset.uri] = OutletEventAccessor(asset)
        return accessor

    def __iter__(self) -> Iterator[str]:
        return iter(self._by_uri)

    def __len__(self) -> int:
        return len(self._by_uri)

    def extra_for(self, uri: str) -> dict[str, Any]:
        """The extra set for ``uri`` in this try (empty if none)."""
        accessor = self._by_uri.get(uri)
        return dict(accessor.extra) if accessor is not None else {}


# Airflow 2's names.
Dataset = Asset
DatasetAll = AssetAll
DatasetAny = AssetAny
