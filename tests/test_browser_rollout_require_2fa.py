"""Rolling out "require 2FA" (issue 15) in Chromium at phone width: the confirmation before
a save that sends the admin to enrolment, the user list with its deadlines and filter, the
settings page's count and the account page's banner fit the screen and pass axe-core."""

from __future__ import annotations

import pytest
from playwright.sync_api import expect

from tests.browser_support import PHONE, axe_violations, fits_the_screen, sign_in_with_password
from tests.helpers import totp_code, wait_for_step_room

pytestmark = pytest.mark.browser


def test_rollout_pages_fit_a_phone_and_pass_axe(realm, new_context, axe_source):
    found: list[str] = []
    for _ in range(3):
        realm.user()
    realm.user(with_totp=True)

    # An admin without 2FA makes the policy cover everyone: asked first, then enrolment.
    admin = realm.user(admin=True)
    page = new_context(viewport=PHONE, is_mobile=True, bypass_csp=True)
    page.goto(realm.url("admin/settings"))
    sign_in_with_password(page, admin.email, admin.password)
    expect(page.locator("#not-enrolled-count")).to_contain_text("4 of all 5 users")
    fits_the_screen(page)
    found += axe_violations(page, axe_source)
    page.get_by_label("Everyone").check()
    page.get_by_label("Grace period (days)").fill("7")
    page.locator("#policy-heading ~ form button[type=submit]").click()
    expect(page.locator("#enrols-at-once")).to_contain_text("right away")
    fits_the_screen(page)
    found += axe_violations(page, axe_source)
    page.get_by_role("button", name="Save and set it up now").click()
    expect(page.locator("#key")).to_be_visible()

    # An admin with 2FA reads the list of those not yet enrolled, with their deadlines.
    viewer = realm.user(admin=True, with_totp=True)
    page = new_context(viewport=PHONE, is_mobile=True, bypass_csp=True)
    page.goto(realm.url("admin/users"))
    sign_in_with_password(page, viewer.email, viewer.password)
    wait_for_step_room(3)
    page.get_by_label("Security code").fill(totp_code(viewer.totp_secret))
    page.get_by_role("button", name="Sign in", exact=True).click()
    expect(page.locator("#users td.deadline time").first).to_be_visible()
    fits_the_screen(page)
    found += axe_violations(page, axe_source)
    page.get_by_role("link", name="Not yet enrolled").click()
    expect(page.locator("#not-enrolled-hint")).to_be_visible()
    expect(page.locator("#users tbody tr")).to_have_count(4)
    fits_the_screen(page)
    found += axe_violations(page, axe_source)

    # A user in the grace period puts enrolment off and sees the banner.
    user = realm.user()
    page = new_context(viewport=PHONE, is_mobile=True, bypass_csp=True)
    page.goto(realm.url("account/"))
    sign_in_with_password(page, user.email, user.password)
    page.get_by_role("button", name="Later").click()
    expect(page.locator("#two-factor-deadline")).to_contain_text("within 7 days")
    fits_the_screen(page)
    found += axe_violations(page, axe_source)
    assert found == []
