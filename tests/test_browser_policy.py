"""Real-browser stories of the sign-in policy (SPEC P1-P8): Debian's chromium driven by
Playwright against the live provider and the Authlib relying party of tests/rp_app.py.

- P1/P3: an application (or the realm) requires two-factor authentication of a user who has
  none: enrolment happens inside the sign-in, and the application gets acr "2".
- P3: a password-only session asked for acr "2" steps up with the code alone.
- P8: "Trust this browser" stands in for the code at the next sign-in.

Chromium is required: if it is missing these tests fail (CI installs it), they never skip."""

from __future__ import annotations

import re
import time
from collections.abc import Iterator
from pathlib import Path

import pyotp
import pytest
from playwright.sync_api import Page, expect

from tests.browser_support import (
    PHONE,
    SHOTS,
    acr_of,
    amr_of,
    axe_violations,
    expect_at_rp,
    fits_the_screen,
    open_menu_item,
    scan_qr,
    shown_key,
    sign_in_with_password,
    wrong_code,
)
from tests.rp_app import RunningRP, start_rp

pytestmark = pytest.mark.browser

ENROL_HEADING = "Set up two-factor authentication"
CODE_HEADING = "Two-factor authentication"
ENABLED_HEADING = "Two-factor authentication is enabled."


@pytest.fixture
def strict_rp(realm) -> Iterator[RunningRP]:
    """The test RP registered as a client that requires two-factor authentication (P1)."""
    rp = start_rp(realm, require_2fa=True)
    yield rp
    rp.stop()


def _documents(page: Page) -> list[str]:
    """Every URL the page loads as a document from now on (redirect hops included)."""
    seen: list[str] = []
    page.on("request", lambda r: seen.append(r.url) if r.resource_type == "document" else None)
    return seen


def test_p1_p3_forced_enrolment_inside_sign_in_ends_at_rp_with_acr_2(
    realm, strict_rp, new_context, axe_source
):
    """P1/P3: the application requires 2FA, the user has none: after the password the user
    sets it up on the phone (QR code, wrong code, right code), sees the 10 backup codes
    once, presses Continue and arrives at the application with acr "2"."""
    user = realm.user()
    # A phone (most people enrol on one); the CSP is bypassed only so that axe can run.
    page = new_context(viewport=PHONE, is_mobile=True, bypass_csp=True)
    found: list[str] = []
    page.goto(strict_rp.login_url)
    sign_in_with_password(page, user.email, user.password)

    expect(page.get_by_role("heading", name=ENROL_HEADING)).to_be_visible()
    assert page.url.startswith(realm.url("login/")) and page.url.endswith("/enrol"), page.url
    expect(page.locator("#enrol-reason")).to_contain_text(
        "The application you are signing in to requires two-factor authentication"
    )
    expect(page.get_by_role("button", name="Later")).to_have_count(0)
    expect(page.locator("#account")).to_have_text(user.email)
    SHOTS.mkdir(parents=True, exist_ok=True)
    page.screenshot(path=str(SHOTS / "sign-in-enrol.png"), full_page=True)
    fits_the_screen(page)
    found += axe_violations(page, axe_source)

    app = scan_qr(page, "sign-in-enrol-qr.png")
    assert app.secret == shown_key(page) and app.name == user.email
    assert app.digits == 6 and app.interval == 30 and app.issuer

    # A wrong code: the same page again with the error, the same key, nothing enabled.
    page.get_by_label("Security code").fill(wrong_code(app))
    page.get_by_role("button", name="Verify").click()
    expect(page.locator("#error")).to_be_visible()
    expect(page.get_by_role("heading", name=ENROL_HEADING)).to_be_visible()
    assert shown_key(page) == app.secret
    fits_the_screen(page)
    found += axe_violations(page, axe_source)

    page.get_by_label("Security code").fill(app.now())
    page.get_by_role("button", name="Verify").click()
    expect(page.get_by_role("heading", name=ENABLED_HEADING)).to_be_visible()
    shown = [c.strip() for c in page.locator("#backup-codes li").all_inner_texts()]
    assert len(shown) == 10 and len(set(shown)) == 10, shown
    fits_the_screen(page)
    found += axe_violations(page, axe_source)
    with page.expect_download() as info:
        page.get_by_role("button", name="Download backup codes").click()
    text = Path(info.value.path()).read_text(encoding="utf-8")
    # The same file as the account page's: numbered 1 to 10, named after realm and account.
    listed = re.findall(r"^\s*(\d+)\. (\d{4}-\d{4})$", text, flags=re.MULTILINE)
    assert [int(n) for n, _c in listed] == list(range(1, 11)), text
    assert sorted(c for _n, c in listed) == sorted(shown), text
    assert info.value.suggested_filename.startswith(f"backup-codes-{realm.name}-"), text

    page.get_by_role("button", name="Continue").click()
    line = expect_at_rp(page, strict_rp, user.email)
    assert acr_of(line) == "2", line
    assert sorted(amr_of(line)) == ["mfa", "otp", "pwd"], line
    assert found == [], "\n".join(found)


def test_p1_realm_requiring_2fa_of_all_enrols_at_sign_in_with_the_typed_key(
    realm, test_rp, new_context
):
    """P1: the realm requires 2FA of everyone (no grace period): a user without a factor
    signing in to an ordinary application enrols first; here the key is typed by hand."""
    realm.set_policy(require_2fa="all")
    user = realm.user()
    page = new_context()
    page.goto(test_rp.login_url)
    sign_in_with_password(page, user.email, user.password)
    expect(page.get_by_role("heading", name=ENROL_HEADING)).to_be_visible()
    expect(page.locator("#enrol-reason")).to_contain_text(
        "requires two-factor authentication. Set it up now to continue."
    )
    expect(page.get_by_role("button", name="Later")).to_have_count(0)
    page.get_by_label("Security code").fill(pyotp.TOTP(shown_key(page)).now())
    page.get_by_role("button", name="Verify").click()
    expect(page.get_by_role("heading", name=ENABLED_HEADING)).to_be_visible()
    page.get_by_role("button", name="Continue").click()
    line = expect_at_rp(page, test_rp, user.email)
    assert acr_of(line) == "2", line
    assert sorted(amr_of(line)) == ["mfa", "otp", "pwd"], line


def test_p3_step_up_asks_only_for_the_code(realm, test_rp, new_context):
    """P3: a browser signed in with a password only (2FA was enabled afterwards, in this
    browser, which stays signed in) is asked by the application for acr "2": only the
    security code page, no password, and the application gets acr "2"."""
    user = realm.user()
    page = new_context()
    page.goto(test_rp.login_url)
    sign_in_with_password(page, user.email, user.password)
    line = expect_at_rp(page, test_rp, user.email)
    assert acr_of(line) == "1" and amr_of(line) == ["pwd"], line

    page.goto(realm.url("account/two-factor"))
    page.get_by_role("link", name="Enable", exact=True).click()
    expect(page.get_by_role("heading", name=ENROL_HEADING)).to_be_visible()
    app = scan_qr(page)
    page.get_by_label("Security code").fill(app.now())
    page.get_by_role("button", name="Verify").click()
    expect(page.get_by_role("heading", name=ENABLED_HEADING)).to_be_visible()

    loaded = _documents(page)
    page.goto(f"{test_rp.login_url}?acr_values=2")
    expect(page.get_by_role("heading", name=CODE_HEADING, exact=True)).to_be_visible()
    assert page.url.endswith("/totp"), page.url
    expect(page.locator("input[type=password]")).to_have_count(0)
    # The step used at enrolment is spent (each step is accepted once): use the next one.
    page.get_by_label("Security code").fill(app.at(time.time() + 30))
    page.get_by_role("button", name="Sign in", exact=True).click()
    line = expect_at_rp(page, test_rp, user.email)
    assert acr_of(line) == "2", line
    assert sorted(amr_of(line)) == ["mfa", "otp", "pwd"], line
    assert not [u for u in loaded if u.split("?")[0].endswith("/password")], loaded


def test_p8_trust_this_browser_skips_the_code_next_time(realm, test_rp, new_context):
    """P8: "Trust this browser for 30 days" ticked at the code page; after signing out, the
    next sign-in in this browser asks for the password only and the application still gets
    acr "2" with amr trusted_browser. prompt=login asks for the code again."""
    realm.set_policy(trust_browser_days=30)
    user = realm.user(with_totp=True)
    assert user.totp_secret
    app = pyotp.TOTP(user.totp_secret)
    page = new_context()
    page.goto(test_rp.login_url)
    sign_in_with_password(page, user.email, user.password)
    expect(page.get_by_role("heading", name=CODE_HEADING, exact=True)).to_be_visible()
    trust = page.get_by_label("Trust this browser for 30 days")
    expect(trust).not_to_be_checked()
    trust.check()
    page.get_by_label("Security code").fill(app.now())
    page.get_by_role("button", name="Sign in", exact=True).click()
    line = expect_at_rp(page, test_rp, user.email)
    assert acr_of(line) == "2" and sorted(amr_of(line)) == ["mfa", "otp", "pwd"], line
    assert "IDP_TRUST" in {c["name"] for c in page.context.cookies()}

    # Sign out at the provider: the SSO session ends, the browser's trust stays.
    page.goto(realm.url("account/"))
    expect(page.get_by_role("heading", name="Account settings")).to_be_visible()
    open_menu_item(page, user.email, "Sign out")
    expect(page.get_by_role("heading", name="You are signed out")).to_be_visible()
    assert "IDP_TRUST" in {c["name"] for c in page.context.cookies()}

    loaded = _documents(page)
    page.goto(test_rp.login_url)
    sign_in_with_password(page, user.email, user.password)
    line = expect_at_rp(page, test_rp, user.email)
    assert acr_of(line) == "2", line
    assert sorted(amr_of(line)) == ["mfa", "pwd", "trusted_browser"], line
    assert not [u for u in loaded if u.split("?")[0].endswith("/totp")], loaded

    # prompt=login demands a fresh sign-in with every factor: the trust does not count.
    page.goto(f"{test_rp.login_url}?prompt=login")
    sign_in_with_password(page, user.email, user.password)
    expect(page.get_by_role("heading", name=CODE_HEADING, exact=True)).to_be_visible()
    page.get_by_label("Security code").fill(app.at(time.time() + 30))
    page.get_by_role("button", name="Sign in", exact=True).click()
    line = expect_at_rp(page, test_rp, user.email)
    assert acr_of(line) == "2" and sorted(amr_of(line)) == ["mfa", "otp", "pwd"], line
