"""Issue 17 (single sign-out), the console's new pages in Chromium, in English and Japanese: the
clients list with its single sign-out column, a client's page and its logout form (and the
form's error state), the user's sessions with the applications each signed in to, and the
recent deliveries with a failure first. Each passes axe-core's WCAG 2.1 A/AA rules, and an
admin signs one of the user's sessions out with the page's own button: the application is told
(its receiver gets a logout token it accepts)."""

from __future__ import annotations

import re
from collections.abc import Iterator

import pytest

from idp.mail.sender import send_pending
from tests.conftest import RelyingParty
from tests.support.logout_receiver import LogoutReceiver
from tests.support.password_reset import sign_in_for_tokens, signed_in
from tests.support.signin import make_rp

pytestmark = pytest.mark.browser


@pytest.fixture
def receiver(realm) -> Iterator[LogoutReceiver]:
    made = LogoutReceiver(realm.issuer)
    yield made
    made.stop()


def test_the_single_sign_out_console_pages_pass_axe_and_sign_a_session_out(
    realm, receiver, new_context, axe_source
):
    from playwright.sync_api import expect

    from tests.browser_support import SHOTS, axe_violations, sign_in_with_password

    redirect_uri = f"http://127.0.0.1:{receiver.port}/cb"
    client_id, secret = realm.client(
        redirect_uri=redirect_uri,
        backchannel_logout_uri=receiver.uri,
        frontchannel_logout_uri=f"http://127.0.0.1:{receiver.port}/fcl",
    )
    receiver.client_id = client_id
    failing = LogoutReceiver(realm.issuer)
    failing.status = 500
    try:
        failing_id, failing_secret = realm.client(
            redirect_uri=f"http://127.0.0.1:{failing.port}/cb", backchannel_logout_uri=failing.uri
        )
        user = realm.user()
        rp = make_rp(realm, RelyingParty(client_id, secret, redirect_uri, ""))
        browser, _ = sign_in_for_tokens(realm, rp, user.email, user.password)
        # An earlier session of another user, signed in to the failing application and
        # signed out: the deliveries page has a failure to show first.
        other = realm.user()
        failing_rp = make_rp(
            realm,
            RelyingParty(failing_id, failing_secret, f"http://127.0.0.1:{failing.port}/cb", ""),
        )
        other_browser, _ = sign_in_for_tokens(realm, failing_rp, other.email, other.password)
        home = other_browser.get(realm.url("account/"))
        other_browser.submit(home, action="/account/sign-out")
        send_pending(realm.server.app)
        assert len(failing.received) == 1
    finally:
        failing.stop()

    admin = realm.user(admin=True)
    page = new_context(bypass_csp=True)
    page.goto(realm.url("admin/"))
    sign_in_with_password(page, admin.email, admin.password)
    expect(page.locator("#users")).to_be_visible()
    found: list[str] = []
    for lang in ("en", "ja"):
        for path in (
            f"admin/clients?lang={lang}",
            f"admin/clients/{client_id}",
            "admin/deliveries",
            f"admin/users/{user.id}",
        ):
            page.goto(realm.url(path))
            expect(page.locator("main h1")).to_be_visible()
            found += axe_violations(page, axe_source)
            bare = re.sub(r"[?].*", "", path).replace(str(user.id), "id").replace(client_id, "id")
            SHOTS.mkdir(parents=True, exist_ok=True)
            shot = f"sso-{re.sub(r'[^a-z0-9]+', '-', bare).strip('-')}-{lang}.png"
            page.screenshot(path=str(SHOTS / shot), full_page=True)
    page.goto(realm.url("admin/users?lang=en"))

    # The form's error state: a URI with a fragment is refused, what was typed stays.
    page.goto(realm.url(f"admin/clients/{client_id}"))
    page.get_by_label("Back-channel logout URI").fill("https://app.example/bcl#x")
    page.get_by_role("button", name="Save logout settings").click()
    expect(page.get_by_label("Back-channel logout URI")).to_have_value("https://app.example/bcl#x")
    expect(page.get_by_label("Back-channel logout URI")).to_have_attribute("aria-invalid", "true")
    found += axe_violations(page, axe_source)

    # The deliveries: the failure first.
    page.goto(realm.url("admin/deliveries"))
    first = page.locator("main table tbody tr").first
    expect(first).to_contain_text("HTTP 500")

    # The user's session, with the application it signed in to, signed out by the admin.
    page.goto(realm.url(f"admin/users/{user.id}"))
    row = page.locator("#sessions tbody tr").first
    expect(row).to_contain_text("Test RP")
    row.get_by_role("button", name="Sign out").click()
    expect(page.locator("#no-sessions")).to_be_visible()
    found += axe_violations(page, axe_source)
    assert found == [], "\n".join(found)

    assert not signed_in(realm, browser)
    send_pending(realm.server.app)
    (told,) = receiver.received
    assert told.refused is None and told.claims["sub"] == user.sub
