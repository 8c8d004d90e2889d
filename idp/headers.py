"""The security headers of every response: set by the app's ``after_request`` hook
(``idp/__init__.py``) and by the well-known documents' fast path (``idp.well_known``), from
this one list so that the two never differ."""

from __future__ import annotations

#: Sent with every response unless a view set its own value.
SECURITY_HEADERS: tuple[tuple[str, str], ...] = (
    (
        "Content-Security-Policy",
        "default-src 'none'; script-src 'self'; style-src 'self'; img-src 'self' data:; "
        "frame-ancestors 'none'; base-uri 'none'",
    ),
    ("X-Content-Type-Options", "nosniff"),
    ("Cross-Origin-Opener-Policy", "same-origin"),
    ("X-Frame-Options", "DENY"),
    ("Referrer-Policy", "no-referrer"),
)

#: Sent over https only: browsers that once reached the provider over https never fall back
#: to http.
HSTS = ("Strict-Transport-Security", "max-age=31536000")
