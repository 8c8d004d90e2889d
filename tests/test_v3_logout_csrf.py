"""SPEC V3: RP-initiated logout with an ``id_token_hint`` whose ``sub`` or ``sid`` is not the
current session's asks the user to confirm; a hint of the current session logs out at once.

The attack: any page (an attacker's site, an image tag) sends the victim's browser to the
end-session endpoint with a valid ID token it holds: the attacker's own, or one of another
user's. Before the fix the victim's session ended without a question."""

from __future__ import annotations

import base64
import hashlib
import secrets
from typing import Any
from urllib.parse import urlencode

import pytest

from tests import conftest
from tests.helpers import Browser
from tests.oidc_rp import RP, sign_in_password

pytestmark = pytest.mark.slow


def _id_token(realm: conftest.TestRealm, rp: Any, user: Any, browser: Browser) -> str:
    """A full sign-in of ``user`` in ``browser`` with the relying party ``rp``: its ID token."""
    client = RP(realm.issuer, rp.client_id, rp.client_secret, rp.redirect_uri)
    flow = client.start()
    sign_in_password(browser, flow.url, user.email, user.password)
    return client.finish(flow, browser)["id_token"]


def _signed_in(realm: conftest.TestRealm, rp: Any, browser: Browser) -> bool:
    """Whether the browser still has its SSO session: prompt=none answers with a code."""
    verifier = secrets.token_urlsafe(48)
    challenge = (
        base64.urlsafe_b64encode(hashlib.sha256(verifier.encode()).digest()).rstrip(b"=").decode()
    )
    params = {
        "response_type": "code",
        "client_id": rp.client_id,
        "redirect_uri": rp.redirect_uri,
        "scope": "openid",
        "state": "probe",
        "prompt": "none",
        "code_challenge": challenge,
        "code_challenge_method": "S256",
    }
    browser.get(f"{realm.endpoints['auth']}?{urlencode(params)}")
    answer = browser.callback_params()
    assert "code" in answer or answer.get("error") == "login_required", answer
    return "code" in answer


def _logout_url(realm: conftest.TestRealm, **params: str) -> str:
    return f"{realm.endpoints['logout']}?{urlencode(params)}"


def _assert_confirmation_page(browser: Browser, page: Any) -> None:
    assert page.status == 200, page.text[:500]
    assert browser.left_to is None  # no redirect anywhere
    assert page.forms and page.forms[-1]["method"] == "post", page.text[:500]
    names = {name for name, _, _ in page.forms[-1]["fields"]}
    assert "csrf_token" in names


def test_v3_attackers_own_id_token_as_hint_asks_before_signing_out(realm, rp):
    victim, attacker = realm.user(), realm.user()
    attacker_token = _id_token(realm, rp, attacker, realm.browser())
    browser = realm.browser()
    _id_token(realm, rp, victim, browser)

    page = browser.get(
        _logout_url(
            realm,
            id_token_hint=attacker_token,
            post_logout_redirect_uri=rp.post_logout,
            state="csrf",
        )
    )
    _assert_confirmation_page(browser, page)
    assert _signed_in(realm, rp, browser)


def test_v3_another_users_id_token_without_redirect_asks_too(realm, rp):
    victim, other = realm.user(), realm.user()
    other_token = _id_token(realm, rp, other, realm.browser())
    browser = realm.browser()
    _id_token(realm, rp, victim, browser)

    page = browser.get(_logout_url(realm, id_token_hint=other_token))
    _assert_confirmation_page(browser, page)
    assert _signed_in(realm, rp, browser)
    # The account page still knows the victim.
    account = browser.get(realm.url("account/"))
    assert account.status == 200 and victim.email in account.text


def test_v3_same_users_token_of_an_earlier_session_asks(realm, rp):
    """Same ``sub``, other ``sid``: an ID token of the user's earlier session (e.g. one an
    attacker got from a shared computer) does not end today's session silently."""
    user = realm.user()
    old_browser = realm.browser()
    old_token = _id_token(realm, rp, user, old_browser)
    browser = realm.browser()
    _id_token(realm, rp, user, browser)

    page = browser.get(_logout_url(realm, id_token_hint=old_token))
    _assert_confirmation_page(browser, page)
    assert _signed_in(realm, rp, browser)


def test_v3_confirming_a_foreign_hint_signs_out_and_redirects_only_to_registered_uri(realm, rp):
    victim, attacker = realm.user(), realm.user()
    attacker_token = _id_token(realm, rp, attacker, realm.browser())
    browser = realm.browser()
    _id_token(realm, rp, victim, browser)

    page = browser.get(
        _logout_url(
            realm,
            id_token_hint=attacker_token,
            post_logout_redirect_uri=rp.post_logout,
            state="s3",
        )
    )
    _assert_confirmation_page(browser, page)
    # The form without its CSRF token (what a cross-site POST would send) is refused.
    fields = {n: v for n, v, _ in page.forms[-1]["fields"] if n and n != "csrf_token"}
    forged = browser.session.post(
        realm.endpoints["logout"], data=fields, allow_redirects=False, timeout=10
    )
    assert forged.status_code == 400 and "Location" not in forged.headers
    assert _signed_in(realm, rp, browser)

    page = browser.get(
        _logout_url(
            realm,
            id_token_hint=attacker_token,
            post_logout_redirect_uri=rp.post_logout,
            state="s3",
        )
    )
    browser.submit(page)
    assert browser.left_to == f"{rp.post_logout}?state=s3"
    assert not _signed_in(realm, rp, browser)


def test_v3_foreign_hint_with_unregistered_redirect_never_redirects_there(realm, rp):
    victim, attacker = realm.user(), realm.user()
    attacker_token = _id_token(realm, rp, attacker, realm.browser())
    browser = realm.browser()
    _id_token(realm, rp, victim, browser)

    url = _logout_url(
        realm,
        id_token_hint=attacker_token,
        post_logout_redirect_uri="https://evil.example/bye",
        state="s4",
    )
    first = browser.session.get(url, allow_redirects=False, timeout=10)
    assert "evil.example" not in first.headers.get("Location", "")
    assert _signed_in(realm, rp, browser)
    page = browser.get(url)
    _assert_confirmation_page(browser, page)
    done = browser.submit(page)
    assert done.status == 200 and browser.left_to is None, browser.left_to
    assert not _signed_in(realm, rp, browser)


def test_v3_hint_of_the_current_session_signs_out_at_once(realm, rp):
    user = realm.user()
    browser = realm.browser()
    token = _id_token(realm, rp, user, browser)

    browser.get(
        _logout_url(
            realm, id_token_hint=token, post_logout_redirect_uri=rp.post_logout, state="bye"
        )
    )
    assert browser.left_to == f"{rp.post_logout}?state=bye"
    assert not _signed_in(realm, rp, browser)


def test_v3_hint_of_the_current_session_with_unregistered_redirect_does_not_go_there(realm, rp):
    user = realm.user()
    browser = realm.browser()
    token = _id_token(realm, rp, user, browser)

    resp = browser.session.get(
        _logout_url(
            realm,
            id_token_hint=token,
            post_logout_redirect_uri="https://evil.example/bye",
            state="bye",
        ),
        allow_redirects=False,
        timeout=10,
    )
    assert "evil.example" not in resp.headers.get("Location", "")
    assert not resp.is_redirect or resp.headers["Location"].startswith(realm.base)


def test_v3_hint_without_a_session_returns_to_the_app_at_once(realm, rp):
    """The session already ended (signed out elsewhere, expired): nothing to end and nothing
    to protect, so the app's own valid hint returns to its registered URI without a page."""
    user = realm.user()
    token = _id_token(realm, rp, user, realm.browser())
    fresh = realm.browser()  # no session cookie
    fresh.get(
        _logout_url(
            realm, id_token_hint=token, post_logout_redirect_uri=rp.post_logout, state="gone"
        )
    )
    assert fresh.left_to == f"{rp.post_logout}?state=gone"


# -- an access token is not an ID token (outside review of the V3 fix, finding F5) ----------------
def test_v3_access_token_as_hint_is_refused_and_signs_nobody_out(realm, rp):
    """A resource server holds the user's access token (a JWT the realm signed, with the
    user's ``sub`` and ``sid``). Sent as ``id_token_hint``, it signed the user out silently;
    it is refused like any hint that is not an ID token of this server, without a redirect."""
    user = realm.user()
    browser = realm.browser()
    client = RP(realm.issuer, rp.client_id, rp.client_secret, rp.redirect_uri)
    flow = client.start()
    sign_in_password(browser, flow.url, user.email, user.password)
    access_token = client.finish(flow, browser)["access_token"]

    for params in (
        {"id_token_hint": access_token},
        {"id_token_hint": access_token, "post_logout_redirect_uri": rp.post_logout},
        {"id_token_hint": access_token, "client_id": rp.client_id},
    ):
        page = browser.get(_logout_url(realm, **params))
        assert page.status == 400 and browser.left_to is None, page.text[:500]
        assert "is not a valid ID token of this server" in page.text, page.text
        assert _signed_in(realm, rp, browser)
