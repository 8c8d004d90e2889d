"""Raw protocol requests without a relying-party library (issue 2's negative tests and the response
modes): PKCE values, authorization URLs and parameters, redeeming a code at the token endpoint."""

from __future__ import annotations

import base64
import hashlib
import secrets
from typing import Any
from urllib.parse import urlencode

import requests

from tests import conftest


def pkce() -> tuple[str, str]:
    verifier = secrets.token_urlsafe(48)
    challenge = (
        base64.urlsafe_b64encode(hashlib.sha256(verifier.encode()).digest()).rstrip(b"=").decode()
    )
    return verifier, challenge


def auth_url(realm: conftest.TestRealm, params: dict[str, str] | list[tuple[str, str]]) -> str:
    return f"{realm.endpoints['auth']}?{urlencode(params)}"


def auth_params(
    client_id: str, redirect_uri: str, challenge: str | None, **extra: str
) -> dict[str, str]:
    params = {
        "response_type": "code",
        "client_id": client_id,
        "redirect_uri": redirect_uri,
        "scope": "openid email offline_access",
        "state": secrets.token_urlsafe(8),
        "nonce": secrets.token_urlsafe(8),
    }
    if challenge is not None:
        params |= {"code_challenge": challenge, "code_challenge_method": "S256"}
    params.update(extra)
    return params


def redeem(
    realm: conftest.TestRealm,
    code: str,
    *,
    client_id: str,
    secret: str | None,
    redirect_uri: str,
    verifier: str | None = None,
) -> requests.Response:
    data = {"grant_type": "authorization_code", "code": code, "redirect_uri": redirect_uri}
    if verifier is not None:
        data["code_verifier"] = verifier
    auth = (client_id, secret) if secret else None
    if secret is None:
        data["client_id"] = client_id
    return requests.post(realm.endpoints["token"], data=data, auth=auth, timeout=10)


def redeem_for(
    realm: conftest.TestRealm, rp: Any, code: str, verifier: str | None
) -> requests.Response:
    """Redeem a code as the confidential client ``rp`` with its own secret and redirect URI."""
    return redeem(
        realm,
        code,
        client_id=rp.client_id,
        secret=rp.client_secret,
        redirect_uri=rp.redirect_uri,
        verifier=verifier,
    )


def redeem_ok(realm: conftest.TestRealm, rp: Any, code: str, verifier: str) -> dict[str, Any]:
    """Redeem a code for the confidential client ``rp``; the token response (must be 200)."""
    resp = redeem_for(realm, rp, code, verifier)
    assert resp.status_code == 200, resp.text
    answer: dict[str, Any] = resp.json()
    return answer
