"""An application's back-channel logout endpoint, served for real on loopback, written the way
the README's "Flask or Django by hand" recipe says: it verifies each logout token with joserfc
(the Authlib project's JOSE library) against the provider's published JWKS, checking the
signature, ``iss``, ``aud``, ``iat``/``exp``, the ``events`` member, ``sid`` or ``sub``, and
that there is no ``nonce``, and records what it accepted and refused. Tests make it answer
an error status, redirect, or hang until released."""

from __future__ import annotations

import threading
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any
from urllib.parse import parse_qs

import requests
from joserfc import jwt
from joserfc.errors import JoseError
from joserfc.jwk import KeySet

LOGOUT_EVENT = "http://schemas.openid.net/event/backchannel-logout"


@dataclass
class Received:
    """One POST: the raw token, and its header and claims when it verified."""

    token: str
    header: dict[str, Any] = field(default_factory=dict)
    claims: dict[str, Any] = field(default_factory=dict)
    refused: str | None = None


class LogoutReceiver:
    """``uri`` is the back-channel logout URI to register for ``client_id`` of ``issuer``."""

    def __init__(self, issuer: str, client_id: str = "") -> None:
        self.issuer = issuer
        self.client_id = client_id
        self.received: list[Received] = []
        self.status = 200
        self.location: str | None = None
        self.hold = threading.Event()
        self.hold.set()  # set: answer at once; cleared: hang until set again
        self.arrived = threading.Event()
        receiver = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self) -> None:
                length = int(self.headers.get("Content-Length") or 0)
                form = parse_qs(self.rfile.read(length).decode())
                receiver.arrived.set()
                receiver.hold.wait(30)
                receiver.received.append(receiver.check((form.get("logout_token") or [""])[0]))
                self.send_response(receiver.status)
                if receiver.location:
                    self.send_header("Location", receiver.location)
                self.send_header("Cache-Control", "no-store")
                self.send_header("Content-Length", "0")
                self.end_headers()

            def log_message(self, *args: Any) -> None:
                pass

        self._server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self._server.daemon_threads = True
        self.port = self._server.server_port
        self.uri = f"http://127.0.0.1:{self.port}/backchannel-logout"
        threading.Thread(target=self._server.serve_forever, daemon=True).start()

    def stop(self) -> None:
        self.hold.set()
        self._server.shutdown()
        self._server.server_close()

    # -- the recipe: what an application checks ------------------------------------------------
    def check(self, token: str) -> Received:
        """Back-Channel Logout 1.0, section 2.6, with joserfc."""
        meta = requests.get(f"{self.issuer}/.well-known/openid-configuration", timeout=10).json()
        keys = KeySet.import_key_set(requests.get(meta["jwks_uri"], timeout=10).json())
        try:
            decoded = jwt.decode(token, keys)
            jwt.JWTClaimsRegistry(
                iss={"essential": True, "value": self.issuer},
                aud={"essential": True, "value": self.client_id},
                iat={"essential": True},
                exp={"essential": True},
                jti={"essential": True},
                events={"essential": True},
            ).validate(decoded.claims)
            claims = dict(decoded.claims)
            if LOGOUT_EVENT not in (claims.get("events") or {}):
                raise ValueError("no back-channel logout event")
            if "nonce" in claims:
                raise ValueError("a logout token has no nonce")
            if not (claims.get("sid") or claims.get("sub")):
                raise ValueError("neither sid nor sub")
        except (JoseError, ValueError) as exc:
            return Received(token, refused=f"{type(exc).__name__}: {exc}")
        return Received(token, dict(decoded.header), claims)

    @property
    def accepted(self) -> list[Received]:
        return [r for r in self.received if r.refused is None]
