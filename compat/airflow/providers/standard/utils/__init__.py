"""The standard provider's utilities."""

from __future__ import annotations
