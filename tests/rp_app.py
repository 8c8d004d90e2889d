"""A tiny relying-party web app for browser tests, built the way a real application would be:
Flask with Authlib's Flask OAuth client, configured from the realm's discovery document.

``/login`` redirects to the provider (authorization code with PKCE S256 and a nonce), passing
on ``acr_values``, ``prompt`` and ``max_age`` from its own query string;
``/login-form-post`` asks for ``response_mode=form_post``; ``/callback`` (GET or POST)
exchanges the code, and Authlib verifies the ID token against the realm's JWKS
(issuer, audience, nonce, signature) before the page says who signed in. ``/me`` is a page
behind its own sign-in (it sends a visitor without a session to ``/login``); ``/logout``
ends the app's session and asks the provider to end its own (RP-Initiated Logout, with
``id_token_hint``, ``post_logout_redirect_uri`` and ``state``); ``/frontchannel-logout`` is
its OpenID Connect Front-Channel Logout URI (issue 17): loaded by the provider's signed-out
page in an iframe, it ends the app's session when ``iss`` and ``sid`` name it."""

from __future__ import annotations

import secrets
import threading
from dataclasses import dataclass
from typing import Any
from urllib.parse import urlencode

from authlib.integrations.flask_client import OAuth
from flask import Flask, make_response, redirect, render_template_string, request, session
from werkzeug.serving import make_server

SIGNED_IN = """<!doctype html>
<html lang="en"><head><meta charset="utf-8"><title>Test RP</title></head>
<body><h1>Test RP</h1>
<p id="who">Signed in as {{ email }}, amr={{ amr }}, acr={{ acr }}</p>
<p id="sub">sub={{ sub }}</p>
</body></html>
"""

ME = """<!doctype html>
<html lang="en"><head><meta charset="utf-8"><title>Test RP</title></head>
<body><h1>Test RP</h1><p id="me">Session of {{ sub }}</p></body></html>
"""

LOGGED_OUT = """<!doctype html>
<html lang="en"><head><meta charset="utf-8"><title>Test RP</title></head>
<body><p id="frontchannel">{{ outcome }}</p></body></html>
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
        session["sid"] = claims.get("sid")
        session["id_token"] = token["id_token"]
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

    @app.get("/me")
    def me() -> Any:
        if "sub" not in session:
            return redirect("/login")
        return render_template_string(ME, sub=session["sub"])

    @app.get("/logout")
    def logout() -> Any:
        """RP-initiated logout: this app's session ends, then the provider's."""
        id_token = session.get("id_token")
        session.clear()
        metadata = oauth.idp.load_server_metadata()
        params = {
            "post_logout_redirect_uri": f"{request.host_url}signed-out",
            "state": request.args.get("state", "rp-state"),
        }
        if id_token:
            params["id_token_hint"] = id_token
        return redirect(f"{metadata['end_session_endpoint']}?{urlencode(params)}")

    @app.get("/frontchannel-logout")
    def frontchannel_logout() -> Any:
        """Front-Channel Logout 1.0, section 3: with ``iss`` and ``sid`` (the app registered
        ``frontchannel_logout_session_required``) the session ends only when they name it.
        The app's cookie reaches it in the provider's iframe because both run on 127.0.0.1
        (same site); an app on another site needs ``SameSite=None; Secure`` cookies (and a
        browser that sends third-party cookies)."""
        iss, sid = request.args.get("iss"), request.args.get("sid")
        if iss is not None and iss != issuer:
            outcome = "wrong issuer"
        elif "sub" not in session:
            outcome = "no session"
        elif sid is not None and sid != session.get("sid"):
            outcome = "not this session"
        else:
            outcome = "signed out"
            session.clear()
        app.config.setdefault("FRONTCHANNEL_CALLS", []).append((dict(request.args), outcome))
        page = make_response(render_template_string(LOGGED_OUT, outcome=outcome))
        page.headers["Cache-Control"] = "no-store"
        return page

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


def start_rp(realm: Any, *, frontchannel: bool = False, **client_kw: Any) -> RunningRP:
    """Start the RP on 127.0.0.1 (free port) and register it as a confidential client of
    ``realm`` (a ``tests.conftest.TestRealm``) with its real callback URL; ``client_kw`` goes
    to ``create_client`` (e.g. ``require_2fa=True``). ``frontchannel`` registers its
    ``/frontchannel-logout`` as its front-channel logout URI, with ``iss`` and ``sid``."""
    holder: dict[str, Flask] = {}

    def dispatch(environ: dict, start_response: Any) -> Any:
        return holder["app"](environ, start_response)

    server = make_server("127.0.0.1", 0, dispatch, threaded=True)
    url = f"http://127.0.0.1:{server.server_port}"
    callback = f"{url}/callback"
    if frontchannel:
        client_kw.setdefault("frontchannel_logout_uri", f"{url}/frontchannel-logout")
        client_kw.setdefault("frontchannel_logout_session_required", True)
    client_id, client_secret = realm.client(
        redirect_uri=callback, post_logout=f"{url}/signed-out", **client_kw
    )
    app = create_rp_app(realm.issuer, client_id, client_secret)
    app.config["RP_CALLBACK"] = callback
    holder["app"] = app
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    return RunningRP(url, callback, client_id, app, server, thread)
