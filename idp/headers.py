"""The security headers of every response: set by the app's ``after_request`` hook
(``idp/__init__.py``) and by the well-known documents' fast path (``idp.well_known``), from
this one list so that the two never differ."""

from __future__ import annotations

import re
from collections.abc import Iterable
from urllib.parse import urlsplit

#: The Content-Security-Policy of every page: scripts, styles and images from the provider
#: only, no frames (``default-src``), and the page itself may not be framed.
CONTENT_SECURITY_POLICY = (
    "default-src 'none'; script-src 'self'; style-src 'self'; img-src 'self' data:; "
    "frame-ancestors 'none'; base-uri 'none'"
)

#: Sent with every response unless a view set its own value.
SECURITY_HEADERS: tuple[tuple[str, str], ...] = (
    ("Content-Security-Policy", CONTENT_SECURITY_POLICY),
    ("X-Content-Type-Options", "nosniff"),
    ("Cross-Origin-Opener-Policy", "same-origin"),
    ("X-Frame-Options", "DENY"),
    ("Referrer-Policy", "no-referrer"),
)

#: Sent over https only: browsers that once reached the provider over https never fall back
#: to http.
HSTS = ("Strict-Transport-Security", "max-age=31536000")

#: An origin that can stand in a CSP source list as it is: http(s), a host of letters,
#: digits, dots and dashes (or an IPv6 literal), an optional port. Nothing that could end the
#: directive (``;``, ``,``, spaces) or widen it (``*``).
_CSP_ORIGIN = re.compile(r"https?://(?:[a-z0-9.-]+|\[[0-9a-f:.]+\])(?::[0-9]{1,5})?")


def origin_of(url: str) -> str | None:
    """The origin of ``url`` as a CSP source (``https://app.example:8443``), or None when it
    has no origin that can be written there safely."""
    try:
        parts = urlsplit(url)
        host, port = parts.hostname, parts.port
    except ValueError:
        return None
    if not host:
        return None
    if ":" in host:
        host = f"[{host}]"
    origin = f"{parts.scheme.lower()}://{host}" + (f":{port}" if port is not None else "")
    return origin if _CSP_ORIGIN.fullmatch(origin) else None


def csp_with_frames(urls: Iterable[str]) -> str:
    """The page Content-Security-Policy that also lets the page load ``urls`` in frames:
    ``frame-src`` lists exactly their origins (the signed-out page's front-channel logout
    iframes). A page without frames keeps the default policy (``default-src 'none'``)."""
    origins: list[str] = []
    for url in urls:
        origin = origin_of(url)
        if origin is not None and origin not in origins:
            origins.append(origin)
    if not origins:
        return CONTENT_SECURITY_POLICY
    return f"{CONTENT_SECURITY_POLICY}; frame-src {' '.join(origins)}"
