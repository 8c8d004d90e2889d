"""A user changes their own password from the account page (as in Keycloak's account console):
the current password first, checked and throttled like a sign-in; the new one twice. Every
other session ends and its refresh tokens stop working; this browser stays signed in."""

from __future__ import annotations

from typing import Any

import pytest

from idp.models import User
from idp.services.passwords import verify_password
from tests.support.app_db import in_app
from tests.support.console import admin_browser, admin_events
from tests.support.pages import error_text, notices
from tests.support.password_change import NEW_PASSPHRASE as NEW
from tests.support.password_change import change_password as _change
from tests.support.password_change import password_page as _password_page
from tests.support.signin import (
    WRONG_PASSWORD_TEXT,
    account_sign_in,
    assert_refresh_refused,
    make_rp,
    sign_in_for_tokens,
    sign_in_refused,
    still_signed_in,
)

pytestmark = pytest.mark.slow


def _password_is(realm: Any, user: Any, password: str) -> bool:
    def check(db: Any) -> bool:
        return verify_password(db.get(User, user.id).password_hash, password)

    return in_app(realm, check)


def test_user_changes_own_password_and_other_sessions_end(realm, rp):
    user = realm.user()
    client = make_rp(realm, rp)
    elsewhere, token = sign_in_for_tokens(realm, client, user.email, user.password)
    browser = realm.browser()
    account_sign_in(realm, browser, user)

    done = _change(browser, _password_page(realm, browser), user.password, NEW)
    assert done.status == 200 and done.url.endswith("/account/"), done.text
    assert "Your password is changed. Other devices are signed out." in notices(done)
    # This browser stays signed in; the other one is out and its refresh token is dead.
    assert still_signed_in(realm, browser)
    assert not still_signed_in(realm, elsewhere)
    assert_refresh_refused(client, rp, token["refresh_token"])
    # The old password no longer signs in; the new one does.
    refused = sign_in_refused(client, user.email, user.password, realm.base)
    assert error_text(refused) == WRONG_PASSWORD_TEXT
    sign_in_for_tokens(realm, client, user.email, NEW)

    _, admin, _ = admin_browser(realm)
    rows = admin_events(admin, realm, user.email, "account.password.changed")
    assert len(rows) == 1 and rows[0]["actor"] == f"user:{user.email}", rows


def test_wrong_current_password_is_refused_and_throttled(realm, rp):
    """Someone at an unlocked computer cannot take the account over: without the current
    password nothing changes, and guessing it is throttled like sign-in (the 6th try waits
    even when it is right)."""
    user = realm.user()
    browser = realm.browser()
    account_sign_in(realm, browser, user)
    page = _password_page(realm, browser)
    for _ in range(5):
        page = _change(browser, page, "not the password", NEW)
        assert page.status == 401 and "The current password is not right." in page.text
    blocked = _change(browser, page, user.password, NEW)
    assert blocked.status == 429 and int(blocked.response.headers["Retry-After"]) > 0
    assert "Too many attempts" in blocked.text
    assert 'class="countdown"' in blocked.text and 'data-form="password-form"' in blocked.text
    # Nothing changed (sign-in itself is throttled now, so look at the stored hash).
    assert _password_is(realm, user, user.password) and not _password_is(realm, user, NEW)


def test_new_password_rules_and_confirmation(realm, rp):
    user = realm.user()
    browser = realm.browser()
    account_sign_in(realm, browser, user)
    page = _password_page(realm, browser)
    mismatch = _change(browser, page, user.password, NEW, confirm=NEW + "x")
    assert mismatch.status == 400 and "The new passwords do not match." in mismatch.text
    short = _change(browser, mismatch, user.password, "short")
    assert short.status == 400 and "at least 8 characters" in short.text
    # The service's rule, in the page's language (SPEC section 8).
    japanese = _change(
        browser, browser.get(realm.url("account/password?lang=ja")), user.password, "short"
    )
    assert japanese.status == 400 and "パスワードは8文字以上" in japanese.text, japanese.text
    browser.get(realm.url("account/password?lang=en"))
    # Still the old password, and this browser is still signed in.
    assert still_signed_in(realm, browser)
    sign_in_for_tokens(realm, make_rp(realm, rp), user.email, user.password)


def test_password_change_needs_the_csrf_token_and_a_session(realm, rp):
    user = realm.user()
    browser = realm.browser()
    account_sign_in(realm, browser, user)
    form = {"current_password": user.password, "new_password": NEW, "confirm_password": NEW}
    forged = browser.session.post(
        realm.url("account/password"), data=form, allow_redirects=False, timeout=10
    )
    assert forged.status_code == 400
    stranger = realm.browser()
    anonymous = stranger.session.post(
        realm.url("account/password"), data=form, allow_redirects=False, timeout=10
    )
    assert anonymous.status_code == 400 or "/login/" in anonymous.headers["Location"]
    sign_in_for_tokens(realm, make_rp(realm, rp), user.email, user.password)
