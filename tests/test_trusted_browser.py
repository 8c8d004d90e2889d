"""Trusted browsers (SPEC P8) over real HTTP: "Trust this browser for N days" on the code
page, what a relying party then sees (amr, acr), when the code is still asked, what ends a
trust, the list with Revoke on the 2FA page, and the cookie's reach (one realm, one user)."""

from __future__ import annotations

import html
import re
import secrets
from typing import Any

import pytest
from babel.dates import format_date
from sqlalchemy import func, select

from idp import clock
from idp.models import AuditEvent, Realm, TrustedBrowser, User
from idp.services import accounts, factors
from idp.services.realms import create_realm, set_realm_policy
from idp.services.trusted_browsers import COOKIE
from tests import conftest
from tests.helpers import Browser, Page, totp_code, wait_for_step_room
from tests.oidc_rp import RP, sign_in_password
from tests.support.app_db import in_app
from tests.support.signin import account_sign_in, finish_tokens, is_code_page, make_rp, to_code_page

pytestmark = pytest.mark.slow

TRUSTED_AMR = ["pwd", "mfa", "trusted_browser"]
FIREFOX = "Mozilla/5.0 (X11; Linux x86_64; rv:128.0) Gecko/20100101 Firefox/128.0"
CHROME = (
    "Mozilla/5.0 (Windows NT 10.0; Win64; x64) AppleWebKit/537.36 (KHTML, like Gecko) "
    "Chrome/126.0.0.0 Safari/537.36"
)


# -- helpers ----------------------------------------------------------------------------------
def set_policy(realm: Any, **kw: Any) -> None:
    """Change the realm's policy as an operator would (``idp realm set``)."""
    in_app(
        realm,
        lambda db: set_realm_policy(
            db, db.get(Realm, realm.id), actor="test", client_address=None, **kw
        ),
    )


def trusts_of(realm: Any, user: Any) -> int:
    return in_app(
        realm,
        lambda db: db.scalar(
            select(func.count(TrustedBrowser.id)).where(TrustedBrowser.user_id == user.id)
        ),
    )


def user_row(db: Any, user: Any) -> User:
    row = db.get(User, user.id)
    assert row is not None
    return row


def trust_cookie(browser: Browser) -> Any:
    [cookie] = [c for c in browser.session.cookies if c.name == COOKIE]
    return cookie


def trust_this_browser(
    realm: Any, client: RP, user: Any, browser: Browser | None = None, offset: int = 0
) -> Browser:
    """Sign in with the code and "Trust this browser" ticked, then sign out (the trust
    stays, the session ends)."""
    browser, flow, page = to_code_page(realm, client, user, browser=browser)
    assert is_code_page(page) and 'name="trust"' in page.text, page.text
    browser.submit(page, {"code": totp_code(user.totp_secret, offset), "trust": "yes"})
    _, claims, _ = finish_tokens(client, flow, browser)
    assert claims["amr"] == ["pwd", "otp", "mfa"]
    assert trust_cookie(browser).value
    sign_out(realm, browser)
    return browser


def sign_out(realm: Any, browser: Browser) -> None:
    home = browser.get(realm.url("account/"))
    assert "Account settings</h1>" in home.text, home.text
    page = browser.submit(home, action="/account/sign-out")
    assert page.status == 200, page.text


def skips_the_code(realm: Any, client: RP, user: Any, browser: Browser, **kw: Any) -> bool:
    """Start a sign-in in this browser: True when the password alone reaches the app, False
    when the code page is shown."""
    _, _, page = to_code_page(realm, client, user, browser=browser, **kw)
    if browser.left_to is not None:
        assert browser.left_to.startswith(client.redirect_uri), browser.left_to
        return True
    assert is_code_page(page), page.text
    return False


def trusted_claims(realm: Any, client: RP, user: Any, browser: Browser) -> dict:
    flow = client.start()
    sign_in_password(browser, flow.url, user.email, user.password)
    assert browser.left_to, "the code was asked"
    _, claims, _ = finish_tokens(client, flow, browser)
    return claims


def enrol_again(realm: Any, user: Any) -> None:
    """A new authenticator for the user (what enrolling on the pages does)."""

    def enrol(db: Any) -> None:
        row = user_row(db, user)
        factors.start_totp_enrolment(db, row)
        secret = factors.pending_secret(db, row)
        assert secret
        wait_for_step_room(2.0)
        factors.enable_totp(
            db,
            row,
            totp_code(secret, -1),
            actor="test",
            client_address=None,
            keep_sid=None,
        )
        user.totp_secret = secret

    in_app(realm, enrol)


def trusted_rows(page: Page) -> list[list[str]]:
    body = re.search(r'<table id="trusted-browsers">.*?<tbody>(.*?)</tbody>', page.text, re.S)
    if body is None:
        return []
    return [
        [html.unescape(re.sub(r"<[^>]+>", "", cell)).strip() for cell in cells]
        for cells in (
            re.findall(r"<td>(.*?)</td>", row, re.S)
            for row in re.findall(r"<tr>(.*?)</tr>", body.group(1), re.S)
        )
    ]


def csrf(page: Page) -> str:
    for form in page.forms:
        for name, value, _ in form["fields"]:
            if name == "csrf_token" and value:
                return value
    raise AssertionError(f"no CSRF token on {page.url}")


def other_realm(realm: Any) -> conftest.TestRealm:
    name = f"r{secrets.token_hex(5)}"

    def create(db: Any) -> int:
        return create_realm(db, name, f"Test {name}").id

    return conftest.TestRealm(
        name=name, id=in_app(realm, create), base=realm.base, server=realm.server
    )


@pytest.fixture
def trusting(realm: Any, rp: Any) -> tuple[Any, RP]:
    """A realm with "Trust this browser for 30 days" and a user with 2FA."""
    set_policy(realm, trust_browser_days=30)
    return realm.user(with_totp=True), make_rp(realm, rp)


# -- the checkbox and what it gives -------------------------------------------------------------
def test_p8_off_by_default_no_checkbox(realm, rp):
    user = realm.user(with_totp=True)
    client = make_rp(realm, rp)
    browser, flow, page = to_code_page(realm, client, user)
    assert is_code_page(page)
    assert 'name="trust"' not in page.text and "Trust this browser" not in page.text
    # Ticking it by hand gives nothing either.
    browser.submit(page, {"code": totp_code(user.totp_secret, 0), "trust": "yes"})
    finish_tokens(client, flow, browser)
    assert not [c for c in browser.session.cookies if c.name == COOKIE]
    assert trusts_of(realm, user) == 0
    sign_out(realm, browser)
    assert not skips_the_code(realm, client, user, browser)


def test_p8_trusted_browser_skips_the_code(realm, trusting):
    user, client = trusting
    browser, flow, page = to_code_page(realm, client, user)
    assert "Trust this browser for 30 days" in page.text
    browser.submit(page, {"code": totp_code(user.totp_secret, 0), "trust": "yes"})
    _, claims, _ = finish_tokens(client, flow, browser)
    assert (claims["amr"], claims["acr"]) == (["pwd", "otp", "mfa"], "2")
    cookie = trust_cookie(browser)
    assert cookie.path == f"/realms/{realm.name}/"
    assert cookie.has_nonstandard_attr("HttpOnly")
    assert cookie.expires is not None
    # The cookie holds a random token; the database keeps only its digest.
    row = in_app(realm, lambda db: db.scalar(select(TrustedBrowser.token_digest)))
    assert cookie.value not in (row or "")
    sign_out(realm, browser)
    # Next time: the password alone, and the app learns how the second factor was met.
    claims = trusted_claims(realm, client, user, browser)
    assert claims["amr"] == TRUSTED_AMR
    assert claims["acr"] == "2"
    # The access token says the same.
    flow = client.start()
    browser.get(flow.url)  # the SSO session (trusted) answers
    _, claims, at = finish_tokens(client, flow, browser)
    assert (claims["amr"], at["amr"], at["acr"]) == (TRUSTED_AMR, TRUSTED_AMR, "2")
    assert len(in_app(realm, lambda db: _events(db, realm, "mfa.browser.trusted"))) == 1


def _events(db: Any, realm: Any, kind: str) -> list[AuditEvent]:
    return list(
        db.scalars(
            select(AuditEvent).where(AuditEvent.realm_id == realm.id, AuditEvent.type == kind)
        )
    )


def test_p8_prompt_login_and_max_age_still_ask_for_the_code(realm, trusting):
    user, client = trusting
    browser = trust_this_browser(realm, client, user)
    assert not skips_the_code(realm, client, user, browser, prompt="login")
    assert not skips_the_code(realm, client, user, browser, max_age=600)
    assert not skips_the_code(realm, client, user, browser, max_age=0)
    # With a session the browser got from its trust, prompt=login asks for the code too.
    assert skips_the_code(realm, client, user, browser)
    assert not skips_the_code(realm, client, user, browser, prompt="login")


def test_p8_trusted_sign_in_is_not_enough_to_change_2fa(realm, trusting):
    """Re-authentication for the account's 2FA pages asks for the password and the code,
    even in a trusted browser signed in through its trust."""
    user, client = trusting
    browser = trust_this_browser(realm, client, user)
    assert skips_the_code(realm, client, user, browser)
    page = browser.get(realm.url("account/two-factor/enable"))
    assert "Confirm it's you" in html.unescape(page.text), page.text
    assert "<svg" not in page.text
    page = browser.submit(page, {"password": user.password})
    assert is_code_page(page), page.text
    page = browser.submit(page, {"code": totp_code(user.totp_secret, 1)})
    assert page.status == 200 and "<svg" in page.text, page.text


# -- what ends a trust --------------------------------------------------------------------------
def test_p8_trust_voided_by_admin_reset(realm, trusting):
    user, client = trusting
    browser = trust_this_browser(realm, client, user)
    admin = realm.user(admin=True)
    ab = realm.browser()
    account_sign_in(realm, ab, admin)
    confirm = ab.get(realm.url(f"admin/users/{user.id}/reset-2fa"))
    done = ab.submit(confirm)
    assert done.status == 200, done.text
    assert trusts_of(realm, user) == 0
    # Set up again, the user is asked for the code in the browser trusted before.
    enrol_again(realm, user)
    assert not skips_the_code(realm, client, user, browser)


def test_p8_trust_voided_by_password_change(realm, trusting):
    user, client = trusting
    browser = trust_this_browser(realm, client, user)
    # The user changes the password in the trusted browser itself.
    assert skips_the_code(realm, client, user, browser)
    page = browser.get(realm.url("account/password"))
    new = "another horse battery staple"
    page = browser.submit(
        page, {"current_password": user.password, "new_password": new, "confirm_password": new}
    )
    assert "Your password is changed" in page.text, page.text
    user.password = new
    assert trusts_of(realm, user) == 0
    sign_out(realm, browser)
    assert not skips_the_code(realm, client, user, browser)


def test_p8_trust_voided_by_admin_password_reset(realm, trusting):
    user, client = trusting
    browser = trust_this_browser(realm, client, user)
    new = "an admin chose this password"
    in_app(
        realm,
        lambda db: accounts.reset_password(
            db, user_row(db, user), new, actor="test", client_address=None
        ),
    )
    user.password = new
    assert trusts_of(realm, user) == 0
    assert not skips_the_code(realm, client, user, browser)


def test_p8_trust_voided_by_new_backup_codes(realm, trusting):
    user, client = trusting
    browser = trust_this_browser(realm, client, user)
    other = realm.browser()
    account_sign_in(realm, other, user, code=totp_code(user.totp_secret, 1))
    confirm = other.get(realm.url("account/two-factor/backup-codes"))
    assert "Issue new backup codes?" in confirm.text, confirm.text
    other.submit(confirm)
    assert trusts_of(realm, user) == 0
    assert not skips_the_code(realm, client, user, browser)


def test_p8_trust_voided_by_disable(realm, trusting):
    user, client = trusting
    browser = trust_this_browser(realm, client, user)
    other = realm.browser()
    account_sign_in(realm, other, user, code=totp_code(user.totp_secret, 1))
    confirm = other.get(realm.url("account/two-factor/disable"))
    assert "Disable two-factor authentication?" in confirm.text, confirm.text
    other.submit(confirm)
    assert trusts_of(realm, user) == 0
    # Set up again (a new key), the browser trusted before is asked for the code.
    enrol_again(realm, user)
    assert not skips_the_code(realm, client, user, browser)


def test_p8_setting_turned_off_ends_trust(realm, trusting):
    user, client = trusting
    browser = trust_this_browser(realm, client, user)
    set_policy(realm, trust_browser_days=0)
    assert trusts_of(realm, user) == 0
    _, _, page = to_code_page(realm, client, user, browser=browser)
    assert is_code_page(page) and 'name="trust"' not in page.text
    # Turned on again, the earlier trust does not come back.
    set_policy(realm, trust_browser_days=30)
    _, _, page = to_code_page(realm, client, user, browser=browser)
    assert is_code_page(page) and 'name="trust"' in page.text


def test_p8_shortened_setting_shortens_trust(realm, trusting):
    user, client = trusting
    browser = trust_this_browser(realm, client, user)
    set_policy(realm, trust_browser_days=2)
    try:
        clock.travel(days=1)
        assert skips_the_code(realm, client, user, browser)
        sign_out(realm, browser)
        clock.travel(days=1, minutes=1)
        assert not skips_the_code(realm, client, user, browser)
        # Nor is the ended trust still listed on the 2FA page (it was, before the fix).
        other = realm.browser()
        account_sign_in(realm, other, user, code=totp_code(user.totp_secret))
        page = other.get(realm.url("account/two-factor"))
        assert trusted_rows(page) == []
    finally:
        clock.reset()


def test_p8_trust_expires_after_n_days(realm, rp):
    set_policy(realm, trust_browser_days=3)
    user = realm.user(with_totp=True)
    client = make_rp(realm, rp)
    browser = trust_this_browser(realm, client, user)
    try:
        clock.travel(days=2, hours=23)
        assert skips_the_code(realm, client, user, browser)
        sign_out(realm, browser)
        clock.travel(hours=1, minutes=1)
        assert not skips_the_code(realm, client, user, browser)
        # The code still works (it follows the same clock), and the 2FA page lists no trust.
        other = realm.browser()
        account_sign_in(realm, other, user, code=totp_code(user.totp_secret))
        page = other.get(realm.url("account/two-factor"))
        assert "Two-factor authentication is enabled." in page.text
        assert trusted_rows(page) == [] and "Trusted browsers" not in page.text
    finally:
        clock.reset()


# -- the list on the 2FA page -------------------------------------------------------------------
def test_p8_trust_listed_and_revocable_on_2fa_page(realm, trusting):
    user, client = trusting
    firefox = realm.browser()
    firefox.session.headers["User-Agent"] = FIREFOX
    trust_this_browser(realm, client, user, browser=firefox, offset=0)
    chrome = realm.browser()
    chrome.session.headers["User-Agent"] = CHROME
    trust_this_browser(realm, client, user, browser=chrome, offset=1)
    # Firefox signs in through its trust (no code: not a "recent sign-in" with every factor).
    assert skips_the_code(realm, client, user, firefox)
    page = firefox.get(realm.url("account/two-factor"))
    assert "Trusted browsers" in page.text
    today = format_date(clock.now(), "medium", locale="en")  # the page's language, UTC
    rows = trusted_rows(page)
    assert rows == [
        ["Chrome on Windows", today, "Not yet", "Revoke"],
        ["Firefox on Linux This browser", today, today, "Revoke"],
    ], rows
    # Another user's trust cannot be revoked from here, nor without the CSRF token.
    chrome_id = in_app(
        realm,
        lambda db: db.scalar(
            select(TrustedBrowser.id).where(TrustedBrowser.label == "Chrome on Windows")
        ),
    )
    resp = firefox.session.post(
        realm.url(f"account/two-factor/trusted-browsers/{chrome_id}/revoke"),
        data={},
        allow_redirects=False,
        timeout=10,
    )
    assert resp.status_code == 400
    intruder = realm.user()
    ib = realm.browser()
    home = account_sign_in(realm, ib, intruder)
    ib.session.post(
        realm.url(f"account/two-factor/trusted-browsers/{chrome_id}/revoke"),
        data={"csrf_token": csrf(home)},
        timeout=10,
    )
    assert trusts_of(realm, user) == 2
    # Revoke Chrome's trust from Firefox.
    forms = [f for f in page.forms if f"/trusted-browsers/{chrome_id}/revoke" in f["action"]]
    assert len(forms) == 1
    page = firefox.submit(Page(page.response, forms, page.links))
    assert "That browser is no longer trusted" in page.text, page.text
    assert [r[0] for r in trusted_rows(page)] == ["Firefox on Linux This browser"]
    assert trusts_of(realm, user) == 1
    assert not skips_the_code(realm, client, user, chrome)
    [event] = in_app(realm, lambda db: _events(db, realm, "mfa.browser.revoked"))
    assert event.detail == {"browser": "Chrome on Windows"}
    assert event.actor == f"user:{user.email}"
    # Revoking this browser's own trust forgets the cookie too.
    page = firefox.submit(page, action="/revoke")
    assert "Trusted browsers" not in page.text
    assert not [c for c in firefox.session.cookies if c.name == COOKIE]
    assert trusts_of(realm, user) == 0


# -- the cookie's reach -------------------------------------------------------------------------
def test_p8_trust_never_sent_to_another_realm(realm, trusting):
    user, client = trusting
    browser = trust_this_browser(realm, client, user)
    token = trust_cookie(browser).value
    # The same person, same email, with 2FA and trust turned on in a second realm.
    second = other_realm(realm)
    set_policy(second, trust_browser_days=30)
    twin = second.user(user.email, with_totp=True)
    rp_id, secret = second.client()
    client_b = RP(second.issuer, rp_id, secret, "http://127.0.0.1:9/cb")
    flow = client_b.start()
    page = browser.get(flow.url)
    sent = page.response.request.headers.get("Cookie", "")
    assert COOKIE not in sent
    # Realm A's token presented as realm B's cookie does not stand in for the code.
    browser.session.cookies.set(COOKIE, token, path=f"/realms/{second.name}/")
    assert not skips_the_code(second, client_b, twin, browser)
    assert trusts_of(second, twin) == 0


def test_p8_other_user_same_browser_still_asked_for_code(realm, trusting):
    user, client = trusting
    browser = trust_this_browser(realm, client, user)
    other = realm.user(with_totp=True)
    assert not skips_the_code(realm, client, other, browser)
    assert trusts_of(realm, other) == 0
    # The browser's trust still stands in for the code of the user who gave it.
    assert skips_the_code(realm, client, user, browser)
