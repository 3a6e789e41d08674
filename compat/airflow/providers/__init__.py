"""Provider packages: only ``airflow.providers.standard`` (and common.compat) are mapped."""

from __future__ import annotations
