"""An OpenID Connect provider with hosted two-factor sign-in."""

from __future__ import annotations

import json
import logging
import os
import sys
from pathlib import Path
from typing import Any

from flask import Flask, Response, make_response, request
from flask_babel import gettext as _
from flask_wtf.csrf import CSRFError
from werkzeug.exceptions import HTTPException
from werkzeug.middleware.proxy_fix import ProxyFix

from .config import Settings, load_settings
from .headers import HSTS, SECURITY_HEADERS

ROOT = Path(__file__).resolve().parent.parent


class JsonLines(logging.Formatter):
    """Every log record of the app as one line of JSON: a message that is a JSON object
    already (``web/failures.py``'s ``request.failed`` line) as it is, any other as
    ``{"level", "logger", "message"}``, with its ``traceback`` as a field."""

    def format(self, record: logging.LogRecord) -> str:
        message = record.getMessage()
        if message.startswith("{") and not record.exc_info:
            return message
        line: dict[str, Any] = {
            "level": record.levelname,
            "logger": record.name,
            "message": message,
        }
        if record.exc_info:
            line["traceback"] = self.formatException(record.exc_info)
        return json.dumps(line, ensure_ascii=True)


class _StderrHandler(logging.StreamHandler):
    """Writes to ``sys.stderr`` as it is at each record (as ``logging.lastResort`` does), so
    a stream swapped later (a test's capture) is followed, never a closed one."""

    @property  # type: ignore[override]
    def stream(self) -> Any:
        return sys.stderr

    @stream.setter
    def stream(self, _value: Any) -> None:
        pass


def _log_json_lines() -> None:
    """One handler for the ``idp`` loggers (``idp.request``, ``idp.mail`` and the app's
    own), writing ``JsonLines`` to stderr; added once per process. With it in place Flask
    adds no handler of its own (it would when ``app.logger`` is first used, at a worker's
    first unhandled exception, and every line after would carry its text prefix). Records
    still propagate: a host's root handlers (and pytest's) see them too."""
    logger = logging.getLogger(__name__)
    if not any(isinstance(h.formatter, JsonLines) for h in logger.handlers):
        handler = _StderrHandler()
        handler.setFormatter(JsonLines())
        logger.addHandler(handler)


class _Flask(Flask):
    def log_exception(self, exc_info: Any) -> None:
        """Nothing here: ``web/failures.py`` logs every failed request, once, as one JSON
        line, and its traceback at most once a minute per error class; Flask's own would
        add a second traceback on every unhandled exception."""


def create_app(overrides: dict[str, Any] | None = None) -> Flask:
    """Wiring only: settings, database, extensions, blueprints, CLI and error pages."""
    settings: Settings = load_settings(overrides)
    _log_json_lines()
    app = _Flask(
        __name__,
        instance_path=settings.instance_path,
        template_folder=str(_templates_dir()),
        static_folder="static",
        static_url_path="/static",
    )
    app.config.update(
        SECRET_KEY=settings.secret_key,
        # The browser-binding cookie; with an https issuer the __Host- prefix makes browsers
        # refuse it unless Secure, host-only and for path / (no subdomain can plant one).
        SESSION_COOKIE_NAME="__Host-idp_browser" if settings.secure_cookies else "idp_browser",
        SESSION_COOKIE_HTTPONLY=True,
        SESSION_COOKIE_SAMESITE="Lax",
        SESSION_COOKIE_SECURE=settings.secure_cookies,
        WTF_CSRF_TIME_LIMIT=None,
        WTF_CSRF_SSL_STRICT=False,
        MAX_CONTENT_LENGTH=64 * 1024,
        OAUTH2_ERROR_URIS=None,
    )
    app.extensions["idp.settings"] = settings
    from .web.browser_session import BrowserSessionInterface

    app.session_interface = BrowserSessionInterface()
    if not settings.base_url.startswith("https://"):
        # Authlib refuses http URLs unless told; only development issuers are http.
        os.environ["AUTHLIB_INSECURE_TRANSPORT"] = "1"
    from .well_known import WellKnownFastPath

    # Discovery and JWKS from the process cache, before Flask (and after ProxyFix, which
    # wraps it below, so the scheme it sees is the client's).
    app.wsgi_app = WellKnownFastPath(app, app.wsgi_app)  # type: ignore[method-assign]
    if settings.proxy_count:
        app.wsgi_app = ProxyFix(  # type: ignore[method-assign]
            app.wsgi_app,
            x_for=settings.proxy_count,
            x_proto=settings.proxy_count,
            x_host=settings.proxy_count,
        )

    from . import db

    db.init_app(
        app,
        settings.database_url,
        connect_timeout=settings.db_connect_timeout,
        statement_timeout=settings.db_statement_timeout,
        pool_size=settings.db_pool_size,
    )

    from .web import failures

    failures.init_app(app)

    @app.before_request
    def _view_upload_limit() -> None:
        """A view that takes larger uploads (the realm's logo) says so with a
        ``max_content_length`` attribute; registered before the CSRF check, which is the
        first to read the body."""
        view = app.view_functions.get(request.endpoint or "")
        limit = getattr(view, "max_content_length", None)
        if limit:
            request.max_content_length = limit

    from .app_extensions import csrf

    csrf.init_app(app)

    from . import formats, i18n

    i18n.init_app(app, settings.timezone)
    formats.init_app(app)

    from .oidc.server import init_server

    init_server(app)

    from .web import account, admin, admin_settings, brand, login, protocol

    for blueprint in (protocol.bp, login.bp, account.bp, admin.bp, admin_settings.bp):
        app.register_blueprint(blueprint)
    from .web import email_links, password_reset

    app.register_blueprint(password_reset.bp)
    app.register_blueprint(email_links.bp)
    brand.init_app(app)
    # Relying parties and resource servers POST here without a browser form; logout checks
    # the CSRF token itself when it acts on the user's confirmation.
    for view in ("token", "userinfo", "revoke", "introspect", "authorize", "logout"):
        csrf.exempt(getattr(protocol, view))
    _register_pages(app)
    return app


def _templates_dir() -> Path:
    packaged = Path(__file__).resolve().parent / "templates"
    return packaged if packaged.is_dir() else ROOT / "templates"


def _register_pages(app: Flask) -> None:
    from .db import database_unavailable
    from .web.failures import note_failure, unavailable

    @app.get("/")
    def index() -> Response:
        from flask import redirect, url_for

        from .services.realms import DEFAULT_REALM

        return redirect(url_for("account.home", realm=DEFAULT_REALM))

    @app.get("/healthz")
    def healthz() -> Response:
        """Liveness: the process answers (no database; a load balancer restarts on failure)."""
        return make_response("ok\n", 200, {"Content-Type": "text/plain"})

    @app.get("/readyz")
    def readyz() -> Response:
        """Readiness: the database answers (a load balancer sends no traffic while 503)."""
        from sqlalchemy.exc import SQLAlchemyError

        from .db import get_engine, ping

        try:
            ping(get_engine())
        except SQLAlchemyError as exc:
            note_failure(exc)
            settings: Settings = app.extensions["idp.settings"]
            return make_response(
                "unavailable: the database does not answer\n",
                503,
                {"Content-Type": "text/plain", "Retry-After": str(settings.retry_after)},
            )
        return make_response("ready\n", 200, {"Content-Type": "text/plain"})

    @app.before_request
    def _refuse_nul_bytes() -> Response | None:
        """No identifier, code or name contains a NUL byte, and PostgreSQL refuses them in
        text: answer 400 up front instead of failing in a query."""
        if "\x00" in request.path or any(
            "\x00" in key or "\x00" in value
            for source in (request.args, request.form)
            for key, value in source.items(multi=True)
        ):
            return _error(400, _("Bad request"), _("The request contains a NUL character."))
        return None

    @app.after_request
    def _security_headers(response: Response) -> Response:
        if response.status_code == 302 and request.method == "POST":
            # After a form POST, 303 See Other tells every client to follow with a GET.
            response.status_code = 303
        headers = response.headers
        for name, value in SECURITY_HEADERS:
            headers.setdefault(name, value)
        if request.is_secure:
            headers.setdefault(*HSTS)
        if response.mimetype in ("text/html", "text/plain") and not request.path.startswith(
            "/static/"
        ):
            headers["Cache-Control"] = "no-store"
            headers["Pragma"] = "no-cache"
        return response

    def _error(status: int, title: str, message: str) -> Response:
        from .web.brand import error_page

        return error_page(status, title, message)

    @app.errorhandler(CSRFError)
    def _csrf(exc: CSRFError) -> Response:
        return _error(
            400,
            _("The form has expired"),
            _(
                "The page was open too long or came from elsewhere. Go back, reload the page "
                "and try again."
            ),
        )

    @app.errorhandler(HTTPException)
    def _http(exc: HTTPException) -> Response:
        status = exc.code or 500
        if status >= 500:
            # An error after the view (in an after_request hook) arrives here wrapped.
            original = getattr(exc, "original_exception", None) or exc
            if database_unavailable(original):
                return unavailable(original)
            note_failure(original)
        titles = {
            400: _("Bad request"),
            403: _("Not allowed"),
            404: _("Not found"),
            405: _("Method not allowed"),
            413: _("Request too large"),
        }
        messages = {
            403: _("Your account may not open this page."),
            404: _("There is no page at this address."),
            405: _("This address does not accept this kind of request."),
            413: _("The request is larger than this server accepts."),
        }
        # A 400's description comes from our own abort() calls, in English: show it as
        # the detail under a translated message.
        message = messages.get(status, "")
        if status == 400:
            message = _("The request could not be understood.")
            if exc.description and exc.description != type(exc).description:
                message = f"{message} ({exc.description})"
        return _error(status, titles.get(status, _("Error")), message)

    @app.errorhandler(Exception)
    def _unexpected(exc: Exception) -> Response:
        if isinstance(exc, HTTPException):
            return _http(exc)
        if database_unavailable(exc):
            return unavailable(exc)
        # Logged once by web/failures.py: one line, the traceback once a minute per class.
        note_failure(exc)
        return _error(
            500,
            _("Something went wrong"),
            _("The server could not complete the request. Try again later."),
        )
