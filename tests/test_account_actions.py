"""Account actions are one service each, whoever takes them: the operator's ``idp user
set-password`` signs the user out everywhere like the console's password reset; the
console's account actions need a recent sign-in of the admin; enabling 2FA signs the user's
other browsers out (they signed in with the password alone) and keeps the one that enabled
it. Everything is observed as the user, the admin or a relying party observes it."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest

from idp import clock
from tests.helpers import Browser, Page, run_idp
from tests.support.console import (
    NEW_PASSWORD,
    admin_browser,
    admin_events,
    assert_audited_once,
    user_state,
)
from tests.support.pages import notices
from tests.support.signin import (
    assert_refresh_refused,
    make_rp,
    prompt_none_error,
    refresh,
    sign_in_for_tokens,
    sign_in_with_totp,
    still_signed_in,
)
from tests.support.two_factor_pages import asks_for_code, enable_via_pages, is_reauth_page

pytestmark = pytest.mark.slow


@pytest.fixture
def travel() -> Iterator[Any]:
    """``travel(seconds=...)`` moves the one clock the server reads; reset afterwards."""
    try:
        yield clock.travel
    finally:
        clock.reset()


def asks_to_sign_in(realm: Any, browser: Browser) -> bool:
    page = browser.get(realm.url("account/"))
    return page.status == 200 and "/login/" in page.url and 'name="password"' in page.text


# -- the operator's password reset ----------------------------------------------------------
def test_cli_set_password_signs_the_user_out_everywhere_and_is_audited_as_operator(
    realm, rp, server
):
    user = realm.user()
    client = make_rp(realm, rp)
    user_browser, token = sign_in_for_tokens(realm, client, user.email, user.password)
    assert client.introspect(token["access_token"])["active"] is True

    result = run_idp(
        server,
        *("user", "set-password", user.email, "--password-stdin", "--realm", realm.name),
        stdin=NEW_PASSWORD + "\n",
    )
    assert result.returncode == 0, result.stderr
    assert user.email in result.stdout and NEW_PASSWORD not in result.stdout + result.stderr

    # The browser is signed out and the relying party's tokens are dead.
    assert prompt_none_error(client, user_browser) == "login_required"
    assert asks_to_sign_in(realm, user_browser)
    for value in (token["access_token"], token["refresh_token"]):
        assert client.introspect(value) == {"active": False}
    assert_refresh_refused(client, rp, token["refresh_token"])
    # The new password signs in.
    sign_in_for_tokens(realm, client, user.email, NEW_PASSWORD)

    _, browser, _ = admin_browser(realm)
    rows = admin_events(browser, realm, user.email, "admin.user.password_reset")
    assert len(rows) == 1, rows
    assert rows[0]["actor"] == "operator" and rows[0]["outcome"] == "success"


# -- the console's account actions need a recent sign-in --------------------------------------
def _disable(browser: Browser, realm: Any, user: Any) -> tuple[Page, str]:
    page = browser.get(realm.url(f"admin/users/{user.id}/disable"))
    assert f"Disable the account {user.email}?" in page.text
    return page, "/status"


def _password(browser: Browser, realm: Any, user: Any) -> tuple[Page, str]:
    page = browser.get(realm.url(f"admin/users/{user.id}"))
    return page, "/password"


def _reset_2fa(browser: Browser, realm: Any, user: Any) -> tuple[Page, str]:
    page = browser.get(realm.url(f"admin/users/{user.id}/reset-2fa"))
    assert f"Disable two-factor authentication for {user.email}?" in page.text
    return page, "/reset-2fa"


def _email_verified(browser: Browser, realm: Any, user: Any) -> tuple[Page, str]:
    page = browser.get(realm.url(f"admin/users/{user.id}"))
    return page, "/email-verified"


ACTIONS = {
    # name: (opens the form, data posted, audit event, notice after it took effect)
    "disable": (_disable, {}, "admin.user.disabled", "The account {} is disabled."),
    "password": (
        _password,
        {"password": NEW_PASSWORD},
        "admin.user.password_reset",
        "The password of {} is reset.",
    ),
    "reset-2fa": (
        _reset_2fa,
        {},
        "admin.mfa.reset",
        "Two-factor authentication is disabled for {}.",
    ),
    "email-verified": (
        _email_verified,
        {},
        "admin.user.email_verified",
        "The email address of {} is marked verified.",
    ),
}


@pytest.mark.parametrize("action", list(ACTIONS))
def test_console_action_on_an_old_sign_in_asks_the_admin_to_sign_in_again_first(
    realm, rp, server, travel, action
):
    open_form, data, event, done_notice = ACTIONS[action]
    user = realm.user(with_totp=True)
    client = make_rp(realm, rp)
    user_browser, token, _, _ = sign_in_with_totp(realm, client, user)
    before = user_state(realm, user.email)
    admin, browser, _ = admin_browser(realm)
    form, path = open_form(browser, realm, user)

    # The admin's sign-in gets older than IDP_REAUTH_TTL while the form is open.
    travel(seconds=server.app.extensions["idp.settings"].reauth_ttl + 1)
    page = browser.submit(form, data, action=path)
    assert is_reauth_page(page, admin), page.text
    assert browser.left_to is None

    # Nothing changed: the user is still signed in, the relying party's refresh token
    # works, sign-in still asks for the security code, and nothing is in the audit log.
    assert user_state(realm, user.email) == before
    assert prompt_none_error(client, user_browser) is None
    assert still_signed_in(realm, user_browser)
    assert refresh(client, rp, token["refresh_token"]).status_code == 200
    assert asks_for_code(realm, rp, user)
    assert admin_events(browser, realm, user.email, "admin.") == []

    # The password again brings the admin back to the page; now the action takes effect.
    back = browser.submit(page, {"password": admin.password})
    assert back.status == 200 and browser.left_to is None, back.text
    if action == "reset-2fa":
        assert back.url.endswith(f"/admin/users/{user.id}/reset-2fa")
    elif action == "disable":  # the confirmation again
        assert back.url.endswith(f"/admin/users/{user.id}/disable")
    else:
        assert back.url.endswith(f"/admin/users/{user.id}")
    assert not any(user.email in n for n in notices(back))
    done = browser.submit(back, data, action=path)
    assert done_notice.format(user.email) in notices(done), done.text
    assert_audited_once(browser, realm, event, actor=admin, subject=user)


def test_admin_confirmation_page_of_a_2fa_reset_asks_an_old_sign_in_to_sign_in_again(
    realm, server, travel
):
    user = realm.user(with_totp=True)
    admin, browser, _ = admin_browser(realm)
    travel(seconds=server.app.extensions["idp.settings"].reauth_ttl + 1)
    page = browser.get(realm.url(f"admin/users/{user.id}/reset-2fa"))
    assert is_reauth_page(page, admin), page.text
    assert "Disable two-factor authentication for" not in page.text
    confirm = browser.submit(page, {"password": admin.password})
    assert f"Disable two-factor authentication for {user.email}?" in confirm.text
    # Other console pages (reading, not acting) do not ask.
    travel(seconds=server.app.extensions["idp.settings"].reauth_ttl + 1)
    assert browser.get(realm.url(f"admin/users/{user.id}")).url.endswith(f"/users/{user.id}")


# -- enabling 2FA ends the user's other sessions -----------------------------------------------
def test_enabling_2fa_signs_out_the_users_other_browsers_and_keeps_this_one(realm, rp):
    user = realm.user()
    client = make_rp(realm, rp)
    elsewhere, elsewhere_token = sign_in_for_tokens(realm, client, user.email, user.password)
    browser, token = sign_in_for_tokens(realm, client, user.email, user.password)
    assert still_signed_in(realm, elsewhere)

    enable_via_pages(realm, browser, browser.get(realm.url("account/")))

    # The other browser signed in with the password alone: it is signed out, its account
    # page asks for a sign-in, and its relying party's tokens are dead.
    assert asks_to_sign_in(realm, elsewhere)
    assert prompt_none_error(client, elsewhere) == "login_required"
    assert client.introspect(elsewhere_token["access_token"]) == {"active": False}
    assert_refresh_refused(client, rp, elsewhere_token["refresh_token"])
    # The browser that enabled 2FA stays signed in, with its tokens.
    assert still_signed_in(realm, browser)
    assert prompt_none_error(client, browser) is None
    assert refresh(client, rp, token["refresh_token"]).status_code == 200
    # A new sign-in asks for the security code.
    assert asks_for_code(realm, rp, user)
