"""HMAC-SHA256 signatures for what one dagflow process sends another over a wire it does not own.

Used for broker messages (``sign_payload`` / ``payload_is_signed``: a Celery worker runs
only a message the scheduler signed) and for log-server requests. The key is the
deployment's secret key (``dagflow.keys.secret_key``).
"""

from __future__ import annotations

import hashlib
import hmac
import json
from collections.abc import Mapping
from typing import Any

#: The field of a signed payload that holds its signature.
SIGNATURE_FIELD = "signature"


def hmac_hex(key: str, message: bytes) -> str:
    """The HMAC-SHA256 of ``message`` under ``key``, as hex."""
    return hmac.new(key.encode(), message, hashlib.sha256).hexdigest()


def canonical(payload: Mapping[str, Any]) -> bytes:
    """``payload`` as canonical JSON (sorted keys, no spaces): the bytes that are signed."""
    return json.dumps(payload, sort_keys=True, separators=(",", ":"), ensure_ascii=True).encode()


def sign_payload(key: str, payload: Mapping[str, Any]) -> dict[str, Any]:
    """A copy of ``payload`` with its signature added."""
    body = {k: v for k, v in payload.items() if k != SIGNATURE_FIELD}
    return {**body, SIGNATURE_FIELD: hmac_hex(key, canonical(body))}


def payload_is_signed(key: str, payload: Mapping[str, Any]) -> bool:
    """True if ``payload`` carries a valid signature under ``key`` over all its other fields."""
    given = payload.get(SIGNATURE_FIELD)
    if not key or not isinstance(given, str):
        return False
    body = {k: v for k, v in payload.items() if k != SIGNATURE_FIELD}
    try:
        expected = hmac_hex(key, canonical(body))
    except (TypeError, ValueError):
        return False
    return hmac.compare_digest(given, expected)
