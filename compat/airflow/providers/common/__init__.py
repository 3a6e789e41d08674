"""``airflow.providers.common``: only ``compat.sdk`` is mapped."""

from __future__ import annotations
