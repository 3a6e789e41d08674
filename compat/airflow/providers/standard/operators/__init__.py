"""The standard provider's operators."""

from __future__ import annotations
