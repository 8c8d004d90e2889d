"""A WSGI layer in front of Flask that answers the well-known documents of a realm (the
endpoint table's ``fast_path`` rows: OpenID Connect Discovery 1.0 section 4,
``/.well-known/openid-configuration``, and the JWKS of RFC 7517 section 5,
``/protocol/openid-connect/certs``), straight from the process cache.

Relying parties fetch these often and they change only with a realm's key set, so a request
for them skips Flask's per-request work (routing, contexts, hooks) when, and only when,
everything it needs is fresh in this process:

- the method is GET or HEAD, there is no query string (``?lang=`` sets a cookie in Flask)
  and no conditional header other than ``If-None-Match`` (``If-Match``, ``Range`` and the
  date conditions go to Flask);
- the realm and its key set are in the process caches (``idp.cache``) and were checked
  against the database less than ``IDP_KEY_CACHE_SECONDS`` ago, and the document's bytes
  are built.

Anything else (a stale entry, an unknown realm, another method, an odd path) falls through
to Flask, whose route checks the versions, refreshes the caches and answers; the next request
then takes the fast path again. So a change made by another process is seen within the same
period as before, and during a database outage Flask's stale-if-error keeps the entries
usable. The answer is the Flask route's: body, status, ``ETag``, ``Cache-Control``, CORS,
``Date``, the security headers (``idp.headers``), ``X-Request-Id``, and 304 on a matching
``If-None-Match`` (RFC 9110 section 13.1.2); ``tests/test_well_known_fast_path.py`` compares
the two.
"""

from __future__ import annotations

import secrets
import time
from collections.abc import Callable, Iterable
from typing import Any

from flask import Flask
from werkzeug.http import http_date, is_resource_modified

from .cache import process_cache
from .db import database_stuck
from .headers import HSTS, SECURITY_HEADERS
from .oidc.discovery import CACHE_CONTROL, built_discovery_bytes
from .oidc.endpoint_table import FAST_PATH_ENDPOINTS, Cors, realm_path_pattern
from .services.keys import RealmKeys
from .web.failures import REQUEST_ID

DOCUMENT_PATH = realm_path_pattern(FAST_PATH_ENDPOINTS)
#: Each fast-path row by its path in ``DOCUMENT_PATH``'s second group.
_ROWS = {row.path.lstrip("/"): row for row in FAST_PATH_ENDPOINTS}
#: Request headers whose handling is left to Flask (Werkzeug's ``make_conditional``).
FLASK_CONDITIONS = (
    "HTTP_IF_MATCH",
    "HTTP_IF_MODIFIED_SINCE",
    "HTTP_IF_UNMODIFIED_SINCE",
    "HTTP_IF_RANGE",
    "HTTP_RANGE",
)

StartResponse = Callable[..., Any]
WSGIApp = Callable[[dict[str, Any], StartResponse], Iterable[bytes]]


def _jwks(issuer: str, keys: RealmKeys) -> tuple[bytes, str] | None:
    return keys.jwks_body, keys.jwks_etag


def _discovery(issuer: str, keys: RealmKeys) -> tuple[bytes, str] | None:
    return built_discovery_bytes(issuer, tuple(keys.algs))


#: The document (bytes and ETag, or None while not built) of each fast-path row, by name.
DOCUMENTS: dict[str, Callable[[str, RealmKeys], tuple[bytes, str] | None]] = {
    "jwks": _jwks,
    "discovery": _discovery,
}
if set(DOCUMENTS) != {row.name for row in FAST_PATH_ENDPOINTS}:
    raise RuntimeError("each fast-path row of oidc/endpoint_table.py needs its document here")


class WellKnownFastPath:
    """``app.wsgi_app = WellKnownFastPath(app, app.wsgi_app)``: inside ``ProxyFix``, so the
    scheme it sees (for ``Strict-Transport-Security``) is the one Flask sees."""

    def __init__(self, app: Flask, wsgi_app: WSGIApp) -> None:
        self.app = app
        self.wsgi_app = wsgi_app
        self.base_url: str = app.extensions["idp.settings"].base_url
        self._date = (0, "")

    def __call__(self, environ: dict[str, Any], start_response: StartResponse) -> Iterable[bytes]:
        if (
            environ.get("REQUEST_METHOD") in ("GET", "HEAD")
            and not environ.get("QUERY_STRING")
            and not any(name in environ for name in FLASK_CONDITIONS)
            and (match := DOCUMENT_PATH.match(environ.get("PATH_INFO", "")))
            and (document := self._document(match[1], match[2]))
        ):
            any_origin = _ROWS[match[2]].cors is Cors.ANY_ORIGIN
            return self._answer(environ, start_response, *document, any_origin=any_origin)
        return self.wsgi_app(environ, start_response)

    def _document(self, realm_name: str, which: str) -> tuple[bytes, str] | None:
        """The document's bytes and ETag when the realm and its keys are fresh in the
        process caches, or cached at all while the database does not answer (a frozen
        database would hold the request for its timeouts, V8); None sends the request to
        Flask."""
        realms = process_cache("realms", self.app)
        keys_cache = process_cache("signing_keys", self.app)
        realm = realms.fresh(realm_name)
        keys = keys_cache.fresh(realm.id) if realm is not None else None
        if keys is None and database_stuck(self.app.extensions["idp.engine"]):
            realm = realms.peek(realm_name)
            keys = keys_cache.peek(realm.id) if realm is not None else None
        if realm is None or keys is None:
            return None
        return DOCUMENTS[_ROWS[which].name](f"{self.base_url}/realms/{realm.name}", keys)

    def _answer(
        self,
        environ: dict[str, Any],
        start_response: StartResponse,
        body: bytes,
        etag: str,
        *,
        any_origin: bool,
    ) -> Iterable[bytes]:
        quoted = f'"{etag}"'
        modified = "HTTP_IF_NONE_MATCH" not in environ or is_resource_modified(environ, etag=quoted)
        headers = [("ETag", quoted), ("Cache-Control", CACHE_CONTROL)]
        if any_origin:
            headers.append(("Access-Control-Allow-Origin", "*"))
        headers.append(("Date", self._http_date()))
        headers.extend(SECURITY_HEADERS)
        if environ.get("wsgi.url_scheme") == "https":
            headers.append(HSTS)
        incoming = environ.get("HTTP_X_REQUEST_ID", "")
        headers.append(
            ("X-Request-Id", incoming if REQUEST_ID.match(incoming) else secrets.token_hex(8))
        )
        if not modified:  # 304 carries no entity headers (Werkzeug's remove_entity_headers)
            start_response("304 NOT MODIFIED", headers)
            return []
        headers.insert(0, ("Content-Length", str(len(body))))
        headers.insert(0, ("Content-Type", "application/json"))
        start_response("200 OK", headers)
        return [] if environ["REQUEST_METHOD"] == "HEAD" else [body]

    def _http_date(self) -> str:
        """The ``Date`` header, formatted once per second."""
        now = int(time.time())
        second, text = self._date
        if second != now:
            text = http_date(now)
            self._date = (now, text)
        return text
