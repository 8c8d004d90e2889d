"""The user's own two-factor settings through the account pages (SPEC E1-E7, B1-B7, D1-D2)
and the re-authentication that guards them (a password-only session of a user with 2FA
cannot change 2FA: the shape of Keycloak CVE-2023-3597)."""

from __future__ import annotations

import hashlib
import html
import re
import time
from datetime import UTC, datetime, timedelta
from typing import Any
from urllib.parse import parse_qs, unquote, urlsplit

import pyotp
import pytest
from sqlalchemy import select

from idp.db import Base
from idp.models import Authenticator, BackupCode
from idp.services.qr import qr_svg
from tests.helpers import Browser, Page, totp_code, wait_for_step_room
from tests.support.app_db import in_app
from tests.support.pages import csrf_token as _csrf
from tests.support.pages import error_text
from tests.support.signin import (
    account_sign_in,
    finish_tokens,
    is_code_page,
    make_rp,
    rfc6238,
    sign_in_with_backup_code,
    sign_in_with_totp,
    to_code_page,
    wrong_code,
)
from tests.support.two_factor_pages import (
    ENABLED,
    asks_for_code,
    backup_refused,
    enable_via_pages,
    field,
    is_reauth_page,
    new_user_enabled,
    open_two_factor,
    password_only_session,
    shown_codes,
)

pytestmark = pytest.mark.slow


def new_user_on_enable_page(realm: Any) -> tuple[Any, Browser, Page]:
    """A user without 2FA signs in on the account page and opens Enable."""
    user = realm.user()
    browser = realm.browser()
    home = account_sign_in(realm, browser, user)
    return user, browser, browser.get(open_two_factor(browser, home).link("Enable"))


def totp_refused(realm: Any, rp: Any, user: Any, code: str) -> bool:
    browser, _, page = to_code_page(realm, make_rp(realm, rp), user)
    page = browser.submit(page, {"code": code})
    return page.status == 401 and browser.left_to is None


def reauthenticate(browser: Browser, page: Page, user: Any, code: str) -> Page:
    """Pass the re-authentication a sensitive page asks for (password, then code)."""
    assert is_reauth_page(page, user), page.text
    page = browser.submit(page, {"password": user.password})
    assert is_code_page(page), page.text
    return browser.submit(page, {"code": code})


# -- E1-E7 ------------------------------------------------------------------------------------
def test_e1_each_user_enables_2fa_from_account_settings(realm, rp):
    other = realm.user()
    user = realm.user()
    browser = realm.browser()
    home = account_sign_in(realm, browser, user)
    assert "Account settings" in home.text
    menu = re.search(r'<nav aria-label="Account menu".*?</nav>', home.text, re.S)
    assert menu and "Two-factor authentication" in menu.group(0)
    page = open_two_factor(browser, home)
    assert "Two-factor authentication is not enabled." in page.text
    enable_via_pages(realm, browser, home)
    assert asks_for_code(realm, rp, user)
    assert not asks_for_code(realm, rp, other)  # per user


def test_e2_enable_page_shows_qr_of_otpauth_uri(realm):
    user, browser, page = new_user_on_enable_page(realm)
    key = field(page, "key").replace(" ", "")
    display = f"Test {realm.name}"
    expected = pyotp.TOTP(key).provisioning_uri(name=user.email, issuer_name=display)
    parts = urlsplit(expected)
    assert parts.scheme == "otpauth" and parts.netloc == "totp"
    assert unquote(parts.path) == f"/{display}:{user.email}"
    query = parse_qs(parts.query)
    assert query["issuer"] == [display] and query["secret"] == [key]
    svg = re.search(r"<svg.*?</svg>", page.text, re.S)
    assert svg, "no inline SVG QR code"
    # The QR code on the page is the drawing of exactly that URI.
    assert qr_svg(expected) in page.text
    assert qr_svg(expected.replace(user.email.split("@")[0], "someone-else")) not in page.text


def test_e3_account_and_grouped_key_shown_for_manual_entry(realm):
    user, browser, page = new_user_on_enable_page(realm)
    assert field(page, "account") == user.email
    grouped = field(page, "key")
    assert re.fullmatch(r"[A-Z2-7]{4}( [A-Z2-7]{4})+", grouped), grouped
    key = grouped.replace(" ", "")
    assert len(key) >= 32  # at least 160 bits
    assert "Account" in page.text and "Key" in page.text
    # The key typed by hand produces codes the page accepts.
    done = browser.submit(page, {"code": rfc6238(key, time.time())})
    assert ENABLED in done.text


def test_e4_only_a_correct_code_enables(realm, rp):
    user, browser, page = new_user_on_enable_page(realm)
    key = field(page, "key").replace(" ", "")
    for bad in (wrong_code(key), pyotp.TOTP(key).at(time.time() - 120), "", "12345", "abcdef"):
        page = browser.submit(page, {"code": bad})
        assert page.status == 400 and ENABLED not in page.text, bad
        assert "not right" in error_text(page)
    assert "Two-factor authentication is not enabled." in open_two_factor(browser, page).text
    assert not asks_for_code(realm, rp, user)  # nothing changed for the user
    # The key shown stays the same until verified, and the right code then enables.
    again = browser.get(realm.url("account/two-factor/enable"))
    assert field(again, "key").replace(" ", "") == key
    done = browser.submit(again, {"code": pyotp.TOTP(key).now()})
    assert ENABLED in done.text


def test_e5_success_says_enabled_and_offers_backup_codes(realm, rp):
    user, browser, key, codes, page = new_user_enabled(realm)
    assert ENABLED in page.text
    assert "Download backup codes" in page.text
    assert len(codes) == 10
    status = open_two_factor(browser, page)
    assert ENABLED in status.text and field(status, "unused-codes") == "10"
    assert asks_for_code(realm, rp, user)


def test_e6_rfc6238_sha1_six_digits_thirty_seconds_only(realm, rp):
    user, browser, page = new_user_on_enable_page(realm)
    key = field(page, "key").replace(" ", "")
    # The code of a plain RFC 6238 implementation (SHA-1, 6 digits, 30 s) is accepted...
    wait_for_step_room()
    done = browser.submit(page, {"code": rfc6238(key, time.time())})
    assert ENABLED in done.text
    # ...and at sign-in, the next 30 s step's code too.
    client = make_rp(realm, rp)
    b, flow, p = to_code_page(realm, client, user)
    b.submit(p, {"code": rfc6238(key, time.time() + 30)})
    finish_tokens(client, flow, b)
    # No other channel is offered: no SMS, no phone number, no voice call.
    for text in (page.text, done.text, open_two_factor(browser, done).text, p.text):
        lowered = text.lower()
        assert "sms" not in lowered and "phone number" not in lowered and "voice" not in lowered
    # Six digits, or two groups of three with one space or hyphen as apps show them (L2).
    assert 'maxlength="7"' in p.text and r'pattern="[0-9]{3}[ \-]?[0-9]{3}"' in p.text


def test_e7_enrolling_anew_replaces_key_and_backup_codes(realm, rp):
    user = realm.user(with_totp=True)
    old_key, old_codes = user.totp_secret, list(user.backup_codes)
    browser = realm.browser()
    home = account_sign_in(realm, browser, user, code=totp_code(old_key, 0))
    status = open_two_factor(browser, home)
    page = browser.get(status.link("Set up a new authenticator app"))
    assert "replaces your current authenticator app" in page.text
    new_key = field(page, "key").replace(" ", "")
    assert new_key != old_key
    done = browser.submit(page, {"code": pyotp.TOTP(new_key).now()})
    assert ENABLED in done.text
    new_codes = [c.replace("-", "") for c in shown_codes(done)]
    assert not set(new_codes) & set(old_codes)
    # The old key's unused code (next step) is refused; the new key's is accepted.
    assert totp_refused(realm, rp, user, totp_code(old_key, 1))
    assert backup_refused(realm, rp, user, old_codes[1])
    user.totp_secret = new_key
    _, _, claims, _ = sign_in_with_totp(realm, make_rp(realm, rp), user, offset=1)
    assert claims["amr"] == ["pwd", "otp", "mfa"]
    sign_in_with_backup_code(realm, make_rp(realm, rp), user, new_codes[0])


# -- sensitive actions need a recent sign-in with every factor --------------------------------
def test_e7_password_only_session_cannot_change_2fa_without_a_code(realm, rp):
    """Keycloak CVE-2023-3597 shape: a session that proved only the password must not
    reach enable, disable or new backup codes of a user who has 2FA."""
    user = realm.user(with_totp=True)
    key, codes = user.totp_secret, user.backup_codes
    browser = realm.browser()
    password_only_session(realm, browser, user)
    home = browser.get(realm.url("account/"))
    assert home.status == 200 and "Account settings" in home.text, home.text
    wait_for_step_room()
    for path in ("two-factor/disable", "two-factor/backup-codes", "two-factor/enable"):
        page = browser.get(realm.url(f"account/{path}"))
        assert is_reauth_page(page, user), path
        assert "Disable two-factor authentication?" not in page.text
        assert "Issue new backup codes?" not in page.text
        assert "<svg" not in page.text
    # Posting straight to the actions with a password-only session does not act either.
    token = _csrf(home)
    for path in ("two-factor/disable", "two-factor/backup-codes", "two-factor/enable"):
        page = browser.session.post(
            realm.url(f"account/{path}"),
            data={"csrf_token": token, "code": totp_code(key, 1)},
            allow_redirects=True,
            timeout=10,
        )
        assert "Confirm it's you" in html.unescape(page.text), path
        assert "<code>" not in page.text and ENABLED not in page.text
    assert asks_for_code(realm, rp, user)
    assert not backup_refused(realm, rp, user, codes[0])  # the set was not replaced
    # Re-authentication asks for the password and then the code, then opens the page.
    page = browser.get(realm.url("account/two-factor/disable"))
    page = browser.submit(page, {"password": user.password})
    assert is_code_page(page), page.text
    page = browser.submit(page, {"code": totp_code(key, 1)})
    assert "Disable two-factor authentication?" in page.text


def test_e7_fresh_two_factor_session_opens_sensitive_pages(realm):
    user = realm.user(with_totp=True)
    browser = realm.browser()
    account_sign_in(realm, browser, user, code=totp_code(user.totp_secret, 0))
    page = browser.get(realm.url("account/two-factor"))
    assert ENABLED in page.text
    # A 2FA sign-in is fresh: the sensitive pages open.
    assert "Disable two-factor authentication?" in browser.get(page.link("Disable")).text


@pytest.mark.settings(reauth_ttl=2)
def test_d1_session_older_than_reauth_ttl_must_reauthenticate(realm):
    user = realm.user(with_totp=True)
    browser = realm.browser()
    home = account_sign_in(realm, browser, user, code=totp_code(user.totp_secret, 0))
    assert "Account settings" in home.text
    time.sleep(3.1)
    for path in ("two-factor/disable", "two-factor/backup-codes", "two-factor/enable"):
        page = browser.get(realm.url(f"account/{path}"))
        assert is_reauth_page(page, user), path
    page = browser.get(realm.url("account/two-factor/backup-codes"))
    page = browser.submit(page, {"password": user.password})
    assert is_code_page(page)
    page = browser.submit(page, {"code": totp_code(user.totp_secret, 1)})
    assert "Issue new backup codes?" in page.text


# -- B1-B7 ------------------------------------------------------------------------------------
def test_b1_ten_codes_of_eight_digits_each_usable_once(realm, rp):
    user, browser, key, codes, page = new_user_enabled(realm)
    shown = shown_codes(page)
    assert len(shown) == 10 and len(set(shown)) == 10
    assert all(re.fullmatch(r"[0-9]{4}-[0-9]{4}", c) for c in shown), shown
    assert all(re.fullmatch(r"[0-9]{8}", c) for c in codes)
    sign_in_with_backup_code(realm, make_rp(realm, rp), user, codes[0])
    assert backup_refused(realm, rp, user, codes[0])


def _download(browser: Browser, page: Page) -> Any:
    return browser.submit(page, action="/backup-codes/download")


def test_b2_download_names_realm_account_and_date(realm):
    user, browser, key, codes, page = new_user_enabled(realm)
    # The date as every page and mail writes it (English: "Dec 7, 2026, 3:57 AM").
    today = {
        f"Issued: {d:%b} {d.day}, {d.year}, "
        for d in (datetime.now(UTC), datetime.now(UTC) - timedelta(minutes=1))
    }
    got = _download(browser, page)
    resp = got.response
    assert resp.status_code == 200
    assert resp.headers["Content-Type"].startswith("text/plain")
    assert resp.headers["Content-Disposition"].startswith("attachment")
    assert "no-store" in resp.headers["Cache-Control"]
    text = resp.text
    assert f"Test {realm.name}" in text
    assert user.email in text
    assert any(day in text for day in today)
    for code in codes:
        assert f"{code[:4]}-{code[4:]}" in text
    # The 2FA page never shows the codes again.
    status = open_two_factor(browser, page)
    assert not any(c in status.text or f"{c[:4]}-{c[4:]}" in status.text for c in codes)


def test_b3_new_set_invalidates_old_codes(realm, rp):
    user = realm.user(with_totp=True)
    old = list(user.backup_codes)
    # One old code is used, the rest are not: all of them stop working.
    sign_in_with_backup_code(realm, make_rp(realm, rp), user, old[0])
    browser = realm.browser()
    home = account_sign_in(realm, browser, user, code=totp_code(user.totp_secret, 0))
    status = open_two_factor(browser, home)
    confirm = browser.get(status.link("Download backup codes"))
    assert "Issue new backup codes?" in confirm.text
    page = browser.submit(confirm)
    assert "New backup codes" in page.text
    new = [c.replace("-", "") for c in shown_codes(page)]
    assert len(new) == 10 and not set(new) & set(old)
    for code in (old[0], old[1], old[9]):
        assert backup_refused(realm, rp, user, code)
    # Downloading the old set gives no file any more.
    stale = browser.session.post(
        realm.url("account/two-factor/backup-codes/download"),
        data=[("csrf_token", _csrf(page)), *[("code", c) for c in old]],
        allow_redirects=True,
        timeout=10,
    )
    assert "attachment" not in stale.headers.get("Content-Disposition", "")
    assert "no longer valid" in stale.text
    sign_in_with_backup_code(realm, make_rp(realm, rp), user, new[0])


def test_b4_all_backup_codes_invalid_after_disable(realm, rp):
    user, browser, key, codes, page = new_user_enabled(realm)
    status = open_two_factor(browser, page)
    # The session that enabled 2FA typed a code of the new key: within its
    # re-authentication window, disabling asks for no other code.
    confirm = browser.get(status.link("Disable"))
    assert "Disable two-factor authentication?" in confirm.text, confirm.text
    browser.submit(confirm)
    assert not asks_for_code(realm, rp, user)
    # Enabling again later does not revive the earlier codes.
    key2, codes2, done = enable_via_pages(realm, browser, status)
    user.totp_secret = key2
    for code in codes[:3]:
        assert backup_refused(realm, rp, user, code)
    sign_in_with_backup_code(realm, make_rp(realm, rp), user, codes2[0])


def test_b5_unused_count_shown_and_warning_when_few_left(realm, rp):
    user = realm.user(with_totp=True)
    client = make_rp(realm, rp)
    browser = realm.browser()
    account_sign_in(realm, browser, user, code=totp_code(user.totp_secret, 0))
    page = browser.get(realm.url("account/two-factor"))
    assert field(page, "unused-codes") == "10"
    assert "Issue a new set" not in page.text
    for code in user.backup_codes[:6]:
        sign_in_with_backup_code(realm, client, user, code)
    page = browser.get(realm.url("account/two-factor"))
    assert field(page, "unused-codes") == "4" and "Issue a new set" not in page.text
    sign_in_with_backup_code(realm, client, user, user.backup_codes[6])
    page = browser.get(realm.url("account/two-factor"))
    assert field(page, "unused-codes") == "3"
    assert "Only 3 unused backup codes left. Issue a new set." in page.text
    assert page.link("Download backup codes")


def test_b6_backup_code_sign_in_tells_user_to_set_up_again(realm, rp):
    user = realm.user(with_totp=True)
    client = make_rp(realm, rp)
    browser, flow, page = to_code_page(realm, client, user)
    page = browser.get(page.link("Use a backup code instead"))
    notice = browser.submit(page, {"code": user.backup_codes[0]})
    assert browser.left_to is None
    assert "signed in with a backup code" in notice.text
    assert re.search(r'id="codes-left">9<', notice.text)
    assert "temporary way in" in notice.text
    words = " ".join(notice.text.split())
    assert "disable two-factor authentication and set it up again as soon as possible" in words
    browser.submit(notice)  # Continue
    _, claims, _ = finish_tokens(client, flow, browser)
    assert claims["amr"] == ["pwd", "mfa", "backup_code"]


def _all_stored_text(realm: Any) -> str:
    def dump(db: Any) -> str:
        parts = []
        for table in Base.metadata.sorted_tables:
            for row in db.execute(select(table)).all():
                parts.append(" ".join(str(v) for v in row))
        return "\n".join(parts)

    return in_app(realm, dump)


def test_b7_backup_codes_and_totp_keys_not_readable_from_the_database(realm, rp):
    user, browser, key, codes, page = new_user_enabled(realm)
    stored = _all_stored_text(realm)
    for code in codes:
        assert code not in stored
        assert f"{code[:4]}-{code[4:]}" not in stored
        assert hashlib.sha256(code.encode()).hexdigest() not in stored
        assert hashlib.sha256(f"{code[:4]}-{code[4:]}".encode()).hexdigest() not in stored
    assert key not in stored and key.lower() not in stored

    def rows(db: Any) -> tuple[list[str], list[str | None]]:
        digests = db.scalars(select(BackupCode.digest).where(BackupCode.user_id == user.id))
        secrets_ = db.scalars(
            select(Authenticator.secret_encrypted).where(
                Authenticator.user_id == user.id, Authenticator.type == "totp"
            )
        )
        return list(digests), list(secrets_)

    digests, secrets_ = in_app(realm, rows)
    assert len(digests) == 10 and len(set(digests)) == 10
    assert secrets_ and all(s and key not in s for s in secrets_)


# -- D1, D2 -----------------------------------------------------------------------------------
def test_d1_disable_needs_a_confirmation_step(realm, rp):
    user = realm.user(with_totp=True)
    browser = realm.browser()
    home = account_sign_in(realm, browser, user, code=totp_code(user.totp_secret, 0))
    status = open_two_factor(browser, home)
    confirm = browser.get(status.link("Disable"))
    assert confirm.status == 200 and "Disable two-factor authentication?" in confirm.text
    # Opening the confirmation changes nothing; Cancel leads back.
    back = browser.get(confirm.link("Cancel"))
    assert ENABLED in back.text
    assert asks_for_code(realm, rp, user)
    done = browser.submit(browser.get(back.link("Disable")))
    assert "Two-factor authentication is disabled." in done.text
    assert "Two-factor authentication is not enabled." in done.text


def test_d2_after_disable_password_alone_signs_in(realm, rp):
    user = realm.user(with_totp=True)
    browser = realm.browser()
    home = account_sign_in(realm, browser, user, code=totp_code(user.totp_secret, 0))
    status = open_two_factor(browser, home)
    browser.submit(browser.get(status.link("Disable")))
    client = make_rp(realm, rp)
    b, flow, page = to_code_page(realm, client, user)
    assert b.left_to and b.left_to.startswith(rp.redirect_uri), page.text
    _, claims, at = finish_tokens(client, flow, b)
    assert claims["amr"] == ["pwd"] and claims["acr"] == "1" and at["acr"] == "1"
    # Backup codes are no longer anything: re-enabling does not bring them back.
    key, codes, _ = enable_via_pages(realm, browser, status)
    user.totp_secret = key
    assert backup_refused(realm, rp, user, user.backup_codes[0])
