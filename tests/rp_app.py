"""A tiny relying-party web app for browser tests, built the way a real application would be:
Flask with Authlib's Flask OAuth client, configured from the realm's discovery document.

``/login`` redirects to the provider (authorization code with PKCE S256 and a nonce), passing
on ``acr_values``, ``prompt`` and ``max_age`` from its own query string;
``/login-form-post`` asks for ``response_mode=form_post``; ``/callback`` (GET or POST)
exchanges the code, and Authlib verifies the ID token against the realm's JWKS
(issuer, audience, nonce, signature) before the page says who signed in."""

from __future__ import annotations

import secrets
import threading
from dataclasses import dataclass
from typing import Any

from authlib.integrations.flask_client import OAuth
from flask import Flask, redirect, render_template_string, request, session
from werkzeug.serving import make_server

SIGNED_IN = """<!doctype html>
<html lang="en"><head><meta charset="utf-8"><title>Test RP</title></head>
<body><h1>Test RP</h1>
<p id="who">Signed in as {{ email }}, amr={{ amr }}, acr={{ acr }}</p>
<p id="sub">sub={{ sub }}</p>
</body></html>
"""

HOME = """<!doctype html>
<html lang="en"><head><meta charset="utf-8"><title>Test RP</title></head>
<body><h1>Test RP</h1><p><a href="/login">Sign in</a></p></body></html>
"""


def create_rp_app(issuer: str, client_id: str, client_secret: str | None) -> Flask:
    app = Flask("test_rp")
    app.secret_key = secrets.token_hex(32)
    # The RP runs on 127.0.0.1 like the provider; a distinct cookie name keeps its session
    # apart from the provider's cookies (cookies do not separate by port).
    app.config["SESSION_COOKIE_NAME"] = "test_rp_session"
    oauth = OAuth(app)
    oauth.register(
        "idp",
        client_id=client_id,
        client_secret=client_secret,
        server_metadata_url=f"{issuer}/.well-known/openid-configuration",
        client_kwargs={"scope": "openid profile email", "code_challenge_method": "S256"},
    )

    @app.get("/")
    def home() -> str:
        return render_template_string(HOME)

    @app.get("/login")
    def login() -> Any:
        # What the application asks of this sign-in (e.g. ``/login?acr_values=2``).
        extra = {k: v for k, v in request.args.items() if k in ("acr_values", "prompt", "max_age")}
        return oauth.idp.authorize_redirect(app.config["RP_CALLBACK"], **extra)

    @app.get("/login-form-post")
    def login_form_post() -> Any:
        return oauth.idp.authorize_redirect(app.config["RP_CALLBACK"], response_mode="form_post")

    @app.route("/callback", methods=["GET", "POST"])
    def callback() -> Any:
        token = oauth.idp.authorize_access_token()
        claims = token["userinfo"]  # the verified ID token's claims
        session["sub"] = claims["sub"]
        return render_template_string(
            SIGNED_IN,
            email=claims.get("email"),
            amr=",".join(claims.get("amr") or []),
            acr=claims.get("acr"),
            sub=claims["sub"],
        )

    @app.get("/signed-out")
    def signed_out() -> Any:
        session.clear()
        return redirect("/")

    return app


@dataclass
class RunningRP:
    url: str
    callback: str
    client_id: str
    app: Flask
    _server: Any
    _thread: threading.Thread

    @property
    def login_url(self) -> str:
        return f"{self.url}/login"

    def stop(self) -> None:
        self._server.shutdown()
        self._thread.join(timeout=10)


def start_rp(realm: Any, **client_kw: Any) -> RunningRP:
    """Start the RP on 127.0.0.1 (free port) and register it as a confidential client of
    ``realm`` (a ``tests.conftest.TestRealm``) with its real callback URL; ``client_kw`` goes
    to ``create_client`` (e.g. ``require_2fa=True``)."""
    holder: dict[str, Flask] = {}

    def dispatch(environ: dict, start_response: Any) -> Any:
        return holder["app"](environ, start_response)

    server = make_server("127.0.0.1", 0, dispatch, threaded=True)
    url = f"http://127.0.0.1:{server.server_port}"
    callback = f"{url}/callback"
    client_id, client_secret = realm.client(
        redirect_uri=callback, post_logout=f"{url}/signed-out", **client_kw
    )
    app = create_rp_app(realm.issuer, client_id, client_secret)
    app.config["RP_CALLBACK"] = callback
    holder["app"] = app
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    return RunningRP(url, callback, client_id, app, server, thread)
