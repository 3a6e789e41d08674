"""``Label`` and ``EdgeModifier``."""

from __future__ import annotations

from dagflow.sdk.edges import EdgeModifier, Label

__all__ = ["EdgeModifier", "Label"]
