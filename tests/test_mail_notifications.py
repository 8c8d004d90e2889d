"""Security notifications by mail (SPEC P7, issue 9 "What is sent"): 2FA enabled, disabled by
the user, reset by an admin or the operator, a backup code used (with the count left), a new
set of codes, the password changed (by the user, an admin or the operator). Each event, done
the way a user, an admin or the operator does it (the account pages, the console, the ``idp``
command), gives exactly one message to the user's address saying when, from which address and
what to do if it wasn't them, in the language the user uses the pages in. A refused action
sends nothing.

Mail goes through a real SMTP server on loopback (the ``mailbox`` fixture)."""

from __future__ import annotations

from typing import Any
from urllib.parse import urljoin

import pyotp
import pytest

from idp.models import User
from tests.helpers import Browser, Page, run_idp, totp_code
from tests.support.app_db import in_app
from tests.support.console import NEW_PASSWORD, admin_browser
from tests.support.pages import csrf_token as _csrf
from tests.support.password_change import NEW_PASSPHRASE as NEW
from tests.support.password_change import change_password as _change
from tests.support.password_change import password_page as _password_page
from tests.support.signin import (
    account_sign_in,
    make_rp,
    sign_in_with_backup_code,
    to_code_page,
    wrong_code,
)
from tests.support.two_factor_pages import (
    enable_via_pages,
    field,
    new_user_enabled,
    open_two_factor,
)
from tests.support.two_factor_pages import issue_new_codes as _issue_new_codes

pytestmark = pytest.mark.slow

ADDRESS = "127.0.0.1"  # the live server sees the test's requests come from loopback
ENABLED = "Two-factor authentication was turned on"
DISABLED = "Two-factor authentication was turned off"
RESET = "Your two-factor authentication was reset"
BACKUP_USED = "A backup code was used to sign in"
NEW_CODES = "New backup codes were issued"
PASSWORD = "Your password was changed"
IF_NOT_YOU = "If this wasn't you"


def _subjects(mailbox: Any, user: Any) -> list[str]:
    return [m.subject for m in mailbox.to(user.email)]


def _count(mailbox: Any, user: Any, subject: str) -> int:
    return sum(subject in s for s in _subjects(mailbox, user))


def _both(mail: Any, *needles: str) -> None:
    """Each text is in the plain-text part and in the HTML part."""
    import html

    for needle in needles:
        assert needle in mail.text, (needle, mail.text)
        assert needle in html.unescape(mail.html), (needle, mail.html)


def _link_to(page: Page, fragment: str) -> str:
    """The page's link whose target contains ``fragment`` (whatever the page's language)."""
    for _label, href in page.links:
        if fragment in href:
            return urljoin(page.url, href)
    raise AssertionError(f"no link to {fragment} on {page.url}: {page.links}")


def _signed_in_with_totp(realm: Any) -> tuple[Any, Browser, Page]:
    user = realm.user(with_totp=True)
    browser = realm.browser()
    home = account_sign_in(realm, browser, user, code=totp_code(user.totp_secret, 0))
    return user, browser, home


def _user_locale(realm: Any, user: Any) -> str | None:
    return in_app(realm, lambda db: db.get(User, user.id).locale)


# -- 2FA enabled -------------------------------------------------------------------------------
def test_p7_enabling_2fa_sends_one_message(realm, mailbox):
    """Enabling on the account page: one message (the new backup codes that come with it
    are part of it, not a second message), with the time, the address and what to do."""
    user, browser, key, codes, page = new_user_enabled(realm)
    mail = mailbox.one(user.email, ENABLED)
    assert _subjects(mailbox, user) == [mail.subject], "exactly one message for the event"
    assert mail.subject == f"{ENABLED} (Test {realm.name})"
    _both(mail, f"Test {realm.name}", ADDRESS, "backup codes", IF_NOT_YOU, "reset your password")
    assert f"{realm.base}/realms/{realm.name}/account/" in mail.links()
    assert "UTC" in mail.text  # when: the time and its zone


def test_p7_wrong_code_on_enable_sends_nothing(realm, mailbox):
    user = realm.user()
    browser = realm.browser()
    home = account_sign_in(realm, browser, user)
    page = browser.get(open_two_factor(browser, home).link("Enable"))
    refused = browser.submit(page, {"code": "000000"})
    assert refused.status == 400
    assert _subjects(mailbox, user) == []


# -- 2FA disabled by the user ------------------------------------------------------------------
def test_p7_disabling_2fa_sends_one_message(realm, mailbox):
    user, browser, home = _signed_in_with_totp(realm)
    before = _count(mailbox, user, DISABLED)
    confirm = browser.get(open_two_factor(browser, home).link("Disable"))
    done = browser.submit(confirm)
    assert done.status == 200 and "Two-factor authentication is disabled." in done.text
    assert before == 0 and _count(mailbox, user, DISABLED) == 1
    mail = mailbox.one(user.email, DISABLED)
    _both(mail, ADDRESS, "only your password", "reset your password", "administrator")


def test_p7_disable_refused_by_policy_sends_nothing(realm, mailbox):
    """SPEC P5: where 2FA is required the user can't disable it, and no mail says so."""
    user, browser, home = _signed_in_with_totp(realm)
    realm.set_policy(require_2fa="all")
    status = browser.get(realm.url("account/two-factor"))
    resp = browser.session.post(
        realm.url("account/two-factor/disable"),
        data={"csrf_token": _csrf(status)},
        allow_redirects=True,
        timeout=30,
    )
    assert resp.status_code == 200 and "is not enabled" not in resp.text
    assert _count(mailbox, user, DISABLED) == 0
    assert _subjects(mailbox, user) == [f"{ENABLED} (Test {realm.name})"]  # from set-up only


# -- 2FA reset by an admin or the operator -----------------------------------------------------
def test_p7_admin_reset_in_the_console_sends_one_message(realm, mailbox):
    user = realm.user(with_totp=True)
    _admin, browser, _ = admin_browser(realm)
    confirm = browser.get(realm.url(f"admin/users/{user.id}/reset-2fa"))
    browser.submit(confirm)
    assert _count(mailbox, user, RESET) == 1
    mail = mailbox.one(user.email, RESET)
    _both(mail, "An administrator reset", ADDRESS, "contact your administrator")


def test_p7_operator_reset_from_the_cli_sends_one_message(realm, server, mailbox):
    user = realm.user(with_totp=True)
    result = run_idp(server, "user", "reset-2fa", "--realm", realm.name, user.email)
    assert result.returncode == 0, result.stderr
    mail = mailbox.one(user.email, RESET)
    _both(mail, "The operator of the service reset", "command line", "contact your administrator")
    # Resetting a user who has no 2FA any more changes nothing and says nothing.
    again = run_idp(server, "user", "reset-2fa", "--realm", realm.name, user.email)
    assert again.returncode == 0, again.stderr
    assert _count(mailbox, user, RESET) == 1


# -- backup codes ------------------------------------------------------------------------------
def test_p7_backup_code_used_says_how_many_are_left(realm, rp, mailbox):
    user = realm.user(with_totp=True)
    client = make_rp(realm, rp)
    sign_in_with_backup_code(realm, client, user, user.backup_codes[0])
    mail = mailbox.one(user.email, BACKUP_USED)
    _both(mail, ADDRESS, "You have 9 unused backup codes left.", "reset your password")
    sign_in_with_backup_code(realm, client, user, user.backup_codes[1])
    texts = [m.text for m in mailbox.to(user.email) if BACKUP_USED in m.subject]
    assert len(texts) == 2 and "You have 8 unused backup codes left." in texts[1]


def test_p7_wrong_backup_code_sends_nothing(realm, rp, mailbox):
    user = realm.user(with_totp=True)
    browser, _flow, page = to_code_page(realm, make_rp(realm, rp), user)
    page = browser.get(page.link("Use a backup code instead"))
    refused = browser.submit(page, {"code": "aaaa-bbbb"})
    assert refused.status == 401
    wrong = browser.get(page.url)
    browser.submit(wrong, {"code": wrong_code(user.totp_secret)})
    assert _count(mailbox, user, BACKUP_USED) == 0


def test_p7_new_set_of_backup_codes_sends_one_message(realm, mailbox):
    user, browser, _home = _signed_in_with_totp(realm)
    page = _issue_new_codes(browser, realm)
    assert "New backup codes" in page.text
    mail = mailbox.one(user.email, NEW_CODES)
    _both(mail, ADDRESS, "Earlier backup codes no longer work", IF_NOT_YOU)
    # A reload of the codes page issues no set, and so sends nothing.
    browser.get(page.url)
    assert _count(mailbox, user, NEW_CODES) == 1


# -- password changed --------------------------------------------------------------------------
def test_p7_user_changes_password_one_message(realm, mailbox):
    user = realm.user()
    browser = realm.browser()
    account_sign_in(realm, browser, user)
    page = _password_page(realm, browser)
    refused = _change(browser, page, "not the password", NEW)
    assert refused.status in (400, 401)
    assert _count(mailbox, user, PASSWORD) == 0, "a refused change sends nothing"
    done = _change(browser, _password_page(realm, browser), user.password, NEW)
    assert done.status == 200
    mail = mailbox.one(user.email, PASSWORD)
    _both(mail, ADDRESS, "was changed", "reset it now", "administrator")


def test_p7_admin_sets_password_one_message(realm, mailbox):
    user = realm.user()
    _admin, browser, _ = admin_browser(realm)
    detail = browser.get(realm.url(f"admin/users/{user.id}"))
    browser.submit(detail, {"password": "short"}, action="/password")
    assert _count(mailbox, user, PASSWORD) == 0, "a password the rules refuse sends nothing"
    browser.submit(detail, {"password": NEW_PASSWORD}, action="/password")
    mail = mailbox.one(user.email, PASSWORD)
    _both(mail, "An administrator set a new password", ADDRESS, "contact your administrator")


def test_p7_operator_sets_password_one_message(realm, server, mailbox):
    user = realm.user()
    result = run_idp(
        server,
        "user",
        "set-password",
        "--realm",
        realm.name,
        "--password-stdin",
        user.email,
        stdin=NEW_PASSWORD + "\n",
    )
    assert result.returncode == 0, result.stderr
    mail = mailbox.one(user.email, PASSWORD)
    _both(mail, "The operator of the service set a new password", "contact your administrator")


# -- the user's language (issue 9: mail in the language the user uses the pages in) ----------
def test_locale_recorded_at_sign_in_and_mail_in_japanese(realm, mailbox):
    user = realm.user()
    assert _user_locale(realm, user) is None
    browser = realm.browser()
    browser.session.headers["Accept-Language"] = "ja"
    home = account_sign_in(realm, browser, user)
    assert _user_locale(realm, user) == "ja"
    enable_via_pages_ja(browser, home)
    mail = mailbox.one(user.email, "2要素認証が有効になりました")
    assert mail.message["Subject"].startswith("2要素認証が有効になりました")
    _both(mail, "2要素認証が", ADDRESS, "お心当たりがない場合")
    assert IF_NOT_YOU not in mail.text


def enable_via_pages_ja(browser: Browser, home: Page) -> None:
    """``enable_via_pages`` on Japanese pages (links found by their target)."""
    page = browser.get(_link_to(browser.get(_link_to(home, "/account/two-factor")), "/enable"))
    key = field(page, "key").replace(" ", "")
    done = browser.submit(page, {"code": pyotp.TOTP(key).now()})
    assert done.status == 200 and 'lang="ja"' in done.text, done.text


def test_locale_follows_the_switch_on_the_account_pages(realm, mailbox):
    user = realm.user()
    browser = realm.browser()
    account_sign_in(realm, browser, user)
    assert _user_locale(realm, user) == "en"
    browser.get(realm.url("account/?lang=ja"))
    assert _user_locale(realm, user) == "ja"
    page = browser.get(realm.url("account/password"))
    browser.submit(
        page,
        {"current_password": user.password, "new_password": NEW, "confirm_password": NEW},
        action="/account/password",
    )
    mail = mailbox.one(user.email, "パスワード")
    _both(mail, "パスワードが", ADDRESS)
    browser.get(realm.url("account/?lang=en"))
    assert _user_locale(realm, user) == "en"


def test_backup_code_mail_in_the_sign_ins_language(realm, rp, mailbox):
    """A sign-in in Japanese (ui_locales) with a backup code: the mail is in Japanese, though
    the user's recorded language was English until this sign-in finished."""
    user = realm.user(with_totp=True)
    in_app(realm, lambda db: setattr(db.get(User, user.id), "locale", "en"))
    browser, _flow, page = to_code_page(realm, make_rp(realm, rp), user, ui_locales="ja")
    page = browser.get(_link_to(page, "/backup-code"))
    notice = browser.submit(page, {"code": user.backup_codes[0]})
    assert notice.status == 200 and 'lang="ja"' in notice.text
    mail = mailbox.one(user.email, "バックアップコード")
    _both(mail, "未使用のバックアップコードは残り9個です。", ADDRESS)


def test_enabling_again_replaces_the_app_one_message_each_time(realm, mailbox):
    user, browser, key, codes, page = new_user_enabled(realm)
    enable_via_pages(realm, browser, page)
    subjects = _subjects(mailbox, user)
    assert len(subjects) == 2 and all(ENABLED in s for s in subjects)
    last = mailbox.smtp.to(user.email)[-1]
    _both(last, "authenticator app of your", "was replaced", ADDRESS)
