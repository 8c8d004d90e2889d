"""Enrolling on the phone that holds the authenticator app (issue 15, "First use"): the QR
code cannot be scanned from the same screen, so both enrolment pages (inside the sign-in and
on the account page) offer an "Open in authenticator app" link (the ``otpauth://`` URI) and a
copy button for the key, and at phone width the app path comes before the security-key
block (the seed recommends an authenticator app). Debian's chromium at 390 px, with the
clipboard permitted; the enrolment is finished with a code made from the link's secret, as
the app the link opened would make it."""

from __future__ import annotations

import pyotp
import pytest
from playwright.sync_api import Page, expect

from tests.browser_support import SHOTS, expect_at_rp, scan_qr, shown_key, sign_in_with_password

pytestmark = [pytest.mark.browser, pytest.mark.settings(localhost=True)]

PHONE_390 = {"width": 390, "height": 844}
COPIED = "The key is copied. Paste it into your authenticator app."


def _phone(new_context, origin: str, **options) -> Page:  # the fixture
    page = new_context(viewport=PHONE_390, is_mobile=True, has_touch=True, **options)
    page.context.grant_permissions(["clipboard-read", "clipboard-write"], origin=origin)
    return page


def _app_link_secret(page: Page) -> pyotp.TOTP:
    """The link an authenticator app would open: a TOTP URI whose secret is the shown key."""
    link = page.get_by_role("link", name="Open in authenticator app")
    expect(link).to_be_visible()
    href = link.get_attribute("href")
    assert href and href.startswith("otpauth://totp/"), href
    app = pyotp.parse_uri(href)
    assert isinstance(app, pyotp.TOTP) and app.digits == 6 and app.interval == 30, href
    assert app.secret == shown_key(page)
    return app


def _fits_390(page: Page) -> None:
    width = page.evaluate("document.documentElement.scrollWidth")
    assert width <= PHONE_390["width"], f"{page.url} is {width}px wide at 390 px"


def _copies_the_key(page: Page, key: str) -> None:
    page.get_by_role("button", name="Copy key").click()
    expect(page.locator("#copy-key-status")).to_have_text(COPIED)
    assert page.evaluate("navigator.clipboard.readText()") == key  # no grouping spaces


def test_enrolment_inside_the_sign_in_on_a_phone(realm, test_rp, new_context):
    realm.set_policy(require_2fa="all")
    user = realm.user()
    page = _phone(new_context, realm.base)
    page.goto(test_rp.login_url)
    sign_in_with_password(page, user.email, user.password)
    expect(page.get_by_role("heading", name="Set up two-factor authentication")).to_be_visible()
    app = _app_link_secret(page)
    assert scan_qr(page).secret == app.secret  # the QR code holds the same key

    # The app path (QR code, link, key) comes before the security-key block.
    key_block = page.locator("#enrol-key")
    expect(key_block.get_by_role("heading", name="Use a security key or passkey")).to_be_visible()
    key_top = key_block.bounding_box()["y"]
    for part in (".qr", "#open-in-app", "#key", "#copy-key", "#code"):
        box = page.locator(part).bounding_box()
        assert box["y"] + box["height"] <= key_top, (part, box, key_top)
    _fits_390(page)
    SHOTS.mkdir(parents=True, exist_ok=True)
    page.screenshot(path=str(SHOTS / "phone-enrolment-390.png"), full_page=True)

    _copies_the_key(page, app.secret)
    page.get_by_label("Security code").fill(app.now())
    page.get_by_role("button", name="Verify").click()
    expect(
        page.get_by_role("heading", name="Two-factor authentication is enabled.")
    ).to_be_visible()
    page.get_by_role("button", name="Continue").click()
    line = expect_at_rp(page, test_rp, user.email)
    assert "otp" in line and "acr=2" in line, line


def test_enrolment_on_the_account_page_on_a_phone_in_japanese(realm, new_context):
    user = realm.user()
    page = _phone(new_context, realm.base)
    page.goto(realm.url("account/two-factor"))
    sign_in_with_password(page, user.email, user.password)
    page.goto(realm.url("account/two-factor/enable?lang=ja"))
    link = page.get_by_role("link", name="認証アプリで開く")
    expect(link).to_be_visible()
    app = pyotp.parse_uri(link.get_attribute("href"))
    assert app.secret == shown_key(page)
    page.get_by_role("button", name="キーをコピー").click()
    expect(page.locator("#copy-key-status")).to_have_text(
        "キーをコピーしました。認証アプリに貼り付けてください。"
    )
    assert page.evaluate("navigator.clipboard.readText()") == app.secret
    _fits_390(page)
    page.screenshot(path=str(SHOTS / "phone-enable-390.ja.png"), full_page=True)
    page.locator("#code").fill(app.now())
    page.get_by_role("button", name="認証する").click()
    expect(page.locator("#backup-codes")).to_be_visible()


def test_without_javascript_the_key_stays_and_no_dead_button(realm, new_context):
    """The copy button needs a script: without one it is not shown, and the key and the
    link (plain HTML) still are."""
    user = realm.user()
    page = new_context(viewport=PHONE_390, is_mobile=True, java_script_enabled=False)
    page.goto(realm.url("account/two-factor"))
    sign_in_with_password(page, user.email, user.password)
    page.goto(realm.url("account/two-factor/enable"))
    app = _app_link_secret(page)
    expect(page.get_by_role("button", name="Copy key")).to_be_hidden()
    expect(page.locator("#key code")).to_have_text(
        " ".join(app.secret[i : i + 4] for i in range(0, len(app.secret), 4))
    )
