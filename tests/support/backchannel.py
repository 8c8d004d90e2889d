"""Relying parties that receive OpenID Connect Back-Channel Logout 1.0 tokens, run as real
processes (issue 17): an Express app on express-openid-connect (``clients/node/eoc-rp.cjs``)
and Apache with mod_auth_openidc (``tests/support/apache.py``), each behind one small
interface for the tests: sign a browser in, ask for the protected page, and its back-channel
logout URI. Also: delivering the queued logout tokens and reading what each delivery got,
and logout tokens made by hand for the negative tests."""

from __future__ import annotations

import json
import os
import subprocess
import tempfile
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any
from urllib.parse import urljoin

import requests
from joserfc import jwt
from joserfc.jwk import RSAKey
from sqlalchemy import select

from idp.db import get_session
from idp.mail.sender import send_pending
from idp.models import DeliveryAttempt, OutboxMessage
from idp.services.keys import realm_keys
from idp.services.logout import BACKCHANNEL, LOGOUT_EVENT
from tests.helpers import Browser, Page, npm_ci, totp_code
from tests.support.apache import Apache, free_port, printed_claims, start_apache

NODE_DIR = Path(__file__).resolve().parent.parent.parent / "clients" / "node"
EOC_SCRIPT = NODE_DIR / "eoc-rp.cjs"


# -- the applications --------------------------------------------------------------------------
@dataclass
class EocApp:
    """An Express app on express-openid-connect (one node process, one client)."""

    url: str
    client_id: str
    client_secret: str | None
    backchannel: bool
    proc: subprocess.Popen[str] = field(repr=False)
    stderr: Path = field(repr=False)
    name: str = "express-openid-connect"
    protected: str = "/me"

    @property
    def backchannel_logout_uri(self) -> str:
        return f"{self.url}/backchannel-logout"

    @property
    def callback(self) -> str:
        return f"{self.url}/callback"

    @property
    def post_logout(self) -> str:
        return f"{self.url}/signed-out"

    def logout_url(self) -> str:
        """The library's own logout route: RP-initiated logout with the ID token as hint."""
        return f"{self.url}/logout"

    def claims(self, resp: requests.Response) -> dict[str, Any]:
        found: dict[str, Any] = resp.json()
        return found

    def log(self) -> str:
        """What the process wrote on stderr (the library's debug log among it)."""
        return self.stderr.read_text(errors="replace")[-5000:]

    def stop(self) -> None:
        self.proc.terminate()
        try:
            self.proc.wait(timeout=10)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            self.proc.wait(timeout=10)
        if self.proc.stdout is not None:
            self.proc.stdout.close()
        self.stderr.unlink(missing_ok=True)


def start_eoc(realm: Any, *, backchannel: bool = True) -> EocApp:
    """Register a client of ``realm`` (with the library's back-channel logout URI when
    ``backchannel``) and start an Express app for it."""
    npm_ci(NODE_DIR, "express-openid-connect")
    port = free_port()
    url = f"http://127.0.0.1:{port}"
    extra = {"backchannel_logout_uri": f"{url}/backchannel-logout"} if backchannel else {}
    client_id, client_secret = realm.client(
        redirect_uri=f"{url}/callback", post_logout=f"{url}/signed-out", **extra
    )
    env = {
        "PATH": os.environ.get("PATH", "/usr/local/bin:/usr/bin:/bin"),
        # The library's debug log says why it refused a logout token.
        "DEBUG": "express-openid-connect:*",
    }
    fd, name = tempfile.mkstemp(prefix="eoc-rp-", suffix=".log")
    with os.fdopen(fd, "w") as stderr:
        proc = subprocess.Popen(
            ["node", str(EOC_SCRIPT), realm.issuer, client_id, client_secret or "", str(port)],
            stdout=subprocess.PIPE,
            stderr=stderr,
            text=True,
            env=env,
        )
    app = EocApp(url, client_id, client_secret, backchannel, proc, Path(name))
    assert proc.stdout is not None
    line = proc.stdout.readline()
    if not line:
        log = app.log()
        app.stop()
        raise AssertionError(f"eoc-rp.cjs did not start: {log}")
    assert json.loads(line)["listening"] == url, line
    return app


@dataclass
class ApacheApp:
    """Apache with mod_auth_openidc, the same interface as ``EocApp``."""

    apache: Apache
    backchannel: bool
    name: str = "mod_auth_openidc"
    protected: str = "/app/whoami"

    @property
    def url(self) -> str:
        return self.apache.url

    @property
    def client_id(self) -> str:
        return self.apache.client_id

    @property
    def backchannel_logout_uri(self) -> str:
        return self.apache.backchannel_logout_uri

    @property
    def callback(self) -> str:
        return self.apache.redirect_uri

    @property
    def post_logout(self) -> str:
        return self.apache.post_logout

    def logout_url(self) -> str:
        return self.apache.logout_url()

    def claims(self, resp: requests.Response) -> dict[str, Any]:
        return dict(printed_claims(resp.text))

    def log(self) -> str:
        return self.apache.log()

    def stop(self) -> None:
        self.apache.stop()


def start_apache_app(realm: Any, *, backchannel: bool = True) -> ApacheApp:
    return ApacheApp(start_apache(realm, backchannel=backchannel, log_level="info"), backchannel)


App = EocApp | ApacheApp


# -- a browser and the applications ------------------------------------------------------------
def open_app(browser: Browser, app: App, path: str | None = None) -> requests.Response:
    """The browser asks the app for a page (the protected one by default), not following
    redirects: 200 when signed in there, a redirect to the provider when not."""
    return browser.session.get(f"{app.url}{path or app.protected}", allow_redirects=False)


def needs_sign_in(realm: Any, resp: requests.Response) -> bool:
    """The app's answer sends the browser to the provider's authorization endpoint."""
    return resp.status_code in (302, 303) and resp.headers.get("Location", "").startswith(
        realm.endpoints["auth"] + "?"
    )


def into_app(browser: Browser, app: App, page: Page) -> requests.Response:
    """The browser left the provider for the app's callback: follow it, then the app's own
    redirects, to the page the app ends on."""
    assert browser.left_to and browser.left_to.startswith(app.callback), (page.status, page.text)
    resp = browser.session.get(browser.left_to, allow_redirects=False)
    for _ in range(5):
        if not resp.is_redirect:
            break
        resp = browser.session.get(
            urljoin(resp.url, resp.headers["Location"]), allow_redirects=False
        )
    return resp


def through_provider(browser: Browser, user: Any, auth_url: str) -> Page:
    """At the provider: the password page (and the security code for a user with 2FA),
    unless the browser's session lets it through at once."""
    page = browser.get(auth_url)
    if browser.left_to is None and page.forms and "/totp" not in page.url:
        page = browser.submit(page, {"email": user.email, "password": user.password})
    if browser.left_to is None and "/totp" in page.url:
        assert user.totp_secret, page.text
        page = browser.submit(page, {"code": totp_code(user.totp_secret)})
    return page


def sign_in(realm: Any, browser: Browser, app: App, user: Any) -> dict[str, Any]:
    """The browser opens the app's protected page, signs in at the provider (or passes
    through with its session) and comes back; the claims the app shows."""
    first = open_app(browser, app)
    assert needs_sign_in(realm, first), (first.status_code, first.text, app.log())
    page = through_provider(browser, user, first.headers["Location"])
    resp = into_app(browser, app, page)
    assert resp.status_code == 200, (resp.status_code, resp.text, app.log())
    assert resp.url == f"{app.url}{app.protected}", resp.url
    claims = app.claims(resp)
    assert claims["sub"] == user.sub, claims
    return claims


def still_signed_in(realm: Any, browser: Browser, app: App, user: Any) -> bool:
    """Whether the app's protected page answers with the user's claims (True) or needs a new
    sign-in at the provider (False); anything else fails the test."""
    resp = open_app(browser, app)
    if resp.status_code == 200:
        assert app.claims(resp)["sub"] == user.sub, resp.text
        return True
    assert needs_sign_in(realm, resp), (resp.status_code, resp.headers, resp.text, app.log())
    return False


# -- the provider's deliveries ---------------------------------------------------------------
@dataclass(frozen=True)
class Delivery:
    recipient: str
    client_id: str
    outcome: str
    result: str


def last_attempt_id(app: Any) -> int:
    with app.app_context():
        return (
            get_session().scalar(select(DeliveryAttempt.id).order_by(DeliveryAttempt.id.desc()))
            or 0
        )


def deliver(app: Any, realm_id: int, since: int) -> list[Delivery]:
    """Run the outbox worker until nothing is due (``send_pending``: real HTTP POSTs); the
    realm's back-channel delivery attempts after attempt ``since``, oldest first."""
    for _ in range(20):
        if send_pending(app).total == 0:
            break
    with app.app_context():
        rows = (
            get_session()
            .execute(
                select(OutboxMessage.recipient, OutboxMessage.topic, DeliveryAttempt)
                .join(DeliveryAttempt, DeliveryAttempt.message_id == OutboxMessage.id)
                .where(
                    DeliveryAttempt.id > since,
                    DeliveryAttempt.realm_id == realm_id,
                    OutboxMessage.kind == BACKCHANNEL,
                )
                .order_by(DeliveryAttempt.id)
            )
            .all()
        )
        return [Delivery(r, topic, a.outcome, a.result) for r, topic, a in rows]


# -- logout tokens made by hand ----------------------------------------------------------------
def realm_signing_key(app: Any, realm_id: int) -> tuple[Any, str, str]:
    """The realm's active private key, its ``kid`` and ``alg``, as the provider signs with."""
    with app.app_context():
        keys = realm_keys(get_session(), realm_id)
        return keys.active_private, keys.active_kid, keys.active_alg


def foreign_key() -> RSAKey:
    return RSAKey.generate_key(2048, parameters={"kid": "not-the-provider"})


def make_logout_token(
    key: Any,
    *,
    kid: str,
    alg: str = "RS256",
    iss: str,
    aud: str,
    sub: str | None,
    sid: str | None,
    events: bool = True,
    **extra: Any,
) -> str:
    """A logout token (Back-Channel Logout 1.0, section 2.4) with the claims given."""
    now = int(time.time())
    claims: dict[str, Any] = {
        "iss": iss,
        "aud": aud,
        "iat": now,
        "exp": now + 120,
        "jti": os.urandom(12).hex(),
    }
    if sub is not None:
        claims["sub"] = sub
    if sid is not None:
        claims["sid"] = sid
    if events:
        claims["events"] = {LOGOUT_EVENT: {}}
    claims.update(extra)
    header = {"alg": alg, "kid": kid, "typ": "logout+jwt"}
    token: str = jwt.encode(header, claims, key, algorithms=[alg])
    return token


def post_logout_token(app: App, token: str) -> requests.Response:
    """POST a logout token to the app's back-channel URI, as the provider does."""
    return requests.post(
        app.backchannel_logout_uri,
        data={"logout_token": token},
        headers={"Accept": "application/json"},
        allow_redirects=False,
        timeout=10,
    )
