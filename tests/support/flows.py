"""Sign-in steps several test modules share (no test imports another test module for them)."""

from __future__ import annotations

from typing import Any
from urllib.parse import urlencode

from tests.helpers import Browser

#: PKCE S256 challenge of RFC 7636's example verifier.
CHALLENGE = "E9Melhoa2OwvFrEMTJguCHaoeK1t8URWbuGJSstw-cM"


def authorize_url(realm: Any, rp: Any, **extra: str) -> str:
    """An authorization request of the registered client ``rp`` (code flow with PKCE)."""
    query = {
        "client_id": rp.client_id,
        "redirect_uri": rp.redirect_uri,
        "response_type": "code",
        "scope": "openid",
        "state": "s",
        "nonce": "n",
        "code_challenge": CHALLENGE,
        "code_challenge_method": "S256",
        **extra,
    }
    endpoint: str = realm.endpoints["auth"]
    return endpoint + "?" + urlencode(query)


def password_until_resume(realm: Any, browser: Browser, client: Any, user: Any) -> tuple[Any, str]:
    """Start ``client``'s sign-in in ``browser`` and post the password; stop at the redirect to
    the resume endpoint. Returns the client's flow and the resume URL."""
    flow = client.start()
    page = browser.get(flow.url)
    resp = browser.session.post(
        page.url,
        data={
            "csrf_token": next(v for n, v, _ in page.forms[-1]["fields"] if n == "csrf_token"),
            "email": user.email,
            "password": user.password,
        },
        allow_redirects=False,
        timeout=30,
    )
    assert resp.status_code == 303 and "/auth/resume/" in resp.headers["Location"], resp.text
    return flow, realm.base + resp.headers["Location"]
