"""Steps the V1 and V2 tests share (SPEC 9): a sign-in stopped half-way, the changes that end
a user's sessions as the user, an admin, the operator or an emailed link makes them, and
what a dead sign-in looks like to the browser that continues it."""

from __future__ import annotations

import html
import re
import secrets
from typing import Any

import pyotp
import pytest

from idp import clock
from idp.models import User
from idp.services.factors import has_second_factor
from tests.helpers import Browser, Page, run_idp, totp_code
from tests.oidc_rp import sign_in_password
from tests.support.app_db import in_app
from tests.support.password_reset import ask_for_link, choose_password, reset_link

NEW_PASSWORD = "a passphrase nobody knew before"
SSO_COOKIE = "IDP_SESSION"


def two_factor_enabled(realm: Any, user: Any) -> bool:
    return in_app(realm, lambda db: has_second_factor(db, db.get(User, user.id)))


def is_code_page(page: Page) -> bool:
    return page.status == 200 and page.url.endswith("/totp") and "one-time-code" in page.text


def is_enrol_page(page: Page) -> bool:
    return page.status == 200 and page.url.endswith("/enrol") and 'id="key"' in page.text


def shown_key(page: Page) -> str:
    match = re.search(r'<dd id="key"><code>([^<]*)</code></dd>', page.text)
    assert match, page.text
    return html.unescape(match.group(1)).replace(" ", "")


def code_for(key: str) -> str:
    return pyotp.TOTP(key).at(clock.timestamp())


def is_dead_sign_in(page: Page) -> bool:
    """The page of a sign-in that cannot go on (web/login_pages.stale_page): "no longer
    valid", or "already signed in" to a browser that holds a session."""
    return page.status == 400 and (
        "This sign-in is no longer valid" in page.text or "You are already signed in" in page.text
    )


def account_sign_in(realm: Any, browser: Browser, user: Any, code: str | None = None) -> Page:
    """Open the account page, which sends the browser through the hosted sign-in."""
    page: Page = sign_in_password(browser, realm.url("account/"), user.email, user.password)
    if code is not None:
        assert is_code_page(page), page.text
        page = browser.submit(page, {"code": code})
    assert page.status == 200 and "Account settings</h1>" in page.text, page.text
    return page


def signed_in(realm: Any, browser: Browser) -> bool:
    return "Account settings</h1>" in browser.get(realm.url("account/")).text


def console(realm: Any) -> Browser:
    """An admin (with an authenticator app, so that any policy lets them into the console)
    signed in just now: the console's account actions need a recent sign-in."""
    admin = realm.user(admin=True, with_totp=True)
    browser: Browser = realm.browser()
    account_sign_in(realm, browser, admin, code=totp_code(admin.totp_secret, 0))
    return browser


def steal_session(owner: Browser, thief: Browser) -> None:
    """The thief's browser gets a copy of the owner's session cookie."""
    cookie = next(c for c in owner.session.cookies if c.name == SSO_COOKIE)
    thief.session.cookies.set_cookie(cookie)


# -- the changes that end a user's sessions (SPEC V1) -----------------------------------------
def change_own_password(realm: Any, browser: Browser, user: Any) -> None:
    """The account page's password change, in ``browser`` (signed in as ``user``), which
    stays signed in."""
    home = browser.get(realm.url("account/"))
    page = browser.get(home.link("Change password"))
    done = browser.submit(
        page,
        {
            "current_password": user.password,
            "new_password": NEW_PASSWORD,
            "confirm_password": NEW_PASSWORD,
        },
        action="/account/password",
    )
    assert "Your password is changed." in done.text, done.text
    assert signed_in(realm, browser)


def user_changes_password(realm: Any, user: Any, request: Any) -> None:
    """The user, in their own browser, on the account page."""
    browser = realm.browser()
    code = totp_code(user.totp_secret, 0) if user.totp_secret else None
    account_sign_in(realm, browser, user, code=code)
    change_own_password(realm, browser, user)


def admin_resets_password(realm: Any, user: Any, request: Any) -> None:
    admin = console(realm)
    detail = admin.get(realm.url(f"admin/users/{user.id}"))
    done = admin.submit(detail, {"password": NEW_PASSWORD}, action="/password")
    assert f"The password of {user.email} is reset." in done.text, done.text


def operator_resets_password(realm: Any, user: Any, request: Any) -> None:
    result = run_idp(
        realm.server,
        *("user", "set-password", user.email, "--password-stdin", "--realm", realm.name),
        stdin=NEW_PASSWORD + "\n",
    )
    assert result.returncode == 0, result.stderr


def emailed_link_resets_password(realm: Any, user: Any, request: Any) -> None:
    """Forgot password, from a client address of its own (the test runs behind one trusted
    proxy hop, ``emailed_link_param``), so no other test's requests count against it."""
    mailbox = request.getfixturevalue("mailbox")
    browser = realm.browser()
    browser.session.headers["X-Forwarded-For"] = "10." + ".".join(
        str(secrets.randbelow(250) + 1) for _ in range(3)
    )
    ask_for_link(browser, realm, user.email)
    done = choose_password(browser, reset_link(mailbox, user.email), NEW_PASSWORD)
    assert done.status == 200, done.text


def admin_resets_two_factor(realm: Any, user: Any, request: Any) -> None:
    admin = console(realm)
    done = admin.submit(admin.get(realm.url(f"admin/users/{user.id}/reset-2fa")))
    assert f"Two-factor authentication is disabled for {user.email}." in done.text, done.text


def operator_resets_two_factor(realm: Any, user: Any, request: Any) -> None:
    result = run_idp(realm.server, "user", "reset-2fa", "--realm", realm.name, user.email)
    assert result.returncode == 0, result.stderr


def user_disables_two_factor(realm: Any, user: Any, request: Any) -> None:
    """The user, signed in with the code just now, disables 2FA on the account page (their
    sessions stay: SPEC D1)."""
    browser = realm.browser()
    account_sign_in(realm, browser, user, code=totp_code(user.totp_secret, 0))
    confirm = browser.get(realm.url("account/two-factor/disable"))
    assert "Disable two-factor authentication?" in confirm.text, confirm.text
    done = browser.submit(confirm)
    assert "Two-factor authentication is disabled." in done.text, done.text


def admin_disables_account_then_enables_it(realm: Any, user: Any, request: Any) -> None:
    """Disabled, then enabled again at once: the sign-in must have ended, not just paused."""
    admin = console(realm)
    confirm = admin.get(realm.url(f"admin/users/{user.id}/disable"))
    done = admin.submit(confirm, action="/status")
    assert f"The account {user.email} is disabled." in done.text, done.text
    enabled = admin.submit(admin.get(realm.url(f"admin/users/{user.id}")), action="/status")
    assert f"The account {user.email} is enabled." in enabled.text, enabled.text


def emailed_link_param(name: str) -> Any:
    return pytest.param(name, marks=pytest.mark.settings(proxy_count=1), id=name)


CHANGES = {
    "user_changes_password": user_changes_password,
    "admin_resets_password": admin_resets_password,
    "operator_resets_password": operator_resets_password,
    "emailed_link_resets_password": emailed_link_resets_password,
    "admin_resets_two_factor": admin_resets_two_factor,
    "operator_resets_two_factor": operator_resets_two_factor,
    "user_disables_two_factor": user_disables_two_factor,
    "admin_disables_account_then_enables_it": admin_disables_account_then_enables_it,
}
