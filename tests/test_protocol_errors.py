"""Negative protocol tests (issue 2): what a relying party or a user sees when a request is
wrong, replayed, tampered with or abusive. Everything goes through the real HTTP server."""

from __future__ import annotations

import base64
import json
import re
import secrets
import sys
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any, TypeVar
from urllib.parse import parse_qs, urlencode, urlsplit

import pytest
import requests
from joserfc.errors import JoseError

from idp.db import get_session
from idp.services.realms import create_realm
from tests import conftest
from tests.helpers import Browser, run_idp
from tests.oidc_rp import RP, sign_in_password
from tests.support.protocol import auth_params as _params
from tests.support.protocol import auth_url as _auth_url
from tests.support.protocol import pkce as _pkce
from tests.support.protocol import redeem as _redeem
from tests.support.protocol import redeem_for as _redeem_for
from tests.support.protocol import redeem_ok as _redeem_ok

pytestmark = pytest.mark.slow

IDP = Path(sys.executable).parent / "idp"
T = TypeVar("T")


# -- helpers --------------------------------------------------------------------------------
def _sign_in_for_code(realm: conftest.TestRealm, browser: Browser, user: Any, params: dict) -> str:
    sign_in_password(browser, _auth_url(realm, params), user.email, user.password)
    callback = browser.callback_params()
    assert callback.get("state") == params["state"], callback
    assert "code" in callback, callback
    return callback["code"]


def _refresh(realm: conftest.TestRealm, rp: Any, refresh_token: str) -> requests.Response:
    return requests.post(
        realm.endpoints["token"],
        data={"grant_type": "refresh_token", "refresh_token": refresh_token},
        auth=(rp.client_id, rp.client_secret),
        timeout=10,
    )


def _userinfo_status(realm: conftest.TestRealm, access_token: str) -> int:
    return requests.get(
        realm.endpoints["userinfo"],
        headers={"Authorization": f"Bearer {access_token}"},
        timeout=10,
    ).status_code


def _introspect(realm: conftest.TestRealm, rp: Any, token: str) -> dict:
    resp = requests.post(
        realm.endpoints["introspect"],
        data={"token": token},
        auth=(rp.client_id, rp.client_secret),
        timeout=10,
    )
    assert resp.status_code == 200, resp.text
    return resp.json()


def _tokens(realm: conftest.TestRealm, rp: Any, user: Any, browser: Browser | None = None) -> dict:
    """A full sign-in with the confidential client ``rp``; the token response."""
    browser = browser or realm.browser()
    verifier, challenge = _pkce()
    code = _sign_in_for_code(
        realm, browser, user, _params(rp.client_id, rp.redirect_uri, challenge)
    )
    return _redeem_ok(realm, rp, code, verifier)


def _assert_error_page(resp: requests.Response) -> None:
    """A page for the user, status 400, and no redirect anywhere."""
    assert resp.status_code == 400, (resp.status_code, resp.headers, resp.text[:500])
    assert "Location" not in resp.headers
    assert resp.headers["Content-Type"].startswith("text/html")


def _assert_oauth_error(resp: requests.Response, status: int, error: str) -> None:
    assert resp.status_code == status, resp.text
    assert resp.json()["error"] == error, resp.text
    assert "access_token" not in resp.json()


def _query(url: str) -> dict[str, str]:
    return {k: v[0] for k, v in parse_qs(urlsplit(url).query).items()}


def _header(jwt_text: str) -> dict:
    head = jwt_text.split(".")[0]
    return json.loads(base64.urlsafe_b64decode(head + "=" * (-len(head) % 4)))


def _error_message(html: str) -> str | None:
    found = re.search(r'<p class="error" role="alert" id="error">(.*?)</p>', html, re.S)
    return found.group(1).strip() if found else None


def _has_sso_session(realm: conftest.TestRealm, rp: Any, browser: Browser) -> bool:
    """Whether the browser is still signed in: prompt=none answers with a code."""
    _, challenge = _pkce()
    browser.get(_auth_url(realm, _params(rp.client_id, rp.redirect_uri, challenge, prompt="none")))
    params = browser.callback_params()
    assert "code" in params or params.get("error") == "login_required", params
    return "code" in params


def _poll(check: Callable[[], T], seconds: float = 8.0) -> T:
    deadline = time.monotonic() + seconds
    while True:
        value = check()
        if value:
            return value
        if time.monotonic() > deadline:
            raise AssertionError(f"not true within {seconds} s: {check}")
        time.sleep(0.2)


def _jwks_kids(realm: conftest.TestRealm) -> list[str]:
    keys = requests.get(realm.endpoints["certs"], timeout=10).json()["keys"]
    return [k["kid"] for k in keys]


def _own_address(browser: Browser) -> None:
    """Give the browser an address of its own (the server trusts one proxy in these tests), so
    password failures here never count against 127.0.0.1 for other tests."""
    address = f"10.{secrets.randbelow(250)}.{secrets.randbelow(250)}.{secrets.randbelow(250)}"
    browser.session.headers["X-Forwarded-For"] = address


# -- redirect URI and client checks ----------------------------------------------------------
def test_unregistered_redirect_uri_gets_error_page_not_redirect(realm, rp):
    _, challenge = _pkce()
    url = _auth_url(realm, _params(rp.client_id, "https://evil.example/cb", challenge))
    resp = requests.get(url, allow_redirects=False, timeout=10)
    _assert_error_page(resp)
    assert "evil.example" not in resp.headers.get("Location", "")


def test_unknown_client_id_gets_error_page_not_redirect(realm, rp):
    _, challenge = _pkce()
    url = _auth_url(realm, _params("no-such-client", rp.redirect_uri, challenge))
    resp = requests.get(url, allow_redirects=False, timeout=10)
    _assert_error_page(resp)


@pytest.mark.parametrize(
    "variant",
    [
        "http://127.0.0.1:9/cb/",
        "http://127.0.0.1:9/cb?next=x",
        "http://127.0.0.1:9/cb?",
        "http://127.0.0.1:9/CB",
    ],
)
def test_redirect_uri_must_match_exactly_not_by_prefix(realm, rp, variant):
    user = realm.user()
    browser = realm.browser()
    # Even a signed-in browser (which would otherwise get a code at once) gets a page.
    _tokens(realm, rp, user, browser)
    _, challenge = _pkce()
    resp = browser.session.get(
        _auth_url(realm, _params(rp.client_id, variant, challenge)),
        allow_redirects=False,
        timeout=10,
    )
    _assert_error_page(resp)


# -- PKCE ------------------------------------------------------------------------------------
def test_public_client_without_pkce_gets_invalid_request(realm):
    client_id, _ = realm.client(public=True)
    params = _params(client_id, "http://127.0.0.1:9/cb", None)
    browser = realm.browser()
    browser.get(_auth_url(realm, params))
    callback = browser.callback_params()
    assert browser.left_to.startswith("http://127.0.0.1:9/cb?")
    assert callback["error"] == "invalid_request"
    assert callback["state"] == params["state"]
    assert "code" not in callback


@pytest.mark.parametrize("public", [True, False])
def test_plain_code_challenge_method_is_refused(realm, public):
    client_id, _ = realm.client(public=public)
    verifier = secrets.token_urlsafe(48)
    params = _params(
        client_id,
        "http://127.0.0.1:9/cb",
        None,
        code_challenge=verifier,
        code_challenge_method="plain",
    )
    browser = realm.browser()
    browser.get(_auth_url(realm, params))
    callback = browser.callback_params()
    assert callback["error"] == "invalid_request"
    assert "code" not in callback


def test_wrong_code_verifier_gets_invalid_grant(realm):
    user = realm.user()
    client_id, _ = realm.client(public=True)
    _, challenge = _pkce()
    code = _sign_in_for_code(
        realm, realm.browser(), user, _params(client_id, "http://127.0.0.1:9/cb", challenge)
    )
    other_verifier, _ = _pkce()
    resp = _redeem(
        realm,
        code,
        client_id=client_id,
        secret=None,
        redirect_uri="http://127.0.0.1:9/cb",
        verifier=other_verifier,
    )
    _assert_oauth_error(resp, 400, "invalid_grant")


def test_public_client_without_code_verifier_is_refused(realm):
    user = realm.user()
    client_id, _ = realm.client(public=True)
    _, challenge = _pkce()
    code = _sign_in_for_code(
        realm, realm.browser(), user, _params(client_id, "http://127.0.0.1:9/cb", challenge)
    )
    resp = _redeem(
        realm, code, client_id=client_id, secret=None, redirect_uri="http://127.0.0.1:9/cb"
    )
    assert resp.status_code == 400, resp.text
    assert resp.json()["error"] in ("invalid_request", "invalid_grant")
    assert "access_token" not in resp.json()


def test_code_verifier_without_challenge_is_refused(realm, rp):
    user = realm.user()
    code = _sign_in_for_code(
        realm, realm.browser(), user, _params(rp.client_id, rp.redirect_uri, None)
    )
    verifier, _ = _pkce()
    resp = _redeem_for(realm, rp, code, verifier)
    assert resp.status_code == 400, resp.text
    assert resp.json()["error"] in ("invalid_request", "invalid_grant")
    assert "access_token" not in resp.json()


# -- replay ----------------------------------------------------------------------------------
def test_code_reuse_fails_and_revokes_tokens_from_first_use(realm, rp):
    user = realm.user()
    verifier, challenge = _pkce()
    code = _sign_in_for_code(
        realm, realm.browser(), user, _params(rp.client_id, rp.redirect_uri, challenge)
    )
    kw = {
        "client_id": rp.client_id,
        "secret": rp.client_secret,
        "redirect_uri": rp.redirect_uri,
        "verifier": verifier,
    }
    first = _redeem(realm, code, **kw)
    assert first.status_code == 200, first.text
    tokens = first.json()
    assert _userinfo_status(realm, tokens["access_token"]) == 200

    second = _redeem(realm, code, **kw)
    _assert_oauth_error(second, 400, "invalid_grant")

    assert _userinfo_status(realm, tokens["access_token"]) == 401
    assert _introspect(realm, rp, tokens["access_token"]) == {"active": False}
    assert _introspect(realm, rp, tokens["refresh_token"]) == {"active": False}
    _assert_oauth_error(_refresh(realm, rp, tokens["refresh_token"]), 400, "invalid_grant")


def test_refresh_token_reuse_revokes_the_whole_family(realm, rp):
    user = realm.user()
    first = _tokens(realm, rp, user)
    rotated = _refresh(realm, rp, first["refresh_token"])
    assert rotated.status_code == 200, rotated.text
    newest = rotated.json()
    assert newest["refresh_token"] != first["refresh_token"]
    assert _userinfo_status(realm, newest["access_token"]) == 200

    replay = _refresh(realm, rp, first["refresh_token"])
    _assert_oauth_error(replay, 400, "invalid_grant")

    # The thief may hold the newest pair: all of it is dead now.
    _assert_oauth_error(_refresh(realm, rp, newest["refresh_token"]), 400, "invalid_grant")
    assert _userinfo_status(realm, newest["access_token"]) == 401
    assert _userinfo_status(realm, first["access_token"]) == 401
    assert _introspect(realm, rp, newest["access_token"]) == {"active": False}
    assert _introspect(realm, rp, newest["refresh_token"]) == {"active": False}


# -- client authentication -------------------------------------------------------------------
def test_bad_client_secret_gets_invalid_client(realm, rp):
    resp = requests.post(
        realm.endpoints["token"],
        data={"grant_type": "client_credentials"},
        auth=(rp.client_id, rp.client_secret + "x"),
        timeout=10,
    )
    _assert_oauth_error(resp, 401, "invalid_client")

    user = realm.user()
    verifier, challenge = _pkce()
    code = _sign_in_for_code(
        realm, realm.browser(), user, _params(rp.client_id, rp.redirect_uri, challenge)
    )
    resp = _redeem(
        realm,
        code,
        client_id=rp.client_id,
        secret="not-the-secret",
        redirect_uri=rp.redirect_uri,
        verifier=verifier,
    )
    _assert_oauth_error(resp, 401, "invalid_client")


def test_other_client_cannot_redeem_a_code(realm, rp):
    user = realm.user()
    other_id, other_secret = realm.client(redirect_uri=rp.redirect_uri)
    verifier, challenge = _pkce()
    code = _sign_in_for_code(
        realm, realm.browser(), user, _params(rp.client_id, rp.redirect_uri, challenge)
    )
    resp = _redeem(
        realm,
        code,
        client_id=other_id,
        secret=other_secret,
        redirect_uri=rp.redirect_uri,
        verifier=verifier,
    )
    _assert_oauth_error(resp, 400, "invalid_grant")


def test_code_redeemed_with_another_redirect_uri_gets_invalid_grant(realm):
    user = realm.user()
    client_id, secret = realm.client(redirect_uri="http://127.0.0.1:9/cb")
    with realm.server.app.app_context():
        from idp.models import Client

        db = get_session()
        row = db.query(Client).filter_by(client_id=client_id).one()
        row.redirect_uris = ["http://127.0.0.1:9/cb", "http://127.0.0.1:9/other"]
        db.commit()
    verifier, challenge = _pkce()
    code = _sign_in_for_code(
        realm, realm.browser(), user, _params(client_id, "http://127.0.0.1:9/cb", challenge)
    )
    resp = _redeem(
        realm,
        code,
        client_id=client_id,
        secret=secret,
        redirect_uri="http://127.0.0.1:9/other",
        verifier=verifier,
    )
    _assert_oauth_error(resp, 400, "invalid_grant")


@pytest.mark.settings(code_ttl=0)
def test_expired_code_gets_invalid_grant(realm, rp):
    user = realm.user()
    verifier, challenge = _pkce()
    code = _sign_in_for_code(
        realm, realm.browser(), user, _params(rp.client_id, rp.redirect_uri, challenge)
    )
    resp = _redeem_for(realm, rp, code, verifier)
    _assert_oauth_error(resp, 400, "invalid_grant")


# -- login policy ----------------------------------------------------------------------------
def test_prompt_none_without_session_gets_login_required_with_state(realm, rp):
    _, challenge = _pkce()
    params = _params(rp.client_id, rp.redirect_uri, challenge, prompt="none", state="st-42")
    browser = realm.browser()
    page = browser.get(_auth_url(realm, params))
    assert browser.left_to, page.text
    assert browser.left_to.startswith(rp.redirect_uri + "?")
    callback = browser.callback_params()
    assert callback["error"] == "login_required"
    assert callback["state"] == "st-42"
    assert "code" not in callback


@pytest.mark.parametrize("extra", [{"prompt": "login"}, {"max_age": "0"}])
def test_reauthentication_request_shows_the_password_page_again(realm, rp, extra):
    user = realm.user()
    client = RP(realm.issuer, rp.client_id, rp.client_secret, rp.redirect_uri)
    browser = realm.browser()
    flow = client.start()
    sign_in_password(browser, flow.url, user.email, user.password)
    first = client.verify_id_token(client.finish(flow, browser)["id_token"], nonce=flow.nonce)
    assert _has_sso_session(realm, rp, browser)

    flow2 = client.start(**extra)
    page = browser.get(flow2.url)
    assert browser.left_to is None, browser.left_to  # no code without the password
    assert page.status == 200
    assert any(name == "password" for form in page.forms for name, _, _ in form["fields"])
    page = browser.submit(page, {"email": user.email, "password": user.password})
    assert browser.left_to, page.text
    second = client.verify_id_token(client.finish(flow2, browser)["id_token"], nonce=flow2.nonce)
    assert second["sub"] == user.sub
    assert second["auth_time"] >= first["auth_time"]


# -- logout ----------------------------------------------------------------------------------
def _tamper_signature(token: str) -> str:
    head, payload, signature = token.split(".")
    i = len(signature) // 2
    flipped = "B" if signature[i] != "B" else "C"
    return ".".join([head, payload, signature[:i] + flipped + signature[i + 1 :]])


def test_logout_with_tampered_id_token_hint_gets_error_page(realm, rp):
    user = realm.user()
    browser = realm.browser()
    tokens = _tokens(realm, rp, user, browser)
    query = urlencode(
        {
            "id_token_hint": _tamper_signature(tokens["id_token"]),
            "post_logout_redirect_uri": rp.post_logout,
            "state": "s1",
        }
    )
    resp = browser.session.get(
        f"{realm.endpoints['logout']}?{query}", allow_redirects=False, timeout=10
    )
    _assert_error_page(resp)
    assert _has_sso_session(realm, rp, browser)  # nothing happened


def test_logout_with_unregistered_post_logout_uri_does_not_redirect_there(realm, rp):
    user = realm.user()
    browser = realm.browser()
    tokens = _tokens(realm, rp, user, browser)
    query = urlencode(
        {
            "id_token_hint": tokens["id_token"],
            "post_logout_redirect_uri": "https://evil.example/bye",
            "state": "s1",
        }
    )
    resp = browser.session.get(
        f"{realm.endpoints['logout']}?{query}", allow_redirects=False, timeout=10
    )
    assert "evil.example" not in resp.headers.get("Location", ""), resp.headers
    assert not resp.is_redirect or resp.headers["Location"].startswith(realm.base)


def test_logout_without_hint_needs_confirmation_with_csrf_token(realm, rp):
    user = realm.user()
    browser = realm.browser()
    _tokens(realm, rp, user, browser)
    query = urlencode(
        {"client_id": rp.client_id, "post_logout_redirect_uri": rp.post_logout, "state": "s2"}
    )
    page = browser.get(f"{realm.endpoints['logout']}?{query}")
    assert page.status == 200 and browser.left_to is None
    assert page.forms and page.forms[-1]["method"] == "post"

    fields = {n: v for n, v, t in page.forms[-1]["fields"] if n and n != "csrf_token"}
    forged = browser.session.post(
        realm.endpoints["logout"], data=fields, allow_redirects=False, timeout=10
    )
    _assert_error_page(forged)
    assert _has_sso_session(realm, rp, browser)

    page = browser.get(f"{realm.endpoints['logout']}?{query}")
    browser.submit(page)
    assert browser.left_to == f"{rp.post_logout}?state=s2"
    assert not _has_sso_session(realm, rp, browser)


# -- sign-in form ----------------------------------------------------------------------------
def test_sign_in_post_without_csrf_token_is_refused(realm, rp):
    user = realm.user()
    browser = realm.browser()
    _, challenge = _pkce()
    page = browser.get(_auth_url(realm, _params(rp.client_id, rp.redirect_uri, challenge)))
    form = page.forms[-1]
    action = requests.compat.urljoin(page.url, form["action"])
    resp = browser.session.post(
        action,
        data={"email": user.email, "password": user.password},
        allow_redirects=False,
        timeout=10,
    )
    _assert_error_page(resp)
    assert "IDP_SESSION" not in resp.headers.get("Set-Cookie", "")
    assert "IDP_SESSION" not in browser.session.cookies
    assert not _has_sso_session(realm, rp, browser)


@pytest.mark.parametrize("name", ["client_id", "redirect_uri", "response_type", "state"])
def test_duplicated_authorization_parameter_is_refused(realm, rp, name):
    user = realm.user()
    browser = realm.browser()
    _tokens(realm, rp, user, browser)  # signed in: a valid request would get a code at once
    other_id, _ = realm.client(redirect_uri=rp.redirect_uri)
    _, challenge = _pkce()
    params = list(_params(rp.client_id, rp.redirect_uri, challenge).items())
    second = {
        "client_id": other_id,
        "redirect_uri": "https://evil.example/cb",
        "response_type": "code",
        "state": "other",
    }[name]
    params.append((name, second))
    resp = browser.session.get(_auth_url(realm, params), allow_redirects=False, timeout=10)
    _assert_error_page(resp)
    assert "code=" not in resp.headers.get("Location", "")


def test_sign_in_page_has_security_headers_and_safe_session_cookie(realm, rp):
    user = realm.user()
    browser = realm.browser()
    _, challenge = _pkce()
    page = browser.get(_auth_url(realm, _params(rp.client_id, rp.redirect_uri, challenge)))
    assert page.status == 200
    headers = page.response.headers
    csp = headers["Content-Security-Policy"]
    assert "frame-ancestors 'none'" in csp
    assert "unsafe-inline" not in csp
    assert headers["X-Content-Type-Options"] == "nosniff"
    assert headers["Referrer-Policy"]
    assert "no-store" in headers["Cache-Control"]
    # Plain http (local development) gets no HSTS: it would pin a name to https.
    assert "Strict-Transport-Security" not in headers

    fields = [(n, v) for n, v, t in page.forms[-1]["fields"] if n and t == "hidden"]
    fields += [("email", user.email), ("password", user.password)]
    action = requests.compat.urljoin(page.url, page.forms[-1]["action"])
    resp = browser.session.post(action, data=fields, allow_redirects=False, timeout=10)
    assert resp.is_redirect, resp.text
    cookies = [c for c in resp.raw.headers.getlist("Set-Cookie") if c.startswith("IDP_SESSION=")]
    assert len(cookies) == 1, resp.raw.headers.getlist("Set-Cookie")
    attributes = [a.strip().lower() for a in cookies[0].split(";")[1:]]
    assert "httponly" in attributes
    assert "samesite=lax" in attributes


# -- passwords -------------------------------------------------------------------------------
@pytest.mark.settings(proxy_count=1)
def test_unknown_email_and_wrong_password_get_the_same_answer(realm, rp):
    user = realm.user()
    answers = []
    for email, password in ((f"nobody-{user.email}", user.password), (user.email, "wrong-pw")):
        browser = realm.browser()
        _own_address(browser)
        _, challenge = _pkce()
        page = browser.get(_auth_url(realm, _params(rp.client_id, rp.redirect_uri, challenge)))
        page = browser.submit(page, {"email": email, "password": password})
        assert browser.left_to is None
        answers.append((page.status, _error_message(page.text)))
    assert answers[0] == answers[1]
    assert answers[0][0] == 401 and answers[0][1]


@pytest.mark.settings(proxy_count=1)
def test_sixth_password_attempt_is_throttled_even_with_the_right_password(realm, rp):
    user = realm.user()
    browser = realm.browser()
    _own_address(browser)
    _, challenge = _pkce()
    page = browser.get(_auth_url(realm, _params(rp.client_id, rp.redirect_uri, challenge)))
    for attempt in range(5):
        page = browser.submit(page, {"email": user.email, "password": f"wrong-{attempt}"})
        assert page.status == 401, (attempt, page.text)
    page = browser.submit(page, {"email": user.email, "password": user.password})
    assert page.status == 429, page.text
    assert int(page.response.headers["Retry-After"]) > 0
    assert browser.left_to is None
    assert "IDP_SESSION" not in browser.session.cookies


# -- keys and realms -------------------------------------------------------------------------
def test_signing_key_rotation_keeps_old_tokens_verifiable_until_retired(realm, rp, server):
    user = realm.user()
    client = RP(realm.issuer, rp.client_id, rp.client_secret, rp.redirect_uri)
    browser = realm.browser()
    flow = client.start()
    sign_in_password(browser, flow.url, user.email, user.password)
    old = client.finish(flow, browser)["id_token"]
    old_kid = _header(old)["kid"]
    assert _jwks_kids(realm) == [old_kid]

    rotated = run_idp(server, "keys", "rotate", "--realm", realm.name, "--json")
    assert rotated.returncode == 0, rotated.stderr
    new_kid = json.loads(rotated.stdout)["kid"]
    assert new_kid != old_kid
    _poll(lambda: set(_jwks_kids(realm)) == {old_kid, new_kid})

    flow2 = client.start()
    browser.get(flow2.url)  # SSO session: straight back with a code
    fresh = client.finish(flow2, browser)["id_token"]
    assert _header(fresh)["kid"] == new_kid
    assert client.verify_id_token(fresh, nonce=flow2.nonce)["sub"] == user.sub
    assert client.verify_id_token(old, nonce=flow.nonce)["sub"] == user.sub

    retired = run_idp(server, "keys", "retire", "--realm", realm.name)
    assert retired.returncode == 0, retired.stderr
    _poll(lambda: _jwks_kids(realm) == [new_kid])
    with pytest.raises((JoseError, ValueError)):
        client.verify_id_token(old, nonce=flow.nonce)


def test_access_token_of_one_realm_is_refused_by_another_realm(realm, rp, server):
    name = f"r{secrets.token_hex(5)}"
    with server.app.app_context():
        db = get_session()
        row = create_realm(db, name, f"Test {name}")
        db.commit()
        other = conftest.TestRealm(name=name, id=row.id, base=server.url, server=server)
    other_id, other_secret = other.client()

    user = realm.user()
    tokens = _tokens(realm, rp, user)
    assert _userinfo_status(realm, tokens["access_token"]) == 200
    assert _userinfo_status(other, tokens["access_token"]) == 401
    introspected = requests.post(
        other.endpoints["introspect"],
        data={"token": tokens["access_token"]},
        auth=(other_id, other_secret),
        timeout=10,
    )
    assert introspected.status_code == 200
    assert introspected.json() == {"active": False}
