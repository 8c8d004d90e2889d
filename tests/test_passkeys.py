"""Signing in with a passkey alone (issue 10, "Sign in with a passkey" on the sign-in page):
a discoverable credential with user verification signs the user in without the password and
counts as two factors, ``amr ["hwk", "user", "mfa"]``, ``acr "2"``. Over real HTTP with the
software authenticator; refusals: no user verification, a user handle that is not the key's
owner, a key of another realm, a disabled account, a replayed response."""

from __future__ import annotations

from typing import Any

import pytest

from tests.helpers import Browser, Page
from tests.support.app_db import in_app
from tests.support.pages import error_text
from tests.support.security_keys import last_failure_reason as _last_failure_reason
from tests.support.security_keys import user_with_key
from tests.support.signin import finish_tokens, make_rp
from tests.support.soft_key import b64, page_options

pytestmark = [pytest.mark.settings(localhost=True), pytest.mark.slow]


def passkey_page(realm: Any, client: Any) -> tuple[Browser, Any, Page]:
    browser = realm.browser()
    flow = client.start()
    start = browser.get(flow.url)
    assert start.status == 200 and 'id="passkey-link"' in start.text, start.text
    page = browser.get(start.link("Sign in with a passkey"))
    assert page.status == 200 and page.url.endswith("/passkey"), page.url
    return browser, flow, page


def post(browser: Browser, page: Page, response: str) -> Page:
    return browser.submit(page, {"credential": response}, action="/passkey")


def refused(browser: Browser, page: Page, response: str) -> Page:
    answer = post(browser, page, response)
    assert answer.status == 401 and answer.url.endswith("/passkey"), answer.text
    assert "passkey was not accepted" in error_text(answer)
    return answer


def test_passkey_alone_signs_in_with_two_factors(realm, rp):
    user, key, _ = user_with_key(realm)
    assert key.user_handle == b64(user.sub.encode())
    client = make_rp(realm, rp)
    browser, flow, page = passkey_page(realm, client)
    options = page_options(page.text)
    assert options["userVerification"] == "required" and options["allowCredentials"] == []
    post(browser, page, key.get(options))
    _token, claims, _at = finish_tokens(client, flow, browser)
    assert claims["sub"] == user.sub
    assert claims["amr"] == ["hwk", "user", "mfa"] and claims["acr"] == "2"


def test_passkey_without_user_verification_is_refused(realm, rp):
    """User verification is required for a passkey alone: a touch-only key is a second
    factor after the password, never both factors."""
    _user, key, _ = user_with_key(realm, user_verified=False)
    client = make_rp(realm, rp)
    browser, _flow, page = passkey_page(realm, client)
    refused(browser, page, key.get(page_options(page.text)))
    assert _last_failure_reason(realm) == "SecurityKeyRefused"


def test_user_handle_of_someone_else_is_refused(realm, rp):
    """SS 7.2: the user handle must name the key's owner."""
    _alice, alice_key, _ = user_with_key(realm)
    bob, _bob_key, _ = user_with_key(realm)
    client = make_rp(realm, rp)
    browser, _flow, page = passkey_page(realm, client)
    response = alice_key.get(page_options(page.text), user_handle=b64(bob.sub.encode()))
    refused(browser, page, response)


def test_passkey_of_another_realm_is_refused(realm, rp, server):
    from tests.conftest import TestRealm

    _user, key, _ = user_with_key(realm)
    with server.app.app_context():
        from idp.db import get_session
        from idp.services.realms import create_realm

        db = get_session()
        row = create_realm(db, realm.name + "p", "Other")
        db.commit()
        other = TestRealm(name=row.name, id=row.id, base=realm.base, server=server)
    client_id, secret = other.client(redirect_uri=rp.redirect_uri)
    client = make_rp(other, type(rp)(client_id, secret, rp.redirect_uri, rp.post_logout))
    browser, _flow, page = passkey_page(other, client)
    refused(browser, page, key.get(page_options(page.text)))


def test_passkey_of_a_disabled_account_is_refused(realm, rp):
    user, key, _ = user_with_key(realm)

    def disable(db: Any) -> None:
        from idp.models import User

        db.get(User, user.id).disabled = True

    in_app(realm, disable)
    client = make_rp(realm, rp)
    browser, _flow, page = passkey_page(realm, client)
    refused(browser, page, key.get(page_options(page.text)))


def test_replayed_passkey_response_is_refused(realm, rp):
    _user, key, _ = user_with_key(realm)
    client = make_rp(realm, rp)
    browser, flow, page = passkey_page(realm, client)
    recorded = key.get(page_options(page.text))
    post(browser, page, recorded)
    finish_tokens(client, flow, browser)
    b2, _flow2, page2 = passkey_page(realm, client)
    refused(b2, page2, recorded)
