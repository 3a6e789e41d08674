"""The sensor base class and ``PokeReturnValue`` (defined in the SDK, re-exported here)."""

from __future__ import annotations

from dagflow.sdk.sensor import BaseSensorOperator, PokeReturnValue

__all__ = ["BaseSensorOperator", "PokeReturnValue"]
