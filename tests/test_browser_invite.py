"""Issue 9, "Verification and invitation end to end in Chromium": a signed-in user asks for
a verification link and follows it from the mail; an admin invites a user from the console,
and the invitee follows the emailed link in a fresh browser, chooses a password and signs in
to a relying party. The mail goes through a real SMTP server (aiosmtpd on loopback).

Chromium is required: if it is missing these tests fail (CI installs it), they never skip."""

from __future__ import annotations

import secrets

import pytest
from playwright.sync_api import expect

from tests.browser_support import expect_at_rp, sign_in_with_password
from tests.support.mail_links import link_in

pytestmark = pytest.mark.browser


def test_user_verifies_their_address_from_the_account_page(realm, new_context, mailbox):
    user = realm.user()
    page = new_context()
    page.goto(realm.url("account/"))
    sign_in_with_password(page, user.email, user.password)
    expect(page.locator("#email-verified")).to_have_text("Not verified")
    page.get_by_role("button", name="Verify your email address").click()
    expect(page.get_by_role("status")).to_contain_text(f"We sent a link to {user.email}")

    link = link_in(mailbox.one(user.email, "Verify your email address"), "/email/verify/")
    page.goto(link)
    expect(page.get_by_text(f"Confirm that {user.email} is your email address.")).to_be_visible()
    page.get_by_role("button", name="Confirm my email address").click()
    expect(page.locator("#verified")).to_contain_text(f"{user.email} is verified.")
    page.get_by_role("link", name="Go to your account page").click()
    expect(page.locator("#email-verified")).to_have_text("Verified")
    expect(page.get_by_role("button", name="Verify your email address")).to_have_count(0)


def test_admin_invites_and_the_invitee_signs_in_to_an_app(realm, test_rp, new_context, mailbox):
    admin = realm.user(admin=True)
    console = new_context()
    console.goto(realm.url("admin/users"))
    sign_in_with_password(console, admin.email, admin.password)
    console.get_by_role("link", name="Invite user").click()
    email = f"newcomer-{secrets.token_hex(3)}@example.com"
    console.get_by_label("Email address").fill(email)
    console.get_by_label("Name").fill("New Comer")
    console.get_by_role("button", name="Send invitation").click()
    expect(console.get_by_role("status")).to_contain_text(f"{email} is invited.")
    expect(console.locator("#invitation-state")).to_contain_text("Invited")

    link = link_in(mailbox.one(email, "You are invited"), "/email/invitation/")
    page = new_context()
    page.goto(link)
    expect(page.get_by_role("heading", name="Choose your password")).to_be_visible()
    page.get_by_label("New password", exact=True).fill("newcomer password 1")
    page.get_by_label("New password again").fill("newcomer password 1")
    page.get_by_role("button", name="Set password").click()
    expect(page.get_by_role("status")).to_contain_text("Your password is set")

    page.goto(test_rp.login_url)
    sign_in_with_password(page, email, "newcomer password 1")
    expect_at_rp(page, test_rp, email)

    console.reload()
    expect(console.locator("#invitation-state")).to_have_count(0)
    expect(console.locator("#account-status")).to_have_text("Active")
