"""Issue 7, hardening: 303 after a POST, Cross-Origin-Opener-Policy, the __Host- cookie."""

from __future__ import annotations

import pytest
import requests

from .conftest import RelyingParty as RP
from .conftest import TestRealm as Realm
from .support.flows import authorize_url


def test_a_redirect_after_a_form_post_is_303_see_other(realm: Realm, rp: RP) -> None:
    user = realm.user()
    browser = realm.browser()
    page = browser.get(authorize_url(realm, rp))
    token = page.forms[-1]["fields"]
    csrf = next(v for n, v, _t in token if n == "csrf_token")
    resp = browser.session.post(
        page.url,
        data={"csrf_token": csrf, "email": user.email, "password": user.password},
        allow_redirects=False,
        timeout=10,
    )
    assert resp.status_code == 303, resp.text
    # A GET that redirects keeps its 302 (authorization responses, page hops).
    hop = browser.session.get(
        realm.base + resp.headers["Location"], allow_redirects=False, timeout=10
    )
    assert hop.status_code == 302


def test_pages_send_cross_origin_opener_policy(realm: Realm, rp: RP) -> None:
    page = realm.browser().get(authorize_url(realm, rp))
    assert page.response.headers["Cross-Origin-Opener-Policy"] == "same-origin"
    account = requests.get(realm.url("account"), timeout=10)
    assert account.headers["Cross-Origin-Opener-Policy"] == "same-origin"


@pytest.mark.settings(base_url="https://idp.example.test")
def test_browser_binding_cookie_has_the_host_prefix_on_https(realm: Realm, rp: RP) -> None:
    web = realm.server.app.test_client()
    resp = web.get(
        authorize_url(realm, rp).replace(realm.base, ""),
        base_url="https://idp.example.test",
    )
    assert resp.status_code == 302
    cookies = resp.headers.getlist("Set-Cookie")
    binding = [c for c in cookies if c.startswith("__Host-idp_browser=")]
    assert binding, cookies
    assert "Secure" in binding[0] and "Path=/;" in binding[0] + ";"
    assert "Domain=" not in binding[0]


def test_browser_binding_cookie_is_plain_on_http(realm: Realm, rp: RP) -> None:
    resp = realm.browser().session.get(authorize_url(realm, rp), allow_redirects=False)
    assert any(c.name == "idp_browser" for c in resp.cookies) or "idp_browser=" in resp.headers.get(
        "Set-Cookie", ""
    )
