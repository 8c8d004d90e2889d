"""The signed browser cookie (Flask's session), opened only where a browser's state matters.

Flask opens the session cookie for every request and builds its signing serializer each
time. The protocol endpoints that answer machines with JSON (token, introspection,
revocation, UserInfo, JWKS, discovery: ``failures.PROTOCOL_PATH``) never read or write it,
so they get Flask's null session (which refuses writes: a view that wrote there would fail
loudly, not lose state); every other request gets the cookie, signed by a serializer built
once per secret key. Their error pages (405, 413, ...) ignore the browser's sign-in too: no
account menu, whose sign-out form would write a CSRF token there (V7).
"""

from __future__ import annotations

from typing import Any

from flask import Flask, Request
from flask.sessions import SecureCookieSession, SecureCookieSessionInterface

from .failures import PROTOCOL_PATH


class BrowserSessionInterface(SecureCookieSessionInterface):
    def __init__(self) -> None:
        self._serializer: tuple[Any, Any] | None = None

    def get_signing_serializer(self, app: Flask) -> Any:
        keys = (app.secret_key, tuple(app.config.get("SECRET_KEY_FALLBACKS") or ()))
        cached = self._serializer
        if cached is None or cached[0] != keys:
            cached = (keys, super().get_signing_serializer(app))
            self._serializer = cached
        return cached[1]

    def open_session(self, app: Flask, request: Request) -> SecureCookieSession | None:
        if PROTOCOL_PATH.match(request.path):
            return None  # Flask's null session
        return super().open_session(app, request)
