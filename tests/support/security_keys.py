"""Security keys over HTTP with the software authenticator (tests/support/soft_key.py): adding a
key on the 2FA page, reaching the key page of a sign-in, posting an assertion, and reading the
user's keys and the reason of the last refused one."""

from __future__ import annotations

import re
from typing import Any

from sqlalchemy import select

from idp.models import Authenticator
from tests.helpers import Browser, Page
from tests.support.app_db import audit_events, in_app
from tests.support.signin import account_sign_in, to_code_page
from tests.support.soft_key import SoftKey, page_options

KEY_PAGE = "/security-key"


def keys_of(realm: Any, user: Any) -> list[Authenticator]:
    def find(db: Any) -> list[Authenticator]:
        rows = db.scalars(
            select(Authenticator).where(
                Authenticator.user_id == user.id, Authenticator.type == "webauthn"
            )
        ).all()
        db.expunge_all()
        return list(rows)

    return in_app(realm, find)


def shown_codes(page: Page) -> list[str]:
    block = re.search(r'<ol class="codes" id="backup-codes"[^>]*>(.*?)</ol>', page.text, re.S)
    assert block, page.text
    return [c.replace("-", "") for c in re.findall(r"<code>([^<]*)</code>", block.group(1))]


def add_key(realm: Any, browser: Browser, key: SoftKey, name: str = "YubiKey") -> Page:
    """On the 2FA page: "Add a security key or passkey", name it, answer the browser's
    dialog with ``key``."""
    two_factor = browser.get(realm.url("account/two-factor"))
    page = browser.get(two_factor.link("Add a security key or passkey"))
    assert page.status == 200 and 'data-webauthn="create"' in page.text, page.text
    options = page_options(page.text)
    assert options["rp"]["id"] == "localhost" and options["attestation"] == "none"
    assert options["authenticatorSelection"]["userVerification"] == "preferred"
    return browser.submit(page, {"name": name, "credential": key.create(options)})


def user_with_key(realm: Any, *, user_verified: bool = True) -> tuple[Any, SoftKey, Browser]:
    """A user without 2FA adds a key on the account page: 2FA is on, backup codes shown."""
    user = realm.user()
    browser = realm.browser()
    account_sign_in(realm, browser, user)
    key = SoftKey(realm.base, user_verified=user_verified)
    done = add_key(realm, browser, key)
    assert done.status == 200 and "Two-factor authentication is enabled" in done.text, done.text
    user.backup_codes = shown_codes(done)
    return user, key, browser


def to_key_page(realm: Any, client: Any, user: Any) -> tuple[Browser, Any, Page]:
    browser, flow, page = to_code_page(realm, client, user)
    assert page.status == 200 and page.url.endswith(KEY_PAGE), page.url
    return browser, flow, page


def post_key(browser: Browser, page: Page, response: str) -> Page:
    return browser.submit(page, {"credential": response}, action=KEY_PAGE)


def last_failure_reason(realm: Any) -> str:
    reason: str = audit_events(realm, "login.second_factor.failed")[-1].detail["reason"]
    return reason
