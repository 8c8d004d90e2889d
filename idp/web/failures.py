"""Failed requests: the request id, the 503 answered while the database is unavailable, the
one structured log line per failed request, and tracebacks at most once per error class per
minute.

- Every response carries ``X-Request-Id``: the caller's own when it is short and safe
  (``REQUEST_ID``), else a new random one. The log line and the 503 page show it.
- When the database cannot answer (``db.database_unavailable``), protocol endpoints (token,
  userinfo, introspection, revocation, JWKS, discovery) answer ``503`` with an OAuth-style
  JSON error (RFC 6749 section 5.2's shape, the ``temporarily_unavailable`` code of 4.1.2.1)
  and ``Retry-After``; pages answer the "temporarily unavailable" page with the realm's
  brand when this process has the realm cached, without any query.
- Each response with a 5xx status is logged once, as one JSON line on the ``idp.request``
  logger; the traceback goes with it at most once per error class per ``TRACEBACK_EVERY``
  seconds, so an outage does not flood the log.
"""

from __future__ import annotations

import json
import logging
import re
import secrets
import threading
import time
from typing import Any

from flask import Flask, Response, g, jsonify, make_response, render_template, request

from .. import clock
from ..db import database_unavailable, get_session, rollback_quietly
from ..oidc.endpoint_table import MACHINE_PATHS
from ..services.context import settings
from ..services.realms import peek_realm

log = logging.getLogger("idp.request")

#: An incoming ``X-Request-Id`` is kept only when it looks like this (no spaces, quotes or
#: control characters that could forge log lines, at most 64 characters).
REQUEST_ID = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._:-]{0,63}$")
#: Seconds between two tracebacks of the same error class.
TRACEBACK_EVERY = 60.0

#: Paths of the endpoints that answer machines with JSON rather than pages.
PROTOCOL_PATH = MACHINE_PATHS

_last_traceback: dict[str, float] = {}
_traceback_lock = threading.Lock()


def request_id() -> str:
    """This request's id (made on first use)."""
    rid = g.get("idp_request_id")
    if isinstance(rid, str):
        return rid
    incoming = request.headers.get("X-Request-Id", "")
    made = incoming if REQUEST_ID.match(incoming) else secrets.token_hex(8)
    g.idp_request_id = made
    return made


def is_protocol_request() -> bool:
    return bool(PROTOCOL_PATH.match(request.path))


def unavailable(exc: BaseException) -> Response:
    """The 503 for a request that failed because the database is unavailable."""
    g.idp_failure = exc
    rollback_quietly(get_session())
    retry_after = str(settings().retry_after)
    if is_protocol_request():
        resp = jsonify(
            error="temporarily_unavailable",
            error_description="The service is temporarily unavailable; try again later.",
        )
        resp.status_code = 503
    else:
        resp = _unavailable_page()
    resp.headers["Retry-After"] = retry_after
    resp.headers["Cache-Control"] = "no-store"
    return resp


def _unavailable_page() -> Response:
    # Objects loaded by the failed session are expired by its rollback and would query
    # again when read: the page uses the process's cached copy of the realm, or none.
    for key in ("idp_realm", "idp_sso", "user"):
        g.pop(key, None)
    name: object = (request.view_args or {}).get("realm")
    if name is None and (match := re.match(r"^/realms/([^/]+)", request.path)):
        name = match.group(1)
    realm = peek_realm(name) if isinstance(name, str) else None
    if realm is not None:
        g.idp_realm = realm
    path = request.full_path if request.query_string else request.path
    retry_url = (
        path
        if request.method == "GET" and path.startswith("/") and not path.startswith("//")
        else None
    )
    try:
        page = render_template(
            "errors/unavailable.html",
            realm=realm,
            user=None,
            request_id=request_id(),
            retry_url=retry_url,
        )
    except Exception:  # the page itself must not fail: plain text then
        log.exception("the unavailable page could not be drawn")
        page = "Temporarily unavailable. Try again later.\n"
        return make_response(page, 503, {"Content-Type": "text/plain; charset=utf-8"})
    return make_response(page, 503)


def note_failure(exc: BaseException) -> None:
    """Remember the exception behind this request's 5xx for its log line."""
    g.idp_failure = exc


def _error_class(exc: BaseException) -> str:
    name = f"{type(exc).__module__}.{type(exc).__qualname__}"
    orig = getattr(exc, "orig", None)  # the DB-API's own error under SQLAlchemy's
    if orig is not None:
        name += f"({type(orig).__module__}.{type(orig).__qualname__})"
    return name


def _traceback_due(error_class: str) -> bool:
    now = clock.timestamp()
    with _traceback_lock:
        last = _last_traceback.get(error_class)
        if last is not None and 0 <= now - last < TRACEBACK_EVERY:
            return False
        _last_traceback[error_class] = now
        return True


def log_failed_request(response: Response) -> Response:
    """One JSON line per response with a 5xx status (and the traceback, when due)."""
    if response.status_code < 500 or g.get("idp_failure_logged"):
        return response
    g.idp_failure_logged = True
    exc: BaseException | None = g.get("idp_failure")
    started = g.get("idp_started")
    error = _error_class(exc) if exc is not None else None
    line = {
        "event": "request.failed",
        "request_id": request_id(),
        "method": request.method,
        "path": request.path[:300],
        "status": response.status_code,
        "error": error,
        "database_unavailable": bool(exc is not None and database_unavailable(exc)),
        "remote_addr": request.remote_addr,
        "duration_ms": round(1000 * (time.perf_counter() - started), 1) if started else None,
    }
    log.error(json.dumps(line, ensure_ascii=True))
    if exc is not None and _traceback_due(error or ""):
        log.error(
            "traceback of %s (request_id %s; the next one of this class in %d s at the earliest)",
            line["error"],
            line["request_id"],
            TRACEBACK_EVERY,
            exc_info=(type(exc), exc, exc.__traceback__),
        )
    return response


def init_app(app: Flask) -> None:
    """Stamp each request with its id and start time; log failed requests."""

    @app.url_value_preprocessor
    def _start(_endpoint: str | None, _values: dict[str, Any] | None) -> None:
        # The first hook of a request (before the blueprints' realm lookups).
        g.idp_started = time.perf_counter()
        request_id()

    @app.after_request
    def _finish(response: Response) -> Response:
        response.headers["X-Request-Id"] = request_id()
        return log_failed_request(response)


__all__ = ["database_unavailable", "init_app", "note_failure", "request_id", "unavailable"]
