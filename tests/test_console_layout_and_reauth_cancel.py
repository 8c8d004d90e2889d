"""Layout leftovers from the review of 2026-12-07 (section 4, item 9), as a browser sees them:
the console's user page uses the console's wide layout like the user list; its "Mark email
address as verified" control sits in the Email address section, next to the address and its
verified status; the re-authentication page ("Confirm it's you") has a Cancel link that leads
to a safe page (the account page for an account action, the console for a console action),
ends the re-authentication, and leaves the sensitive action undone."""

from __future__ import annotations

import html
import re
from collections.abc import Iterator
from html.parser import HTMLParser
from typing import Any
from urllib.parse import urlsplit

import pytest

from idp import clock
from idp.db import get_session
from idp.models import Realm, User
from idp.services import factors
from idp.services.users import find_user_by_email
from tests.helpers import Browser, Page, totp_code, wait_for_step_room
from tests.support.app_db import in_app
from tests.support.dead_sign_ins import account_sign_in

pytestmark = pytest.mark.slow


@pytest.fixture
def travel() -> Iterator[Any]:
    """``travel(seconds=...)`` moves the one clock the server reads; reset afterwards."""
    try:
        yield clock.travel
    finally:
        clock.reset()


def reauth_ttl(realm: Any) -> int:
    return realm.server.app.extensions["idp.settings"].reauth_ttl


def user_facts(realm: Any, email: str) -> tuple[bool, bool, bool]:
    """(disabled, email verified, two-factor enabled) straight from the database."""
    with realm.server.app.app_context():
        db = get_session()
        user = find_user_by_email(db, db.get(Realm, realm.id), email)
        assert user is not None
        return user.disabled, user.email_verified, factors.has_second_factor(db, user)


def main_classes(page: Page) -> list[str]:
    match = re.search(r'<main class="([^"]*)"', page.text)
    assert match, page.text
    return match.group(1).split()


class _Sections(HTMLParser):
    """Which <section id=...> each form (by its action) and each element id is inside."""

    def __init__(self) -> None:
        super().__init__()
        self.stack: list[str | None] = []
        self.form_section: dict[str, str | None] = {}
        self.id_section: dict[str, str | None] = {}
        self.headings: dict[str | None, list[str]] = {}
        self._in_h2 = False

    def _current(self) -> str | None:
        return next((s for s in reversed(self.stack) if s), None)

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        found = dict(attrs)
        if tag == "section":
            self.stack.append(found.get("id") or "")
        if tag == "form" and found.get("action"):
            self.form_section[found["action"] or ""] = self._current()
        if found.get("id"):
            self.id_section[found["id"] or ""] = self._current()
        self._in_h2 = tag == "h2"

    def handle_endtag(self, tag: str) -> None:
        if tag == "section":
            self.stack.pop()
        if tag == "h2":
            self._in_h2 = False

    def handle_data(self, data: str) -> None:
        if self._in_h2 and data.strip():
            self.headings.setdefault(self._current(), []).append(data.strip())


def sections(page: Page) -> _Sections:
    parser = _Sections()
    parser.feed(page.text)
    return parser


def cancel_href(page: Page) -> str:
    match = re.search(r'<a[^>]*id="cancel"[^>]*>', page.text)
    assert match, page.text
    href = re.search(r'href="([^"]*)"', match.group(0))
    assert href
    return html.unescape(href.group(1))


def follow_cancel(realm: Any, browser: Browser, page: Page) -> Page:
    """Follow the page's Cancel link: a local path of the realm's sign-in, as a plain GET."""
    href = cancel_href(page)
    uid = re.search(r"/login/([^/]+)/", page.url)
    assert uid, page.url
    assert href == f"/realms/{realm.name}/login/{uid.group(1)}/cancel", href
    return browser.get(realm.url(href.removeprefix(f"/realms/{realm.name}/")))


def is_reauth_page(page: Page, user: Any) -> bool:
    return (
        page.status == 200
        and "Confirm it's you" in html.unescape(page.text)
        and 'name="password"' in page.text
        and "readonly" in page.text
        and user.email in page.text
    )


def signed_in_admin(realm: Any) -> tuple[Any, Browser]:
    admin = realm.user(admin=True)
    browser = realm.browser()
    account_sign_in(realm, browser, admin)
    return admin, browser


# -- the user page ----------------------------------------------------------------------------
def test_console_user_page_uses_the_wide_layout_of_the_user_list(realm):
    user = realm.user()
    _, browser = signed_in_admin(realm)
    listing = browser.get(realm.url("admin/users"))
    assert "wide" in main_classes(listing)
    for lang in ("en", "ja"):
        page = browser.get(realm.url(f"admin/users/{user.id}?lang={lang}"))
        assert page.status == 200 and page.url.endswith(f"/admin/users/{user.id}?lang={lang}")
        assert main_classes(page) == main_classes(listing), page.text


@pytest.mark.parametrize("verified", [False, True])
def test_mark_verified_control_is_in_the_email_section_next_to_the_address(realm, verified):
    user = realm.user()
    in_app(realm, lambda db: setattr(db.get(User, user.id), "email_verified", verified))
    _, browser = signed_in_admin(realm)
    page = browser.get(realm.url(f"admin/users/{user.id}"))
    found = sections(page)
    verify_forms = [a for a in found.form_section if a.endswith("/email-verified")]
    assert len(verify_forms) == 1, found.form_section
    assert found.form_section[verify_forms[0]] == "email", found.form_section
    # The address's verified status is in that section too, and the section is headed
    # "Email address"; the Account section no longer holds the control.
    assert found.id_section.get("email-verified") == "email", found.id_section
    assert found.headings.get("email") == ["Email address"], found.headings
    assert found.headings.get("account") == ["Account"], found.headings
    assert "Mark email address as" not in "".join(
        re.findall(r'<section id="account"[^>]*>(.*?)</section>', page.text, re.S)
    )
    label = "Mark email address as not verified" if verified else "Mark email address as verified"
    email_part = re.search(r'<section id="email"[^>]*>(.*?)</section>', page.text, re.S)
    assert email_part and user.email in email_part.group(1) and label in email_part.group(1)
    # The control still works from there.
    done = browser.submit(page, action="/email-verified")
    assert done.status == 200 and done.url.endswith(f"/admin/users/{user.id}")
    assert user_facts(realm, user.email)[1] is (not verified)


# -- Cancel on the re-authentication page -----------------------------------------------------
def test_reauth_cancel_for_a_console_action_leads_to_the_console_and_does_nothing(realm, travel):
    user = realm.user()
    admin, browser = signed_in_admin(realm)
    confirm = browser.get(realm.url(f"admin/users/{user.id}/disable"))
    assert f"Disable the account {user.email}?" in confirm.text
    travel(seconds=reauth_ttl(realm) + 1)
    page = browser.submit(confirm, action="/status")
    assert is_reauth_page(page, admin), page.text
    back = follow_cancel(realm, browser, page)
    assert back.status == 200 and browser.left_to is None
    # The console's home (the user list), not the sensitive page.
    assert urlsplit(back.url).path == f"/realms/{realm.name}/admin/users", back.url
    assert user_facts(realm, user.email)[0] is False
    # The re-authentication is over: its form no longer leads to the action's page.
    late = browser.submit(page, {"password": admin.password})
    assert f"/admin/users/{user.id}" not in late.url, late.url
    assert user_facts(realm, user.email)[0] is False


def test_reauth_cancel_in_japanese_says_kyanseru(realm, travel):
    user = realm.user()
    _, browser = signed_in_admin(realm)
    travel(seconds=reauth_ttl(realm) + 1)
    page = browser.get(realm.url(f"admin/users/{user.id}/reset-2fa?lang=ja"))
    assert "本人確認" in page.text and 'name="password"' in page.text, page.text
    link = re.search(r'<a[^>]*id="cancel"[^>]*>(.*?)</a>', page.text, re.S)
    assert link and link.group(1).strip() == "キャンセル", page.text
    back = follow_cancel(realm, browser, page)
    assert urlsplit(back.url).path == f"/realms/{realm.name}/admin/users", back.url
    assert browser.left_to is None and 'lang="ja"' in back.text


def test_reauth_cancel_for_an_account_action_leads_to_the_account_page(realm, travel):
    user = realm.user(with_totp=True)
    browser = realm.browser()
    wait_for_step_room()
    account_sign_in(realm, browser, user, code=totp_code(user.totp_secret))
    travel(seconds=reauth_ttl(realm) + 1)
    page = browser.get(realm.url("account/two-factor/disable"))
    assert is_reauth_page(page, user), page.text
    back = follow_cancel(realm, browser, page)
    assert back.status == 200 and browser.left_to is None
    assert urlsplit(back.url).path == f"/realms/{realm.name}/account/", back.url
    assert 'name="password"' not in back.text  # still signed in, on the account page
    assert user_facts(realm, user.email)[2] is True
    late = browser.submit(page, {"password": user.password})
    assert not late.url.endswith("/two-factor/disable"), late.url
    assert user_facts(realm, user.email)[2] is True


def test_reauth_cancel_on_the_code_page_of_a_reauth(realm, travel):
    """A user with 2FA confirms with the password, then the code: the code page has the
    same Cancel, which ends the re-authentication there too."""
    user = realm.user(with_totp=True)
    browser = realm.browser()
    wait_for_step_room()
    account_sign_in(realm, browser, user, code=totp_code(user.totp_secret))
    travel(seconds=reauth_ttl(realm) + 1)
    page = browser.get(realm.url("account/two-factor/disable"))
    code_page = browser.submit(page, {"password": user.password})
    assert code_page.url.endswith("/totp") and 'name="code"' in code_page.text, code_page.text
    back = follow_cancel(realm, browser, code_page)
    assert urlsplit(back.url).path == f"/realms/{realm.name}/account/", back.url
    late = browser.submit(code_page, {"code": totp_code(user.totp_secret, 1)})
    assert not late.url.endswith("/two-factor/disable"), late.url
    assert user_facts(realm, user.email)[2] is True


def test_cancel_target_is_one_of_two_fixed_pages(realm):
    """Whatever the return path says, Cancel leads to the console's home or the account
    page of the realm, never to the return path itself nor off the realm."""
    from idp.web.login import cancel_target

    with realm.server.app.test_request_context():
        base = f"/realms/{realm.name}"
        with realm.server.app.app_context():
            db = get_session()
            row = db.get(Realm, realm.id)
            cases = {
                f"{base}/admin/users/1/disable": f"{base}/admin/",
                f"{base}/admin": f"{base}/admin/",
                f"{base}/admin/settings?x=1": f"{base}/admin/",
                f"{base}/administrator": f"{base}/account/",
                f"{base}/account/two-factor/disable": f"{base}/account/",
                "https://evil.example/realms/x/admin/": f"{base}/account/",
                "//evil.example/": f"{base}/account/",
                f"/realms/other{base}/admin/": f"{base}/account/",
                None: f"{base}/account/",
            }
            for return_to, expected in cases.items():
                assert cancel_target(row, return_to) == expected, return_to


def test_reauth_cancel_never_leads_off_the_realm(realm, travel):
    """The Cancel target is one of two fixed pages, whatever the return path says; a
    cancel of a sign-in that is not a re-authentication (an authorization request, a
    sign-in from a signed-out browser) does not end it."""
    user = realm.user()
    browser = realm.browser()
    # A signed-out browser opening the account page gets the plain sign-in: no Cancel.
    page = browser.get(realm.url("account/"))
    assert 'name="password"' in page.text and 'id="cancel"' not in page.text
    uid = re.search(r"/login/([^/]+)/password", page.url)
    assert uid, page.url
    # Its cancel address does not end it: the password still signs in.
    browser.get(realm.url(f"login/{uid.group(1)}/cancel"))
    done = browser.submit(page, {"email": user.email, "password": user.password})
    assert urlsplit(done.url).path == f"/realms/{realm.name}/account/", done.url
    assert 'name="password"' not in done.text
    # An unknown interaction: no redirect anywhere, no error.
    stranger = realm.browser()
    other = stranger.get(realm.url("login/nonexistent/cancel"))
    assert other.status < 500 and stranger.left_to is None
