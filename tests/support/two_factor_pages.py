"""The account's two-factor pages driven over HTTP: enabling an authenticator app, the backup codes
shown, issuing new ones, the re-authentication that guards them, and a password-only session
of a user with 2FA (the shape of Keycloak CVE-2023-3597)."""

from __future__ import annotations

import html
import re
from typing import Any
from urllib.parse import urlsplit

import pyotp

from tests.helpers import Browser, Page, totp_code, wait_for_step_room
from tests.support.app_db import in_app
from tests.support.signin import account_sign_in, is_code_page, make_rp, to_code_page

ENABLED = "Two-factor authentication is enabled."


def field(page: Page, ident: str) -> str:
    match = re.search(rf'id="{ident}"[^>]*>(.*?)</dd>', page.text, re.S)
    assert match, page.text
    return html.unescape(re.sub(r"<[^>]+>", "", match.group(1))).strip()


def shown_codes(page: Page) -> list[str]:
    block = re.search(r'<ol class="codes" id="backup-codes"[^>]*>(.*?)</ol>', page.text, re.S)
    assert block, page.text
    return re.findall(r"<code>([^<]*)</code>", block.group(1))


def open_two_factor(browser: Browser, page: Page) -> Page:
    """From any account page, through the account menu."""
    return browser.get(page.link("Two-factor authentication"))


def enable_via_pages(realm: Any, browser: Browser, page: Page) -> tuple[str, list[str], Page]:
    """On the 2FA page: Enable (or set up a new app), read the key, Verify with the code
    an authenticator app would show. Returns the key, the backup codes and the page."""
    page = open_two_factor(browser, page)
    label = "Enable" if "is not enabled" in page.text else "Set up a new authenticator app"
    page = browser.get(page.link(label))
    assert page.status == 200 and "<svg" in page.text, page.text
    key = field(page, "key").replace(" ", "")
    done = browser.submit(page, {"code": pyotp.TOTP(key).now()})
    assert done.status == 200 and ENABLED in done.text, done.text
    codes = [c.replace("-", "") for c in shown_codes(done)]
    return key, codes, done


def new_user_enabled(realm: Any) -> tuple[Any, Browser, str, list[str], Page]:
    """A user without 2FA signs in on the account page and enables it."""
    user = realm.user()
    browser = realm.browser()
    home = account_sign_in(realm, browser, user)
    key, codes, page = enable_via_pages(realm, browser, home)
    user.totp_secret = key
    user.backup_codes = codes
    return user, browser, key, codes, page


def asks_for_code(realm: Any, rp: Any, user: Any) -> bool:
    browser, _, page = to_code_page(realm, make_rp(realm, rp), user)
    if browser.left_to:
        return False
    assert is_code_page(page), page.text
    return True


def backup_refused(realm: Any, rp: Any, user: Any, code: str) -> bool:
    browser, _, page = to_code_page(realm, make_rp(realm, rp), user)
    page = browser.get(page.link("Use a backup code instead"))
    page = browser.submit(page, {"code": code})
    return page.status == 401 and browser.left_to is None


def is_reauth_page(page: Page, user: Any) -> bool:
    return (
        page.status == 200
        and "Confirm it's you" in html.unescape(page.text)
        and 'name="password"' in page.text
        and "readonly" in page.text
        and user.email in page.text
    )


def password_only_session(realm: Any, browser: Browser, user: Any) -> None:
    """Give ``browser`` a fresh SSO session of ``user`` that proved the password alone,
    as a sign-in from before the user enabled 2FA elsewhere would have left."""
    from idp import clock
    from idp.models import User
    from idp.services.sessions import create_sso_session
    from idp.web.common import SSO_COOKIE

    def make(db: Any) -> str:
        row = db.get(User, user.id)
        _, cookie = create_sso_session(
            db, row, amr=["pwd"], acr="1", auth_time=int(clock.timestamp())
        )
        return cookie

    browser.session.cookies.set(
        SSO_COOKIE,
        in_app(realm, make),
        domain=urlsplit(realm.url("")).hostname,
        path=f"/realms/{realm.name}/",
    )


def shown_key(page: Page) -> str:
    """The key shown for manual entry (``<dd id="key"><code>``, grouped with spaces)."""
    match = re.search(r'<dd id="key"><code>([^<]*)</code></dd>', page.text)
    assert match, page.text
    return html.unescape(match.group(1)).replace(" ", "")


def enrol_from_account_pages(realm: Any, browser: Browser, user: Any) -> None:
    """The signed-in user enables 2FA from the account pages; enabling keeps this
    browser's (password-only) session. Uses the previous step's code so that the current
    and next steps stay free for the sign-ins of the test."""
    home = browser.get(realm.url("account/"))
    assert home.status == 200 and 'name="password"' not in home.text, home.text
    page = browser.get(home.link("Two-factor authentication"))
    page = browser.get(page.link("Enable"))
    key = shown_key(page)
    wait_for_step_room(2.0)
    done = browser.submit(page, {"code": totp_code(key, -1)})
    assert done.status == 200 and ENABLED in done.text, done.text
    user.totp_secret = key


def issue_new_codes(browser: Browser, realm: Any) -> Page:
    confirm = browser.get(realm.url("account/two-factor/backup-codes"))
    assert "Issue new backup codes?" in confirm.text, confirm.text
    assert '<button type="submit">Issue new codes</button>' in confirm.text
    return browser.submit(confirm)
