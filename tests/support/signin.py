"""Signing in through the hosted pages as a relying party's user would (password page, security-code
page, backup-code form, the account page's own sign-in) and reading what the relying party gets
back: the token response and the verified ID-token and access-token claims."""

from __future__ import annotations

import base64
import hashlib
import hmac
from typing import Any

import requests

from tests.helpers import Browser, Page, totp_code
from tests.oidc_rp import RP, sign_in_password

#: The PAPE multi-factor policy URI (OpenID PAPE 1.0), an ``acr_values`` a relying party may send.
PAPE = "http://schemas.openid.net/pape/policies/2007/06/multi-factor"
#: What the password page says to a wrong email or password (and to nothing else).
WRONG_PASSWORD_TEXT = "Invalid email or password."


def make_rp(realm: Any, rp: Any, base: str | None = None) -> RP:
    issuer = f"{base}/realms/{realm.name}" if base else realm.issuer
    return RP(issuer, rp.client_id, rp.client_secret, rp.redirect_uri)


def to_code_page(
    realm: Any, client: RP, user: Any, browser: Browser | None = None, **params: Any
) -> tuple[Browser, Any, Page]:
    """Start an authorization request and pass the password step."""
    browser = browser or realm.browser()
    flow = client.start(**params)
    page = sign_in_password(browser, flow.url, user.email, user.password)
    return browser, flow, page


def is_code_page(page: Page) -> bool:
    return (
        page.status == 200 and "/totp" in page.url and 'autocomplete="one-time-code"' in page.text
    )


def finish_tokens(
    client: RP, flow: Any, browser: Browser
) -> tuple[dict[str, Any], dict[str, Any], dict[str, Any]]:
    """Exchange the code; return the token response, the verified ID-token claims and the
    verified access-token claims (both checked against the realm's JWKS)."""
    token = client.finish(flow, browser)
    claims = client.verify_id_token(token["id_token"], nonce=flow.nonce)
    _, at = client.verify_access_token(token["access_token"])
    return token, claims, at


def sign_in_with_totp(
    realm: Any, client: RP, user: Any, offset: int = 0, browser: Browser | None = None, **kw: Any
) -> tuple[Browser, dict[str, Any], dict[str, Any], dict[str, Any]]:
    browser, flow, page = to_code_page(realm, client, user, browser=browser, **kw)
    assert is_code_page(page), page.text
    browser.submit(page, {"code": totp_code(user.totp_secret, offset)})
    token, claims, at = finish_tokens(client, flow, browser)
    return browser, token, claims, at


def sign_in_with_backup_code(
    realm: Any, client: RP, user: Any, code: str, browser: Browser | None = None, **kw: Any
) -> tuple[Browser, Page, dict[str, Any], dict[str, Any], dict[str, Any]]:
    """Returns the notice page shown after the backup code too."""
    browser, flow, page = to_code_page(realm, client, user, browser=browser, **kw)
    page = browser.get(page.link("Use a backup code instead"))
    notice = browser.submit(page, {"code": code})
    assert notice.status == 200 and "signed in with a backup code" in notice.text, notice.text
    browser.submit(notice)
    token, claims, at = finish_tokens(client, flow, browser)
    return browser, notice, token, claims, at


def account_sign_in(
    realm: Any, browser: Browser, user: Any, code: str | None = None, path: str = "account/"
) -> Page:
    """Open an account page, which sends the browser through the hosted sign-in."""
    page = browser.get(realm.url(path))
    assert page.status == 200 and 'name="password"' in page.text, page.text
    page = browser.submit(page, {"email": user.email, "password": user.password})
    if code is not None:
        assert is_code_page(page), page.text
        page = browser.submit(page, {"code": code})
    return page


def wrong_code(secret: str) -> str:
    """A well-formed 6-digit code that is not the code of any step near now."""
    near = {totp_code(secret, k) for k in range(-3, 4)}
    value = 0
    while f"{value:06d}" in near:
        value += 1
    return f"{value:06d}"


def rfc6238(key_b32: str, at: float, digits: int = 6) -> str:
    """RFC 6238 TOTP (SHA-1, 30 s) written out from the RFC, independent of pyotp."""
    key = base64.b32decode(key_b32 + "=" * (-len(key_b32) % 8))
    counter = int(at // 30)
    mac = hmac.new(key, counter.to_bytes(8, "big"), hashlib.sha1).digest()
    offset = mac[-1] & 0x0F
    value = int.from_bytes(mac[offset : offset + 4], "big") & 0x7FFFFFFF
    return f"{value % 10**digits:0{digits}d}"


def prompt_none_error(client: RP, browser: Browser) -> str | None:
    flow = client.start(prompt="none")
    browser.get(flow.url)
    return browser.callback_params().get("error")


def password_sign_in(client: RP, browser: Browser, user: Any, **params: Any) -> dict[str, Any]:
    """A sign-in with the password alone; returns the verified ID-token claims."""
    flow = client.start(**params)
    sign_in_password(browser, flow.url, user.email, user.password)
    _, claims, _ = finish_tokens(client, flow, browser)
    assert claims["amr"] == ["pwd"] and claims["acr"] == "1", claims
    return claims


def sign_in_via_rp(client: RP, browser: Browser, email: str, password: str) -> tuple[Any, Page]:
    """Start an authorization request and submit the password page; return the flow and
    the last page."""
    flow = client.start()
    return flow, sign_in_password(browser, flow.url, email, password)


def sign_in_for_tokens(
    realm: Any, client: RP, email: str, password: str
) -> tuple[Browser, dict[str, Any]]:
    browser = realm.browser()
    flow, page = sign_in_via_rp(client, browser, email, password)
    assert browser.left_to and browser.left_to.startswith(client.redirect_uri), page.text
    token, _, _ = finish_tokens(client, flow, browser)
    assert token.get("refresh_token")
    return browser, token


def sign_in_refused(client: RP, email: str, password: str, base: str) -> Page:
    """A fresh browser tries to sign in; the sign-in must fail with no code issued."""
    browser = Browser(base)
    _, page = sign_in_via_rp(client, browser, email, password)
    assert page.status == 401, page.text
    assert browser.left_to is None  # nothing sent to the relying party
    assert "code=" not in page.url
    return page


def refresh(client: RP, rp: Any, refresh_token: str) -> requests.Response:
    return requests.post(
        client.meta["token_endpoint"],
        data={"grant_type": "refresh_token", "refresh_token": refresh_token},
        auth=(rp.client_id, rp.client_secret),
        timeout=10,
    )


def assert_refresh_refused(client: RP, rp: Any, refresh_token: str) -> None:
    answer = refresh(client, rp, refresh_token)
    assert answer.status_code == 400, answer.text
    assert answer.json()["error"] == "invalid_grant"


def still_signed_in(realm: Any, browser: Browser) -> bool:
    page = browser.get(realm.url("account/"))
    return "Account settings</h1>" in page.text
