"""The standard provider's sensors."""

from __future__ import annotations
