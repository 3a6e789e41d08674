"""``BaseNotifier`` (Airflow 3's path), mapped onto ``dagflow.notifications``."""

from __future__ import annotations

from airflow._compat import available, unsupported_names

_NAMES = available("dagflow.notifications", ["BaseNotifier"])
globals().update(_NAMES)

__all__ = list(_NAMES)

__getattr__ = unsupported_names(__name__, {"BaseNotifier": "notifiers are not available in this dagflow"})
