"""Interop with off-the-shelf relying-party software: Apache httpd with mod_auth_openidc (Debian's
``libapache2-mod-auth-openidc``), the way an operator puts two-factor sign-in in front of an
app that has none. Apache does discovery, PKCE, the code exchange and ID-token validation
(signature against the JWKS, iss, aud, nonce, exp) by its own rules, then passes the claims to
a CGI script that prints them; ``Require claim acr:2`` lets only two-factor sign-ins through.
"""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from tests.helpers import totp_code
from tests.support.apache import (
    Apache,
    back_to_apache,
    open_protected,
    printed_claims,
    start_apache,
)

pytestmark = pytest.mark.interop


@pytest.fixture(params=["query", "form_post"])
def apache(request, realm) -> Iterator[Apache]:
    running = start_apache(realm, response_mode=request.param)
    try:
        yield running
    finally:
        running.stop()


def test_apache_mod_auth_openidc_signs_a_user_in_with_password(realm, apache):
    user = realm.user()
    browser = realm.browser()
    page = open_protected(browser, apache, "/app/whoami")
    page = browser.submit(page, {"email": user.email, "password": user.password})
    resp = back_to_apache(browser, apache, page)
    assert resp.status_code == 200, (resp.text, apache.log())
    seen = printed_claims(resp.text)
    assert seen["REMOTE_USER"] == user.email
    assert seen["iss"] == realm.issuer and seen["sub"] == user.sub
    assert seen["amr"] == "pwd" and seen["acr"] == "1"
    # Apache's own rule keeps a password-only sign-in out of the two-factor area (T1: acr 1).
    refused = browser.session.get(f"{apache.url}/mfa/whoami", allow_redirects=False)
    assert refused.status_code in (401, 403), refused.text
    assert user.email not in refused.text


def test_apache_lets_a_two_factor_sign_in_into_the_acr_2_area(realm, apache):
    """SPEC T1 as an RP enforces it: after password and security code the ID token says acr
    "2" and amr pwd+otp+mfa, and ``Require claim acr:2`` lets the user in."""
    user = realm.user(with_totp=True)
    browser = realm.browser()
    page = open_protected(browser, apache, "/mfa/whoami")
    page = browser.submit(page, {"email": user.email, "password": user.password})
    assert page.status == 200 and "Security code" in page.text, page.text
    page = browser.submit(page, {"code": totp_code(user.totp_secret)})
    resp = back_to_apache(browser, apache, page)
    assert resp.status_code == 200, (resp.text, apache.log())
    seen = printed_claims(resp.text)
    assert seen["REMOTE_USER"] == user.email
    assert seen["acr"] == "2"
    assert seen["amr"].split(",") == ["pwd", "otp", "mfa"]
