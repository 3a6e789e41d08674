"""Security headers on every response of the app (API and UI): a strict CSP, no framing, no sniffing.

The Content-Security-Policy allows scripts and styles from this site only: no inline
``<script>``, no ``on…=`` attributes, no ``javascript:`` URLs, no ``eval``. The API's
interactive docs page (Swagger UI, which needs inline script) is the one exception: it gets
no CSP beyond ``frame-ancestors``.
"""

from __future__ import annotations

from flask import Flask, Response, request

CONTENT_SECURITY_POLICY = "; ".join(
    (
        "default-src 'self'",
        "script-src 'self'",
        "style-src 'self'",
        "img-src 'self' data:",
        "connect-src 'self'",
        "font-src 'self'",
        "object-src 'none'",
        "base-uri 'none'",
        "form-action 'self'",
        "frame-ancestors 'none'",
    )
)
#: Endpoints whose page cannot live under the strict policy (third-party inline script).
RELAXED_ENDPOINTS = frozenset({"openapi.docs", "openapi.swagger_ui_oauth_redirect"})

HEADERS = {
    "X-Content-Type-Options": "nosniff",
    "X-Frame-Options": "DENY",
    "Referrer-Policy": "same-origin",
    "Cross-Origin-Opener-Policy": "same-origin",
}


def add_security_headers(response: Response) -> Response:
    """Set the CSP and the other security headers on ``response``."""
    relaxed = request.endpoint in RELAXED_ENDPOINTS
    response.headers["Content-Security-Policy"] = "frame-ancestors 'none'" if relaxed else CONTENT_SECURITY_POLICY
    for name, value in HEADERS.items():
        response.headers.setdefault(name, value)
    return response


def install(app: Flask) -> None:
    """Add the headers to every response of ``app``, errors included."""
    app.after_request(add_security_headers)
