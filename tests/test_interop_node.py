"""Interop with a relying-party library of another ecosystem: openid-client (Node.js),
driven through a real HTTP server. It does discovery, PKCE, ID-token validation (signature
against the JWKS, iss, aud, nonce, at_hash...), userinfo, refresh, revocation, introspection
and builds the logout URL, each by its own rules rather than ours."""

from __future__ import annotations

import json
import subprocess
from pathlib import Path

import pytest
import requests

from tests.helpers import npm_ci, totp_code

pytestmark = pytest.mark.interop

NODE_DIR = Path(__file__).resolve().parent.parent / "clients" / "node"


@pytest.fixture(scope="module")
def node_rp() -> Path:
    npm_ci(NODE_DIR, "openid-client")
    return NODE_DIR / "rp.mjs"


def _run(node_rp, realm, rp, sign_in, extra: dict | None = None) -> dict:
    env = {"PATH": "/usr/local/bin:/usr/bin:/bin"}
    if extra:
        env["RP_EXTRA_PARAMS"] = json.dumps(extra)
    proc = subprocess.Popen(
        [
            "node",
            str(node_rp),
            realm.issuer,
            rp.client_id,
            rp.client_secret,
            rp.redirect_uri,
            rp.post_logout,
        ],
        stdin=subprocess.PIPE,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        env=env,
    )
    try:
        first = json.loads(proc.stdout.readline())
        assert "authorizationUrl" in first, first
        callback = sign_in(first["authorizationUrl"])
        proc.stdin.write(json.dumps({"callbackUrl": callback}) + "\n")
        proc.stdin.flush()
        result = json.loads(proc.stdout.readline())
    finally:
        _, stderr = proc.communicate(timeout=30)
    assert "error" not in result, (result, stderr)
    return result


def test_openid_client_node_password_sign_in(node_rp, realm, rp):
    user = realm.user()
    browser = realm.browser()

    def sign_in(url: str) -> str:
        page = browser.get(url)
        browser.submit(page, {"email": user.email, "password": user.password})
        return browser.left_to

    result = _run(node_rp, realm, rp, sign_in)
    claims = result["claims"]
    assert claims["sub"] == user.sub and claims["iss"] == realm.issuer
    assert claims["amr"] == ["pwd"] and claims["acr"] == "1"  # SPEC T1, T3
    assert result["userinfo"]["email"] == user.email
    assert result["introspection"]["active"] is True
    assert result["introspection"]["acr"] == "1"
    # The revoked refresh token's family is gone, so its access token no longer works.
    resp = requests.get(
        realm.endpoints["userinfo"],
        timeout=10,
        headers={"Authorization": f"Bearer {result['refreshedAccessToken']}"},
    )
    assert resp.status_code == 401
    browser.get(result["endSession"])
    assert browser.left_to == f"{rp.post_logout}?state=bye"


def test_openid_client_node_totp_sign_in_with_pape_acr(node_rp, realm, rp):
    user = realm.user(with_totp=True)
    browser = realm.browser()

    def sign_in(url: str) -> str:
        page = browser.get(url)
        page = browser.submit(page, {"email": user.email, "password": user.password})
        assert "Security code" in page.text
        browser.submit(page, {"code": totp_code(user.totp_secret)})
        return browser.left_to

    pape = "http://schemas.openid.net/pape/policies/2007/06/multi-factor"
    result = _run(node_rp, realm, rp, sign_in, {"acr_values": pape})
    assert result["claims"]["amr"] == ["pwd", "otp", "mfa"]  # SPEC T1
    assert result["claims"]["acr"] == pape
