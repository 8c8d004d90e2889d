"""V7: a machine endpoint (token, revocation, introspection, UserInfo, JWKS, discovery) never
answers 5xx because of a browser's cookies: the session cookie means nothing there. A
browser signs in for real (its cookies: the signed session cookie and ``IDP_SESSION``),
then sends what a person or a confused page could send to each endpoint."""

from __future__ import annotations

import pytest

from tests.helpers import Browser
from tests.oidc_rp import sign_in_password
from tests.support.flows import authorize_url


@pytest.fixture
def signed_in(realm, rp) -> Browser:
    browser = realm.browser()
    user = realm.user()
    sign_in_password(browser, authorize_url(realm, rp), user.email, user.password)
    assert "code" in browser.callback_params()
    browser.get(realm.url("account"))  # a page of the provider, as a person would open
    names = {cookie.name for cookie in browser.session.cookies}
    # The SSO session and the signed Flask session cookie (``SESSION_COOKIE_NAME``).
    assert {"IDP_SESSION", "idp_browser"} <= names, names
    return browser


def _machine_endpoints(realm) -> dict[str, str]:
    return {
        "token": realm.endpoints["token"],
        "introspect": realm.endpoints["introspect"],
        "revoke": realm.endpoints["revoke"],
        "userinfo": realm.endpoints["userinfo"],
        "certs": realm.endpoints["certs"],
        "discovery": realm.url(".well-known/openid-configuration"),
    }


def test_v7_opening_the_token_url_in_a_signed_in_browser_is_not_a_server_error(realm, signed_in):
    resp = signed_in.session.get(realm.endpoints["token"], allow_redirects=False, timeout=10)
    assert resp.status_code == 405, resp.text
    assert "Traceback" not in resp.text


@pytest.mark.parametrize("method", ["GET", "POST", "PUT", "DELETE", "PATCH", "HEAD", "OPTIONS"])
def test_v7_every_method_on_machine_endpoints_with_cookies_is_never_5xx(realm, signed_in, method):
    for name, url in _machine_endpoints(realm).items():
        resp = signed_in.session.request(method, url, allow_redirects=False, timeout=10)
        assert resp.status_code < 500, (name, method, resp.status_code, resp.text[:300])
        assert "Traceback" not in resp.text


def test_v7_bad_and_oversized_bodies_with_cookies_are_4xx(realm, signed_in):
    bodies = [
        ({"Content-Type": "application/x-www-form-urlencoded"}, b"grant_type=%ZZ&&=="),
        ({"Content-Type": "application/json"}, b'{"grant_type": '),
        ({"Content-Type": "multipart/form-data; boundary=x"}, b"--x\r\nbroken"),
        ({"Content-Type": "application/x-www-form-urlencoded"}, b"a=" + b"x" * 3_000_000),
    ]
    for name, url in _machine_endpoints(realm).items():
        for headers, body in bodies:
            resp = signed_in.session.post(
                url, data=body, headers=headers, allow_redirects=False, timeout=30
            )
            assert 400 <= resp.status_code < 500, (name, headers, resp.status_code)
            assert "Traceback" not in resp.text
