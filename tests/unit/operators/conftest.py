"""Operator tests share the SDK test fakes."""

from __future__ import annotations

from tests.unit.sdk.conftest import FakeBackend, FakeTI, backend, make_context, make_ctx

__all__ = ["FakeBackend", "FakeTI", "backend", "make_context", "make_ctx"]
