"""Realm administration of two-factor authentication (SPEC A1-A4): the user list with 2FA
state, an admin's Disable with confirmation, the operator's CLI reset, and the audit log."""

from __future__ import annotations

import re

import pytest
import requests

from tests.helpers import Page, run_idp, totp_code
from tests.support.console import admin_browser, audit_rows
from tests.support.signin import (
    account_sign_in,
    make_rp,
    prompt_none_error,
    sign_in_with_backup_code,
    sign_in_with_totp,
    still_signed_in,
    to_code_page,
    wrong_code,
)
from tests.support.two_factor_pages import enable_via_pages, open_two_factor

pytestmark = pytest.mark.slow


def user_row(page: Page, email: str) -> str:
    for row in re.findall(r"<tr>(.*?)</tr>", page.text, re.S):
        if f">{email}</a>" in row:
            return row
    raise AssertionError(f"{email} not listed")


def twofa_cell(page: Page, email: str) -> str:
    match = re.search(r'<td class="twofa">(.*?)</td>', user_row(page, email))
    assert match
    return re.sub(r"<[^>]+>", "", match.group(1)).strip()  # the badge's text


# -- A1 ---------------------------------------------------------------------------------------
def test_a1_user_list_shows_two_factor_state(realm):
    with_2fa = realm.user(with_totp=True)
    without = realm.user()
    admin, browser, home = admin_browser(realm)
    page = browser.get(home.link("Admin console"))
    assert page.status == 200 and page.url.endswith("/admin/users")
    assert '<th scope="col">Two-factor</th>' in page.text
    assert twofa_cell(page, with_2fa.email) == "Enabled"
    assert twofa_cell(page, without.email) == "Not enabled"
    assert twofa_cell(page, admin.email) == "Not enabled"
    assert ">10<" in user_row(page, with_2fa.email)  # unused backup codes
    # Search narrows the list.
    found = browser.get(realm.url(f"admin/users?q={with_2fa.email}"))
    assert twofa_cell(found, with_2fa.email) == "Enabled" and without.email not in found.text


def test_a1_non_admin_is_refused(realm):
    user = realm.user(with_totp=True)
    browser = realm.browser()
    account_sign_in(realm, browser, user, code=totp_code(user.totp_secret, 0))
    for path in ("admin/users", "admin/audit", f"admin/users/{user.id}"):
        page = browser.get(realm.url(path))
        assert page.status == 403, path
        assert user.email not in page.text.split("</header>", 1)[-1]
    reset = browser.get(realm.url(f"admin/users/{user.id}/reset-2fa"))
    assert reset.status == 403


def test_a1_not_signed_in_gets_the_sign_in_page(realm):
    browser = realm.browser()
    page = browser.get(realm.url("admin/users"))
    assert page.status == 200 and 'name="password"' in page.text
    assert "/login/" in page.url
    anonymous = requests.get(realm.url("admin/audit"), allow_redirects=False, timeout=10)
    assert anonymous.status_code == 302 and "/login/" in anonymous.headers["Location"]


# -- A2 ---------------------------------------------------------------------------------------
def test_a2_admin_disables_2fa_after_confirmation(realm, rp):
    user = realm.user(with_totp=True)
    admin, browser, home = admin_browser(realm)
    users = browser.get(home.link("Admin console"))
    detail = browser.get(users.link(user.email))
    assert re.search(r'id="twofa-status">Enabled<', detail.text)
    confirm = browser.get(detail.link("Disable two-factor authentication"))
    assert f"Disable two-factor authentication for {user.email}?" in confirm.text
    # Opening the confirmation changes nothing.
    cancel = browser.get(confirm.link("Cancel"))
    assert re.search(r'id="twofa-status">Enabled<', cancel.text)
    b, _, p = to_code_page(realm, make_rp(realm, rp), user)
    assert b.left_to is None and "/totp" in p.url
    done = browser.submit(confirm)
    assert f"Two-factor authentication is disabled for {user.email}." in done.text
    assert re.search(r'id="twofa-status">Not enabled<', done.text)
    listed = browser.get(realm.url("admin/users"))
    assert twofa_cell(listed, user.email) == "Not enabled"
    # The user now signs in with the password alone; the old backup codes are gone.
    client = make_rp(realm, rp)
    b, flow, p = to_code_page(realm, client, user)
    assert b.left_to and b.left_to.startswith(rp.redirect_uri), p.text
    token = client.finish(flow, b)
    assert client.verify_id_token(token["id_token"], nonce=flow.nonce)["amr"] == ["pwd"]


def test_a2_admin_reset_ends_sessions_and_revokes_tokens(realm, rp):
    user = realm.user(with_totp=True)
    client = make_rp(realm, rp)
    user_browser, token, claims, _ = sign_in_with_totp(realm, client, user)
    assert still_signed_in(realm, user_browser)
    admin, browser, _ = admin_browser(realm)
    confirm = browser.get(realm.url(f"admin/users/{user.id}/reset-2fa"))
    browser.submit(confirm)
    # The SSO session is over.
    assert prompt_none_error(client, user_browser) == "login_required"
    assert not still_signed_in(realm, user_browser)
    # The refresh token no longer works, and the access token is no longer active.
    refreshed = requests.post(
        client.meta["token_endpoint"],
        data={"grant_type": "refresh_token", "refresh_token": token["refresh_token"]},
        auth=(rp.client_id, rp.client_secret),
        timeout=10,
    )
    assert refreshed.status_code == 400 and refreshed.json()["error"] == "invalid_grant"
    for value in (token["access_token"], token["refresh_token"]):
        answer = client.introspect(value)
        assert answer == {"active": False}
    userinfo = requests.get(
        client.meta["userinfo_endpoint"],
        headers={"Authorization": f"Bearer {token['access_token']}"},
        timeout=10,
    )
    assert userinfo.status_code == 401
    # The admin's own session is untouched.
    assert still_signed_in(realm, browser)


# -- A3 ---------------------------------------------------------------------------------------
def test_a3_operator_resets_2fa_from_the_cli(realm, rp, server):
    user = realm.user(with_totp=True)
    client = make_rp(realm, rp)
    user_browser, token, _, _ = sign_in_with_totp(realm, client, user)
    # The realm's only admin is locked out too: the operator needs no admin account.
    result = run_idp(server, "user", "reset-2fa", "--realm", realm.name, user.email)
    assert result.returncode == 0, result.stderr
    assert f"two-factor authentication disabled for {user.email}" in result.stdout
    b, flow, p = to_code_page(realm, client, user)
    assert b.left_to and b.left_to.startswith(rp.redirect_uri), p.text
    assert prompt_none_error(client, user_browser) == "login_required"
    # Audited as the operator.
    admin, browser, _ = admin_browser(realm)
    page = browser.get(realm.url(f"admin/audit?user={user.email}&type=admin.mfa.reset"))
    rows = audit_rows(page)
    assert len(rows) == 1
    assert rows[0]["actor"] == "operator" and rows[0]["subject"] == user.email
    # Unknown user or realm: a clear error, nothing changes.
    missing = run_idp(server, "user", "reset-2fa", "--realm", realm.name, "nobody@example.com")
    assert missing.returncode != 0
    no_realm = run_idp(server, "user", "reset-2fa", "--realm", f"{realm.name}zz", user.email)
    assert no_realm.returncode != 0 and "no realm" in no_realm.stderr


# -- A4 ---------------------------------------------------------------------------------------
# The log's times in the page's language (English here), to the minute: "Nov 26, 2026, 7:42 PM".
TIME = re.compile(r"[A-Z][a-z]{2} \d{1,2}, \d{4}, \d{1,2}:\d\d\s[AP]M")


def test_a4_two_factor_events_are_audited_with_time_actor_subject_address(realm, rp):
    user = realm.user()
    other = realm.user(with_totp=True)
    client = make_rp(realm, rp)
    browser = realm.browser()
    # Enrolment (and the first backup-code issue).
    home = account_sign_in(realm, browser, user)
    key, codes, _ = enable_via_pages(realm, browser, home)
    user.totp_secret, user.backup_codes = key, codes
    # A failed second-factor attempt, then a backup code used.
    b, _, p = to_code_page(realm, client, user)
    assert b.submit(p, {"code": wrong_code(key)}).status == 401
    sign_in_with_backup_code(realm, client, user, codes[0], browser=browser, prompt="login")
    # A new set issued, then 2FA disabled by the user.
    status = open_two_factor(browser, browser.get(realm.url("account/")))
    issued = browser.submit(browser.get(status.link("Download backup codes")))
    assert "New backup codes" in issued.text
    browser.submit(browser.get(status.link("Disable")))
    # An admin reset for another user.
    admin, admin_browser_, _ = admin_browser(realm)
    admin_browser_.submit(admin_browser_.get(realm.url(f"admin/users/{other.id}/reset-2fa")))

    page = admin_browser_.get(realm.url("admin/audit"))
    assert page.status == 200
    rows = audit_rows(page)
    by_type: dict[str, list[dict[str, str]]] = {}
    for row in rows:
        by_type.setdefault(row["type"], []).append(row)
    expected = {
        "mfa.totp.enabled": (f"user:{user.email}", user.email, "success"),
        "mfa.backup_codes.issued": (f"user:{user.email}", user.email, "success"),
        "login.second_factor.failed": (f"user:{user.email}", user.email, "failure"),
        "mfa.backup_code.used": (f"user:{user.email}", user.email, "success"),
        "mfa.disabled": (f"user:{user.email}", user.email, "success"),
        "admin.mfa.reset": (f"admin:{admin.email}", other.email, "success"),
    }
    for kind, (actor, subject, outcome) in expected.items():
        matching = [
            r for r in by_type.get(kind, []) if r["subject"] == subject and r["actor"] == actor
        ]
        assert matching, (kind, rows)
        for row in matching:
            assert TIME.fullmatch(row["time"]), row
            assert row["address"] == "127.0.0.1", row
            assert row["outcome"] == outcome, row
    issued_rows = [r for r in by_type["mfa.backup_codes.issued"] if r["subject"] == user.email]
    assert len(issued_rows) == 2  # at enrolment and the new set

    # Filter by user.
    mine = audit_rows(admin_browser_.get(realm.url(f"admin/audit?user={user.email}")))
    assert mine and all(r["subject"] == user.email for r in mine)
    assert {r["type"] for r in mine} >= set(expected) - {"admin.mfa.reset"}
    theirs = audit_rows(admin_browser_.get(realm.url(f"admin/audit?user={other.email}")))
    assert "admin.mfa.reset" in {r["type"] for r in theirs}
    assert all(r["subject"] == other.email for r in theirs)
    # Filter by type.
    used = audit_rows(admin_browser_.get(realm.url("admin/audit?type=mfa.backup_code")))
    assert used and all(r["type"].startswith("mfa.backup_code") for r in used)
    failed = audit_rows(
        admin_browser_.get(
            realm.url(f"admin/audit?type=login.second_factor.failed&user={user.email}")
        )
    )
    assert len(failed) == 1 and failed[0]["outcome"] == "failure"


def test_a4_failed_attempt_audited_and_user_page_links_to_its_events(realm, rp):
    user = realm.user(with_totp=True)
    b, _, p = to_code_page(realm, make_rp(realm, rp), user)
    b.submit(p, {"code": wrong_code(user.totp_secret)})
    admin, browser, _ = admin_browser(realm)
    rows = audit_rows(browser.get(realm.url("admin/audit?type=login.second_factor")))
    assert [r["subject"] for r in rows] == [user.email]
    # The user's own page links to their audit events.
    detail = browser.get(realm.url(f"admin/users/{user.id}"))
    events = browser.get(detail.link("Audit log for this user"))
    assert all(r["subject"] == user.email for r in audit_rows(events))


def test_a2_reset_then_user_enrols_again(realm, rp):
    user = realm.user(with_totp=True)
    admin, browser, _ = admin_browser(realm)
    browser.submit(browser.get(realm.url(f"admin/users/{user.id}/reset-2fa")))
    ub = realm.browser()
    home = account_sign_in(realm, ub, user)
    key, codes, _ = enable_via_pages(realm, ub, home)
    assert user.backup_codes[0] not in codes
    user.totp_secret = key
    status = open_two_factor(ub, home)
    # The session that enrolled typed a code of the new key: no second re-authentication.
    page = ub.get(status.link("Disable"))
    assert "Disable two-factor authentication?" in page.text
