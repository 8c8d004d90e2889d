"""Realm administration of accounts: disabling and enabling an account, an admin's password
reset, who may use those forms (admins of the realm only, with the CSRF token), the
``login_hint`` on the sign-in page, and the admin user list's search and pagination.

Everything goes through the live HTTP server, as a browser or a relying party would."""

from __future__ import annotations

import re
import secrets
from typing import Any

import pytest
import requests

from idp.db import get_session
from idp.services.realms import create_realm
from tests import conftest
from tests.helpers import Browser, Page
from tests.support.console import (
    NEW_PASSWORD,
    admin_browser,
    admin_events,
    assert_audited_once,
    user_state,
)
from tests.support.pages import csrf_token, error_text, notices
from tests.support.signin import (
    WRONG_PASSWORD_TEXT,
    account_sign_in,
    assert_refresh_refused,
    finish_tokens,
    make_rp,
    prompt_none_error,
    refresh,
    sign_in_for_tokens,
    sign_in_refused,
    still_signed_in,
)

pytestmark = pytest.mark.slow

DISABLED_TEXT = "This account is disabled. Contact your administrator."


# -- helpers ----------------------------------------------------------------------------------
def account_status(page: Page) -> str:
    match = re.search(r'<dd id="account-status">(.*?)</dd>', page.text)
    assert match, page.text
    return match.group(1)


def listed_emails(page: Page) -> list[str]:
    body = re.search(r'<table id="users">.*?<tbody>(.*?)</tbody>', page.text, re.S)
    if body is None:  # an empty list says so instead
        assert '<p class="empty"' in page.text, page.text
        return []
    return re.findall(r'<td><a href="[^"]*">([^<]+)</a>', body.group(1))


def second_realm(server: Any) -> conftest.TestRealm:
    name = f"r{secrets.token_hex(5)}"
    with server.app.app_context():
        db = get_session()
        row = create_realm(db, name, f"Test {name}")
        db.commit()
        return conftest.TestRealm(name=name, id=row.id, base=server.url, server=server)


# -- disabling an account ---------------------------------------------------------------------
def test_admin_disables_account_ends_sessions_and_refuses_sign_in(realm, rp):
    user = realm.user()
    client = make_rp(realm, rp)
    user_browser, token = sign_in_for_tokens(realm, client, user.email, user.password)
    assert prompt_none_error(client, user_browser) is None  # signed in: SSO answers with a code
    assert refresh(client, rp, token["refresh_token"]).status_code == 200
    # The refresh rotated the token: sign in again for a fresh one to test after disabling.
    user_browser, token = sign_in_for_tokens(realm, client, user.email, user.password)

    admin, browser, _ = admin_browser(realm)
    detail = browser.get(realm.url(f"admin/users/{user.id}"))
    assert account_status(detail) == "Active"
    # "Disable account" asks first (tests/test_console_pages.py covers the confirmation).
    confirm = browser.get(detail.link("Disable account"))
    assert user_state(realm, user.email)[0] is False
    done = browser.submit(confirm, action="/status")
    assert done.status == 200 and done.url.endswith(f"/admin/users/{user.id}")
    assert f"The account {user.email} is disabled." in notices(done)
    assert account_status(done) == "Disabled"
    assert "Enable account</button>" in done.text
    assert user_state(realm, user.email)[0] is True
    listed = browser.get(realm.url(f"admin/users?q={user.email}"))
    assert re.search(rf">{re.escape(user.email)}</a>.*?<td>Disabled</td>", listed.text, re.S)

    # The user's SSO session is over, their refresh token is dead.
    assert prompt_none_error(client, user_browser) == "login_required"
    assert not still_signed_in(realm, user_browser)
    assert_refresh_refused(client, rp, token["refresh_token"])
    # The right password is refused with the "disabled" message, and no code is issued.
    refused = sign_in_refused(client, user.email, user.password, realm.base)
    assert error_text(refused) == DISABLED_TEXT
    # The admin's own session is untouched.
    assert still_signed_in(realm, browser)

    # Audited with the admin as the actor.
    assert_audited_once(browser, realm, "admin.user.disabled", actor=admin, subject=user)

    # Enabling the account again lets the user sign in.
    enabled = browser.submit(browser.get(realm.url(f"admin/users/{user.id}")), action="/status")
    assert f"The account {user.email} is enabled." in notices(enabled)
    assert account_status(enabled) == "Active"
    assert user_state(realm, user.email)[0] is False
    again, _ = sign_in_for_tokens(realm, client, user.email, user.password)
    assert prompt_none_error(client, again) is None
    rows = admin_events(browser, realm, user.email, "admin.user.enabled")
    assert len(rows) == 1 and rows[0]["actor"] == f"admin:{admin.email}", rows
    # The old refresh token stays revoked after the account is enabled again.
    assert_refresh_refused(client, rp, token["refresh_token"])


def test_admin_cannot_disable_own_account(realm, rp):
    admin, browser, _ = admin_browser(realm)
    detail = browser.get(realm.url(f"admin/users/{admin.id}"))
    assert account_status(detail) == "Active"
    # The page offers no "Disable account" for oneself; the confirmation and a POST with
    # the CSRF token are both refused.
    assert "Disable account" not in [label for label, _ in detail.links]
    page = browser.get(realm.url(f"admin/users/{admin.id}/disable"))
    assert page.url.endswith(f"/admin/users/{admin.id}")
    assert "You cannot disable your own account." in notices(page)
    resp = browser.session.post(
        realm.url(f"admin/users/{admin.id}/status"),
        data={"csrf_token": csrf_token(detail), "action": "disable"},
        timeout=10,
    )
    page = Page(resp)
    assert page.status == 200 and page.url.endswith(f"/admin/users/{admin.id}")
    assert "You cannot disable your own account." in notices(page)
    assert account_status(page) == "Active"
    assert user_state(realm, admin.email)[0] is False
    assert still_signed_in(realm, browser)
    assert browser.get(realm.url("admin/users")).status == 200
    assert admin_events(browser, realm, admin.email, "admin.user.disabled") == []


# -- password reset ---------------------------------------------------------------------------
def test_admin_resets_password(realm, rp):
    user = realm.user()
    client = make_rp(realm, rp)
    user_browser, token = sign_in_for_tokens(realm, client, user.email, user.password)
    admin, browser, _ = admin_browser(realm)

    detail = browser.get(realm.url(f"admin/users/{user.id}"))
    done = browser.submit(detail, {"password": NEW_PASSWORD}, action="/password")
    assert done.status == 200 and done.url.endswith(f"/admin/users/{user.id}")
    assert f"The password of {user.email} is reset." in notices(done)

    # The user's sessions ended and refresh tokens are revoked.
    assert prompt_none_error(client, user_browser) == "login_required"
    assert not still_signed_in(realm, user_browser)
    assert_refresh_refused(client, rp, token["refresh_token"])
    # The old password no longer signs in; the new one does.
    refused = sign_in_refused(client, user.email, user.password, realm.base)
    assert error_text(refused) == WRONG_PASSWORD_TEXT
    fresh, _ = sign_in_for_tokens(realm, client, user.email, NEW_PASSWORD)
    assert prompt_none_error(client, fresh) is None
    # The admin stays signed in.
    assert still_signed_in(realm, browser)

    assert_audited_once(browser, realm, "admin.user.password_reset", actor=admin, subject=user)


def test_admin_password_reset_refuses_a_short_password(realm, rp):
    user = realm.user()
    client = make_rp(realm, rp)
    user_browser, token = sign_in_for_tokens(realm, client, user.email, user.password)
    _, hash_before, _ = user_state(realm, user.email)
    admin, browser, _ = admin_browser(realm)

    detail = browser.get(realm.url(f"admin/users/{user.id}"))
    page = browser.submit(detail, {"password": "1234567"}, action="/password")  # 7 characters
    assert page.status == 200 and page.url.endswith(f"/admin/users/{user.id}")
    assert "The password must be at least 8 characters long." in notices(page)
    assert not any("is reset" in n for n in notices(page))
    assert user_state(realm, user.email)[1] == hash_before
    # Nothing else happened: the session and the refresh token still work, the old password
    # still signs in, and nothing is audited.
    assert prompt_none_error(client, user_browser) is None
    assert refresh(client, rp, token["refresh_token"]).status_code == 200
    sign_in_for_tokens(realm, client, user.email, user.password)
    refused = sign_in_refused(client, user.email, "1234567", realm.base)
    assert error_text(refused) == WRONG_PASSWORD_TEXT
    assert admin_events(browser, realm, user.email, "admin.user.password_reset") == []


# -- who may act ------------------------------------------------------------------------------
ACTIONS = (
    ("status", {"action": "disable"}),
    ("password", {"password": NEW_PASSWORD}),
    ("reset-2fa", {}),
)


def test_non_admin_gets_403_and_nothing_changes(realm):
    other = realm.user(with_totp=True)
    user = realm.user()
    browser = realm.browser()
    home = account_sign_in(realm, browser, user)
    assert "Account settings</h1>" in home.text
    token = csrf_token(home)
    before = user_state(realm, other.email)
    assert before[0] is False and before[2] is True
    for target in (other, user):
        for path, data in ACTIONS:
            resp = browser.session.post(
                realm.url(f"admin/users/{target.id}/{path}"),
                data={"csrf_token": token, **data},
                allow_redirects=False,
                timeout=10,
            )
            assert resp.status_code == 403, (path, resp.status_code, resp.text)
    assert user_state(realm, other.email) == before
    # The user's own account is untouched as well, and they are still signed in.
    assert user_state(realm, user.email)[0] is False
    assert still_signed_in(realm, browser)
    assert browser.get(realm.url(f"admin/users/{other.id}")).status == 403


def test_admin_cannot_act_on_a_user_of_another_realm(realm, server):
    other_realm = second_realm(server)
    victim = other_realm.user(with_totp=True)
    before = user_state(other_realm, victim.email)
    admin, browser, home = admin_browser(realm)
    token = csrf_token(home)
    # Through this realm's console, with the other realm's user id: not found.
    assert browser.get(realm.url(f"admin/users/{victim.id}")).status == 404
    assert browser.get(realm.url(f"admin/users/{victim.id}/reset-2fa")).status == 404
    for path, data in ACTIONS:
        resp = browser.session.post(
            realm.url(f"admin/users/{victim.id}/{path}"),
            data={"csrf_token": token, **data},
            allow_redirects=False,
            timeout=10,
        )
        assert resp.status_code == 404, (path, resp.status_code, resp.text)
    # Through the other realm's console: this realm's session does not count there.
    for path, data in ACTIONS:
        resp = browser.session.post(
            other_realm.url(f"admin/users/{victim.id}/{path}"),
            data={"csrf_token": token, **data},
            allow_redirects=False,
            timeout=10,
        )
        assert resp.status_code == 303, (path, resp.status_code, resp.text)
        assert f"/realms/{other_realm.name}/login/" in resp.headers["Location"]
    assert user_state(other_realm, victim.email) == before
    # The victim still signs in to their realm with their password.
    b = other_realm.browser()
    page = account_sign_in(other_realm, b, victim)
    assert "/totp" in page.url
    # Nothing in either realm's audit log about the victim.
    assert admin_events(browser, realm, victim.email, "admin.") == []


def test_admin_forms_need_the_csrf_token(realm):
    other = realm.user(with_totp=True)
    admin, browser, _ = admin_browser(realm)
    detail = browser.get(realm.url(f"admin/users/{other.id}"))
    assert detail.status == 200
    before = user_state(realm, other.email)
    for path, data in ACTIONS:
        url = realm.url(f"admin/users/{other.id}/{path}")
        for extra in ({}, {"csrf_token": "forged"}):
            resp = browser.session.post(
                url, data={**data, **extra}, allow_redirects=False, timeout=10
            )
            assert resp.status_code == 400, (path, extra, resp.status_code)
            assert "The form has expired" in resp.text
    assert user_state(realm, other.email) == before
    assert admin_events(browser, realm, other.email, "admin.") == []
    # With the token (the page's own form) the same request works.
    done = browser.submit(browser.get(detail.link("Disable account")), action="/status")
    assert f"The account {other.email} is disabled." in notices(done)


# -- login_hint -------------------------------------------------------------------------------
def email_field(page: Page) -> str:
    for form in page.forms:
        for name, value, kind in form["fields"]:
            if name == "email":
                assert kind == "email"
                return value
    raise AssertionError(f"no email field on {page.url}")


def test_login_hint_prefills_the_email_field(realm, rp):
    user = realm.user()
    client = make_rp(realm, rp)
    browser = realm.browser()
    flow = client.start(login_hint=user.email)
    page = browser.get(flow.url)
    assert page.status == 200 and "/password" in page.url, page.text
    assert email_field(page) == user.email
    assert f'value="{user.email}"' in page.text
    # The user types only the password; the browser sends the pre-filled email with it (the
    # test browser submits hidden fields only, so send the field's value as a browser would).
    browser.submit(page, {"email": email_field(page), "password": user.password})
    assert browser.left_to and browser.left_to.startswith(rp.redirect_uri)
    finish_tokens(client, flow, browser)


def test_login_hint_is_escaped(realm, rp):
    client = make_rp(realm, rp)
    hint = '"><script>alert(1)</script><input name="x" value="'
    browser = realm.browser()
    page = browser.get(client.start(login_hint=hint).url)
    assert page.status == 200 and "/password" in page.url, page.text
    assert "<script>" not in page.text
    assert "&lt;script&gt;" in page.text
    assert email_field(page) == hint  # the value round-trips, as text
    assert all(name != "x" for form in page.forms for name, _, _ in form["fields"])


# -- user list --------------------------------------------------------------------------------
def test_user_list_search_and_pagination(realm):
    marker = secrets.token_hex(3)
    created = [realm.user(f"member{i:02d}.{marker}@example.org") for i in range(26)]
    admin, browser, _ = admin_browser(realm)
    emails = sorted([u.email for u in created] + [admin.email])
    assert len(emails) == 27

    first = browser.get(realm.url("admin/users"))
    assert first.status == 200
    assert "27 users." in first.text
    assert "Page 1 of 2" in first.text
    page_one = listed_emails(first)
    assert len(page_one) == 25
    nxt = browser.get(first.link("Next"))
    assert nxt.status == 200
    assert "Page 2 of 2" in nxt.text
    assert "Next" not in [label for label, _ in nxt.links]
    page_two = listed_emails(nxt)
    assert len(page_two) == 2
    assert sorted(page_one + page_two) == emails
    assert browser.get(nxt.link("Previous")).text.count("Page 1 of 2") == 1

    # Search by part of the email (any case): one user.
    one = created[7]
    found = browser.get(realm.url(f"admin/users?q=MEMBER07.{marker.upper()}"))
    assert listed_emails(found) == [one.email]
    assert "1 user." in found.text and "Page 1 of" not in found.text
    # A part shared by all the members: 26 matches over two pages, the search kept.
    shared = browser.get(realm.url(f"admin/users?q={marker}@example"))
    assert "26 users." in shared.text and "Page 1 of 2" in shared.text
    assert len(listed_emails(shared)) == 25 and admin.email not in shared.text.split("<main")[1]
    rest = browser.get(shared.link("Next"))
    assert "Page 2 of 2" in rest.text
    assert listed_emails(rest) == [created[-1].email]
    # No match.
    none = browser.get(realm.url("admin/users?q=nobody-like-this"))
    assert listed_emails(none) == [] and "No users match" in none.text


def test_user_search_treats_percent_and_underscore_literally(realm):

    admin = realm.user(admin=True)
    realm.user("under_score@example.com")
    realm.user("underXscore@example.com")
    browser: Browser = realm.browser()
    page = browser.get(realm.url("admin/users"))
    browser.submit(page, {"email": admin.email, "password": admin.password})
    found = browser.get(realm.url("admin/users?q=under_"))
    assert "under_score@example.com" in found.text
    assert "underXscore@example.com" not in found.text
    everything = browser.get(realm.url("admin/users?q=%25"))
    assert "under_score@example.com" not in everything.text


# -- email_verified -----------------------------------------------------------------------------
def _email_claims(realm: Any, rp: Any, user: Any) -> tuple[bool, bool]:
    """(ID token's email_verified, UserInfo's email_verified) after a fresh sign-in."""
    client = make_rp(realm, rp)
    _, token = sign_in_for_tokens(realm, client, user.email, user.password)
    id_claims = client.verify_id_token(token["id_token"])
    info = requests.get(
        client.meta["userinfo_endpoint"],
        headers={"Authorization": f"Bearer {token['access_token']}"},
        timeout=10,
    ).json()
    assert id_claims["email"] == info["email"] == user.email
    return id_claims["email_verified"], info["email_verified"]


def test_email_is_verified_only_when_an_admin_vouches_for_it(realm, rp):
    """The provider sends no mail, so a new user's address is unverified; an admin's "Mark
    email as verified" makes the ID token and UserInfo say so (oauth2-proxy and others admit
    only verified addresses), and can take it back. Both are audited."""
    user = realm.user()
    assert _email_claims(realm, rp, user) == (False, False)
    admin, browser, _ = admin_browser(realm)
    detail = browser.get(realm.url(f"admin/users/{user.id}"))
    assert '<dd id="email-verified">Not verified</dd>' in detail.text
    done = browser.submit(detail, action="/email-verified")
    assert f"The email address of {user.email} is marked verified." in notices(done)
    assert '<dd id="email-verified">Verified</dd>' in done.text
    assert _email_claims(realm, rp, user) == (True, True)
    undone = browser.submit(done, action="/email-verified")
    assert '<dd id="email-verified">Not verified</dd>' in undone.text
    assert _email_claims(realm, rp, user) == (False, False)
    kinds = [r["type"] for r in admin_events(browser, realm, user.email, "admin.user.email_")]
    assert sorted(kinds) == ["admin.user.email_unverified", "admin.user.email_verified"]
    rows = admin_events(browser, realm, user.email, "admin.user.email_verified")
    assert rows[0]["actor"] == f"admin:{admin.email}"


def test_a_user_cannot_mark_their_own_email_verified(realm):
    """Only admins vouch: a signed-in user's POST with a valid CSRF token gets 403."""
    user = realm.user()
    browser = realm.browser()
    home = account_sign_in(realm, browser, user)
    resp = browser.session.post(
        realm.url(f"admin/users/{user.id}/email-verified"),
        data={"csrf_token": csrf_token(home), "verified": "yes"},
        allow_redirects=False,
        timeout=10,
    )
    assert resp.status_code == 403
    with realm.server.app.app_context():
        from idp.models import User

        assert get_session().get(User, user.id).email_verified is False
