"""Security keys in a real browser (issue 10): Chromium's virtual authenticator through
Playwright's CDP session (ctap2, internal transport, resident keys, user verification), no
hardware. One story, kept short: add a key on the 2FA page, sign in with password + key
through the Authlib relying party (tests/rp_app.py) and read the ID token's amr/acr there,
sign in with the passkey alone, remove the key; and a key enrolled inside the sign-in where
the realm requires 2FA (SPEC P1). The page origin is
``http://localhost:<port>``: Chromium refuses WebAuthn on an IP-address origin. The refusals
are in tests/test_security_keys.py and tests/test_passkeys.py."""

from __future__ import annotations

from typing import Any

import pytest
from playwright.sync_api import expect
from sqlalchemy import func, select

from idp.models import Authenticator
from tests.browser_support import amr_of, expect_at_rp, sign_in_with_password
from tests.support.app_db import in_app

pytestmark = [pytest.mark.browser, pytest.mark.settings(localhost=True)]


def virtual_authenticator(page: Any) -> tuple[Any, str]:
    cdp = page.context.new_cdp_session(page)
    cdp.send("WebAuthn.enable")
    added = cdp.send(
        "WebAuthn.addVirtualAuthenticator",
        {
            "options": {
                "protocol": "ctap2",
                "transport": "internal",
                "hasResidentKey": True,
                "hasUserVerification": True,
                "isUserVerified": True,
                "automaticPresenceSimulation": True,
            }
        },
    )
    return cdp, added["authenticatorId"]


def key_count(realm: Any, user: Any) -> int:
    return in_app(
        realm,
        lambda db: db.scalar(
            select(func.count(Authenticator.id)).where(
                Authenticator.user_id == user.id, Authenticator.type == "webauthn"
            )
        ),
    )


def test_add_a_key_sign_in_with_it_and_with_the_passkey_alone_then_remove_it(
    realm, test_rp, new_context
):
    assert realm.base.startswith("http://localhost:")
    user = realm.user()
    page = new_context()
    cdp, authenticator = virtual_authenticator(page)
    problems: list[str] = []
    page.on("console", lambda m: problems.append(m.text) if m.type == "error" else None)

    # Add: name it, the browser's WebAuthn dialog (the virtual authenticator) creates it.
    page.goto(realm.url("account/two-factor"))
    sign_in_with_password(page, user.email, user.password)
    page.get_by_role("link", name="Add a security key or passkey").click()
    page.locator("#key-name").fill("Laptop")
    page.get_by_role("button", name="Add", exact=True).click()
    expect(
        page.get_by_role("heading", name="Two-factor authentication is enabled.")
    ).to_be_visible()
    stored = cdp.send("WebAuthn.getCredentials", {"authenticatorId": authenticator})
    assert len(stored["credentials"]) == 1 and stored["credentials"][0]["rpId"] == "localhost"
    assert key_count(realm, user) == 1

    # Sign in at the relying party: password, then the key, offered first.
    page.context.clear_cookies()
    page.goto(test_rp.login_url)
    sign_in_with_password(page, user.email, user.password)
    expect(page.get_by_role("link", name="Use a backup code instead")).to_be_visible()
    page.get_by_role("button", name="Use your security key").click()
    line = expect_at_rp(page, test_rp, user.email)
    assert amr_of(line) == ["pwd", "hwk", "user", "mfa"] and "acr=2" in line

    # A passkey alone: the discoverable credential with user verification, no password.
    page.context.clear_cookies()
    page.goto(test_rp.login_url)
    page.get_by_role("link", name="Sign in with a passkey").click()
    page.get_by_role("button", name="Sign in with a passkey").click()
    line = expect_at_rp(page, test_rp, user.email)
    assert amr_of(line) == ["hwk", "user", "mfa"] and "acr=2" in line

    # Remove it (the sign-in just made is recent and used every factor): 2FA is off.
    page.goto(realm.url("account/two-factor"))
    expect(page.get_by_role("textbox", name="Name of the key")).to_have_value("Laptop")
    page.get_by_role("link", name="Remove Laptop").click()
    page.get_by_role("button", name="Remove").click()
    expect(page.locator("#status")).to_have_text("Two-factor authentication is not enabled.")
    assert key_count(realm, user) == 0
    assert not [p for p in problems if "Content Security Policy" in p], problems


def test_p1_enrolment_inside_the_sign_in_with_a_key(realm, test_rp, new_context):
    """A user the realm's policy covers, without a second factor, chooses a security key on
    the enrolment page; Chromium's dialog creates it, the backup codes follow, and the
    relying party gets a two-factor sign-in with ``hwk``."""
    from tests.support.policy import set_policy

    set_policy(realm, require_2fa="all")
    user = realm.user()
    page = new_context()
    cdp, authenticator = virtual_authenticator(page)
    page.goto(test_rp.login_url)
    sign_in_with_password(page, user.email, user.password)
    expect(page.get_by_role("heading", name="Use a security key or passkey")).to_be_visible()
    page.locator("#key-name").fill("Phone")
    page.get_by_role("button", name="Add", exact=True).click()
    expect(
        page.get_by_role("heading", name="Two-factor authentication is enabled.")
    ).to_be_visible()
    page.get_by_role("button", name="Continue").click()
    line = expect_at_rp(page, test_rp, user.email)
    assert amr_of(line) == ["pwd", "hwk", "user", "mfa"] and "acr=2" in line
    stored = cdp.send("WebAuthn.getCredentials", {"authenticatorId": authenticator})
    assert len(stored["credentials"]) == 1 and key_count(realm, user) == 1
