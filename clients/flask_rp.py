"""An example relying party: a small Flask app that signs users in through the provider with
Authlib's Flask client, shows what the ID token says (amr, acr, auth_time, email_verified),
signs out through the provider (RP-initiated logout), and is signed out when the user's
session at the provider ends anywhere else (back-channel logout at /backchannel-logout, the
URI ``make run`` registers for the demo client).

Settings (environment variables; ``make run`` prints the whole command for its demo client):

    RP_ISSUER         the provider's issuer, e.g. http://localhost:5000/realms/main (required)
    RP_CLIENT_ID      the client_id (default demo-app)
    RP_CLIENT_SECRET  its secret (required), or RP_CLIENT_SECRET_FILE: a file that holds it
    RP_HOST, RP_PORT  where this app listens (default 127.0.0.1 and 8000)
    RP_BASE_URL       this app's public URL (default http://RP_HOST:RP_PORT): the redirect URI
                      is RP_BASE_URL/callback and the post-logout URI RP_BASE_URL/, both
                      registered with the client. ``make run`` (``idp dev``) reads these three
                      too: ``RP_PORT=8001 make run`` registers port 8001 for the demo client
                      and prints the command with it. At start-up the app checks that the
                      provider accepts its redirect URI.
    RP_SCOPE          default "openid profile email"

    RP_ISSUER=http://localhost:5000/realms/main RP_CLIENT_SECRET=<secret> \\
        .venv/bin/python clients/flask_rp.py

It needs Flask, Authlib and requests (clients/example-rp.txt).
"""

from __future__ import annotations

import os
import secrets
import socket
import sys
from pathlib import Path
from urllib.parse import urlencode

import requests
from authlib.integrations.flask_client import OAuth
from flask import Flask, redirect, request, session
from joserfc import jwt
from joserfc.errors import JoseError
from joserfc.jwk import KeySet
from markupsafe import escape

LOGOUT_EVENT = "http://schemas.openid.net/event/backchannel-logout"


class SettingsError(RuntimeError):
    """A setting is missing or the provider cannot be reached (said before serving)."""


def _setting(name: str, default: str | None = None) -> str:
    value = os.environ.get(name, "").strip() or default
    if value is None:
        raise SettingsError(f"{name} is not set (see the top of {Path(__file__).name})")
    return value


def _client_secret() -> str:
    path = os.environ.get("RP_CLIENT_SECRET_FILE", "").strip()
    if path:
        return Path(path).read_text().strip()
    return _setting("RP_CLIENT_SECRET")


def _check_redirect_uri(authorize: str, client_id: str, redirect_uri: str) -> None:
    """A development aid: fail now, not at the first sign-in, when the provider does not know
    this app's redirect URI (another RP_PORT than the one registered). A ``prompt=none``
    request that a provider answers by redirecting to ``redirect_uri`` (with a code or
    ``login_required``) shows that it accepts the URI; a provider shows an error page
    instead, and never redirects, for a URI it does not know (RFC 6749 4.1.2.1)."""
    params = {
        "client_id": client_id,
        "redirect_uri": redirect_uri,
        "response_type": "code",
        "scope": "openid",
        "prompt": "none",
        "state": secrets.token_urlsafe(16),
        "nonce": secrets.token_urlsafe(16),
    }
    try:
        answer = requests.get(authorize, params=params, allow_redirects=False, timeout=10)
    except requests.RequestException as exc:
        raise SettingsError(f"cannot reach {authorize}: {exc}") from exc
    if answer.is_redirect and answer.headers["Location"].startswith(redirect_uri):
        return
    raise SettingsError(
        f"the provider does not accept the redirect URI {redirect_uri} for client_id="
        f"{client_id}. For the demo client, start the provider with this app's place too "
        f"(e.g. RP_PORT={redirect_uri.rsplit(':', 1)[-1].split('/')[0]} make run) and use "
        "the command it prints; for a client of your own, register the URI: idp client add "
        f"--name 'Example app' --redirect-uri {redirect_uri} --post-logout-redirect-uri "
        f"{redirect_uri.removesuffix('callback')}"
    )


def create_app() -> Flask:
    issuer = _setting("RP_ISSUER").rstrip("/")
    host = _setting("RP_HOST", "127.0.0.1")
    port = int(_setting("RP_PORT", "8000"))
    base_url = _setting("RP_BASE_URL", f"http://{host}:{port}").rstrip("/")
    # Fail now, not at the first sign-in, when the issuer is wrong: a provider on another
    # port, or another issuer (relying parties compare the discovery document's issuer).
    discovery = f"{issuer}/.well-known/openid-configuration"
    try:
        meta = requests.get(discovery, timeout=10)
        meta.raise_for_status()
        found = meta.json().get("issuer")
    except (requests.RequestException, ValueError) as exc:
        raise SettingsError(f"cannot read {discovery}: {exc}") from exc
    if found != issuer:
        raise SettingsError(f"{discovery} names the issuer {found!r}, not RP_ISSUER={issuer!r}")
    client_id = _setting("RP_CLIENT_ID", "demo-app")
    _check_redirect_uri(meta.json()["authorization_endpoint"], client_id, f"{base_url}/callback")

    app = Flask(__name__)
    app.config.update(
        SECRET_KEY=secrets.token_hex(32),
        # Cookies are per host, not per port: keep clear of the provider's cookies when both
        # run on 127.0.0.1.
        SESSION_COOKIE_NAME="example_rp_session",
        SESSION_COOKIE_HTTPONLY=True,
        SESSION_COOKIE_SAMESITE="Lax",
        RP_HOST=host,
        RP_PORT=port,
    )
    oauth = OAuth(app)
    idp = oauth.register(
        "idp",
        client_id=client_id,
        client_secret=_client_secret(),
        server_metadata_url=discovery,
        client_kwargs={
            "scope": _setting("RP_SCOPE", "openid profile email"),
            "code_challenge_method": "S256",
        },
    )

    # Back-channel logout (README "Single sign-out"): the sessions the provider said ended.
    # In memory, for one process; an app with several keeps them in a shared store (Redis).
    ended_sids: set[str] = set()
    ended_subs: set[str] = set()

    @app.before_request
    def forget_ended_sessions() -> None:
        user = session.get("user")
        if user and (user.get("sid") in ended_sids or user.get("sub") in ended_subs):
            session.clear()

    @app.post("/backchannel-logout")
    def backchannel_logout():  # a Flask view
        meta = idp.load_server_metadata()
        keys = KeySet.import_key_set(requests.get(meta["jwks_uri"], timeout=10).json())
        try:
            token = jwt.decode(request.form.get("logout_token", ""), keys)
            jwt.JWTClaimsRegistry(
                iss={"essential": True, "value": issuer},
                aud={"essential": True, "value": client_id},
                iat={"essential": True},
                exp={"essential": True},
                jti={"essential": True},
                events={"essential": True},
            ).validate(token.claims)
            if LOGOUT_EVENT not in token.claims["events"] or "nonce" in token.claims:
                raise ValueError("not a logout token")
        except (JoseError, ValueError, TypeError):
            return {"error": "invalid_request"}, 400
        if token.claims.get("sid"):
            ended_sids.add(token.claims["sid"])
        elif token.claims.get("sub"):
            ended_subs.add(token.claims["sub"])
        else:
            return {"error": "invalid_request"}, 400
        return "", 204, {"Cache-Control": "no-store"}

    @app.get("/")
    def home() -> str:
        user = session.get("user")
        if not user:
            return '<p><a href="/login">Sign in</a></p>'
        rows = "".join(
            f"<tr><th>{escape(name)}</th><td>{escape(value)}</td></tr>"
            for name, value in user.items()
        )
        return (
            f"<p>Signed in as {escape(user.get('email') or user['sub'])}</p>"
            f"<table>{rows}</table>"
            '<p><a href="/logout">Sign out</a></p>'
        )

    @app.get("/healthz")
    def healthz() -> str:
        return "ok"

    @app.get("/login")
    def login():  # a Flask view
        return idp.authorize_redirect(f"{base_url}/callback")

    @app.get("/callback")
    def callback():
        token = idp.authorize_access_token()  # verifies the ID token against the JWKS
        claims = token["userinfo"]  # the ID token's claims
        session["user"] = {
            name: claims.get(name)
            for name in ("sub", "email", "email_verified", "amr", "acr", "auth_time", "sid")
        }
        ended_subs.discard(claims["sub"])  # signed in again
        session["id_token"] = token["id_token"]
        return redirect(f"{base_url}/")

    @app.get("/logout")
    def logout():
        # RP-initiated logout: end the provider's session too, then come back here.
        id_token = session.pop("id_token", None)
        session.clear()
        params = {"client_id": idp.client_id, "post_logout_redirect_uri": f"{base_url}/"}
        if id_token:
            params["id_token_hint"] = id_token
        end_session = idp.load_server_metadata()["end_session_endpoint"]
        return redirect(f"{end_session}?{urlencode(params)}")

    return app


def main() -> None:
    try:
        app = create_app()
    except (SettingsError, OSError, ValueError) as exc:
        sys.exit(f"flask_rp: {exc}")
    host, port = app.config["RP_HOST"], app.config["RP_PORT"]
    with socket.socket() as probe:  # a taken port: say what the next step is
        try:
            probe.bind((host, port))
        except OSError as exc:
            sys.exit(
                f"flask_rp: cannot listen on {host}:{port} ({exc.strerror}). Choose another "
                "port and give it to the provider too, so that the demo client accepts it: "
                "RP_PORT=8001 make run, then run the command it prints."
            )
    print(f"example relying party on http://{host}:{port}/")
    app.run(host=host, port=port)


if __name__ == "__main__":
    main()
