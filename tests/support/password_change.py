"""The account's "Change password" page driven over HTTP."""

from __future__ import annotations

from typing import Any

from tests.helpers import Browser, Page

#: A new password that passes every rule.
NEW_PASSPHRASE = "a brand new passphrase"


def password_page(realm: Any, browser: Browser) -> Page:
    home = browser.get(realm.url("account/"))
    page = browser.get(home.link("Change password"))
    assert page.status == 200 and 'autocomplete="new-password"' in page.text, page.text
    return page


def change_password(
    browser: Browser, page: Page, current: str, new: str, confirm: str | None = None
) -> Page:
    return browser.submit(
        page,
        {
            "current_password": current,
            "new_password": new,
            "confirm_password": new if confirm is None else confirm,
        },
        action="/account/password",
    )
