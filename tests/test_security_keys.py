"""Security keys as a second factor (issue 10) over real HTTP, with a software authenticator
(tests/support/soft_key.py) whose responses the provider verifies with py_webauthn: adding
keys on the 2FA page, signing in with password + key through an Authlib relying party
(amr/acr per RFC 8176), and the refusals a browser would never produce (replayed assertion,
wrong origin, counter going backwards, expired challenge, another user's or another realm's
key), the shared second-factor throttle, removing keys (SPEC D2, P5), the admin and
operator resets. The browser itself is in tests/test_browser_security_keys.py."""

from __future__ import annotations

import html
import re
import threading
from concurrent.futures import ThreadPoolExecutor
from typing import Any

import pytest
import requests
from sqlalchemy import select

from idp import clock
from idp.services.security_keys import CHALLENGE_TTL
from tests.helpers import Browser, Page, run_idp, totp_code
from tests.support.app_db import audit_events as events
from tests.support.app_db import in_app
from tests.support.pages import error_text
from tests.support.security_keys import (
    KEY_PAGE,
    add_key,
    keys_of,
    post_key,
    to_key_page,
    user_with_key,
)
from tests.support.security_keys import last_failure_reason as _last_failure_reason
from tests.support.signin import account_sign_in, finish_tokens, make_rp, to_code_page
from tests.support.soft_key import SoftKey, b64, page_options

pytestmark = [pytest.mark.settings(localhost=True), pytest.mark.slow]


# -- adding a key ----------------------------------------------------------------------------
def test_first_key_turns_2fa_on_issues_backup_codes_and_is_audited(realm):
    user, key, browser = user_with_key(realm)
    assert len(user.backup_codes) == 10
    page = browser.get(realm.url("account/two-factor"))
    assert "Two-factor authentication is enabled." in page.text
    table = re.search(r'<table id="security-keys">(.*?)</table>', page.text, re.S)
    assert table and 'value="YubiKey"' in table.group(1) and "Not yet" in table.group(1)
    (row,) = keys_of(realm, user)
    assert row.name == "YubiKey" and row.sign_count == 0 and row.transports == ["usb"]
    added = events(realm, "mfa.webauthn.added")
    assert [e.detail for e in added] == [{"key_name": "YubiKey", "first_factor": True}]
    assert len(events(realm, "mfa.backup_codes.issued")) == 1


def test_several_keys_per_user_the_second_issues_no_new_codes(realm):
    user, _key, browser = user_with_key(realm)
    second = add_key(realm, browser, SoftKey(realm.base), name="MacBook")
    assert second.status == 200 and "Security key “MacBook” added." in html.unescape(second.text)
    assert sorted(k.name for k in keys_of(realm, user)) == ["MacBook", "YubiKey"]
    assert len(events(realm, "mfa.backup_codes.issued")) == 1  # only at the first key


def test_a_key_registered_already_is_refused(realm):
    """Credential ids are unique per realm: a second account cannot claim the same key."""
    _user, key, _browser = user_with_key(realm)
    other = realm.user()
    browser = realm.browser()
    account_sign_in(realm, browser, other)
    page = add_key(realm, browser, key)
    assert page.status == 400 and "registered already" in error_text(page)
    assert keys_of(realm, other) == []


def test_registration_with_a_wrong_origin_or_a_spent_challenge_is_refused(realm):
    user = realm.user()
    browser = realm.browser()
    account_sign_in(realm, browser, user)
    page = browser.get(realm.url("account/two-factor/security-keys/add"))
    options = page_options(page.text)
    key = SoftKey(realm.base)
    evil = browser.submit(
        page, {"name": "K", "credential": key.create(options, origin="http://evil.localhost")}
    )
    assert evil.status == 400 and "was not added" in error_text(evil)
    # The challenge was spent by that attempt: the right origin with it is refused too.
    again = browser.submit(page, {"name": "K", "credential": key.create(options)})
    assert again.status == 400 and keys_of(realm, user) == []


def test_a_key_name_is_required(realm):
    user = realm.user()
    browser = realm.browser()
    account_sign_in(realm, browser, user)
    page = browser.get(realm.url("account/two-factor/security-keys/add"))
    key = SoftKey(realm.base)
    refused = browser.submit(
        page, {"name": "  ", "credential": key.create(page_options(page.text))}
    )
    assert refused.status == 400 and "name of 1 to 64 characters" in error_text(refused)
    assert keys_of(realm, user) == []


def test_adding_a_key_needs_a_recent_sign_in_with_every_factor(realm):
    """A password-only session of a user with 2FA cannot add a key (as for the other 2FA
    changes): it is sent through the sign-in with the second factor first."""
    user = realm.user(with_totp=True)
    browser = realm.browser()
    account_sign_in(realm, browser, user, code=totp_code(user.totp_secret, 0))

    def stale(db: Any) -> None:  # the sign-in is older than the re-authentication window
        from idp.models import SsoSession

        for row in db.scalars(select(SsoSession).where(SsoSession.user_id == user.id)):
            row.auth_time -= 3600

    in_app(realm, stale)
    page = browser.get(realm.url("account/two-factor/security-keys/add"))
    assert "/login/" in page.url and 'data-webauthn="create"' not in page.text


# -- signing in --------------------------------------------------------------------------------
def test_sign_in_with_password_and_key_amr_hwk_user_acr_2(realm, rp):
    """RFC 8176: ``hwk`` for the key's proof of possession, ``user`` because the key verified
    the user, with ``pwd`` and ``mfa``; acr "2"."""
    user, key, _ = user_with_key(realm)
    client = make_rp(realm, rp)
    browser, flow, page = to_key_page(realm, client, user)
    assert "Use your security key" in page.text
    assert "Use a backup code instead" in page.text
    assert "Use your authenticator app" not in page.text  # this user has no app
    options = page_options(page.text)
    assert options["rpId"] == "localhost" and options["userVerification"] == "preferred"
    assert [c["id"] for c in options["allowCredentials"]] == [b64(key.credential_id)]
    post_key(browser, page, key.get(options))
    _token, claims, _at = finish_tokens(client, flow, browser)
    assert claims["amr"] == ["pwd", "hwk", "user", "mfa"] and claims["acr"] == "2"
    (row,) = keys_of(realm, user)
    assert row.sign_count == 1 and row.last_used_at is not None


def test_a_key_without_user_verification_does_not_claim_it(realm, rp):
    user, key, _ = user_with_key(realm, user_verified=False)
    client = make_rp(realm, rp)
    browser, flow, page = to_key_page(realm, client, user)
    post_key(browser, page, key.get(page_options(page.text)))
    _token, claims, _at = finish_tokens(client, flow, browser)
    assert claims["amr"] == ["pwd", "hwk", "mfa"] and claims["acr"] == "2"


def test_authenticator_app_and_backup_code_remain_alternatives(realm, rp):
    user = realm.user(with_totp=True)
    browser = realm.browser()
    account_sign_in(realm, browser, user, code=totp_code(user.totp_secret, 0))
    add_key(realm, browser, SoftKey(realm.base))
    client = make_rp(realm, rp)
    b, flow, page = to_key_page(realm, client, user)
    app = b.get(page.link("Use your authenticator app"))
    assert app.status == 200 and app.url.endswith("/totp")
    b.submit(app, {"code": totp_code(user.totp_secret, 1)})
    _token, claims, _at = finish_tokens(client, flow, b)
    assert claims["amr"] == ["pwd", "otp", "mfa"]
    b2, flow2, page2 = to_key_page(realm, client, user)
    backup = b2.get(page2.link("Use a backup code instead"))
    assert backup.status == 200 and backup.url.endswith("/backup-code")
    assert "Use your security key" in backup.text


def test_discovery_lists_the_security_key_amr_values(realm):
    meta = realm.browser().session.get(f"{realm.issuer}/.well-known/openid-configuration").json()
    assert {"pwd", "hwk", "user", "mfa"} <= set(meta["amr_values_supported"])


# -- refusals (what a browser would not send) ----------------------------------------------------
def _refused(browser: Browser, page: Page, response: str) -> Page:
    refused = post_key(browser, page, response)
    assert refused.status == 401 and KEY_PAGE in refused.url, refused.text
    assert "was not accepted" in error_text(refused)
    return refused


def test_replayed_assertion_is_refused(realm, rp):
    """A recorded assertion (its challenge spent) does not sign in again."""
    user, key, _ = user_with_key(realm)
    client = make_rp(realm, rp)
    browser, flow, page = to_key_page(realm, client, user)
    recorded = key.get(page_options(page.text))
    post_key(browser, page, recorded)
    finish_tokens(client, flow, browser)
    b2, _flow2, page2 = to_key_page(realm, client, user)
    _refused(b2, page2, recorded)
    assert _last_failure_reason(realm) == "ChallengeNotValid"


def test_assertion_for_a_wrong_origin_is_refused(realm, rp):
    user, key, _ = user_with_key(realm)
    client = make_rp(realm, rp)
    browser, _flow, page = to_key_page(realm, client, user)
    port = realm.base.rsplit(":", 1)[1]
    _refused(browser, page, key.get(page_options(page.text), origin=f"http://evil.test:{port}"))
    assert _last_failure_reason(realm) == "SecurityKeyRefused"


def test_counter_going_backwards_is_refused_and_audited_as_a_possible_clone(realm, rp):
    user, key, _ = user_with_key(realm)
    client = make_rp(realm, rp)
    browser, flow, page = to_key_page(realm, client, user)
    post_key(browser, page, key.get(page_options(page.text), sign_count=7))
    finish_tokens(client, flow, browser)
    # A copy of the key that signed fewer times than the original reports a lower counter.
    b2, _flow2, page2 = to_key_page(realm, client, user)
    _refused(b2, page2, key.get(page_options(page2.text), sign_count=5))
    (clone,) = events(realm, "mfa.webauthn.counter_regressed")
    assert clone.outcome == "failure" and clone.subject == user.email
    assert clone.detail == {"key_name": "YubiKey", "stored_count": 7, "received_count": 5}
    assert _last_failure_reason(realm) == "SignCountRegressed"
    (row,) = keys_of(realm, user)
    assert row.sign_count == 7


def test_expired_challenge_is_refused(realm, rp):
    user, key, _ = user_with_key(realm)
    client = make_rp(realm, rp)
    browser, _flow, page = to_key_page(realm, client, user)
    options = page_options(page.text)
    clock.travel(seconds=CHALLENGE_TTL + 1)  # the interaction itself is still valid
    _refused(browser, page, key.get(options))
    assert _last_failure_reason(realm) == "ChallengeNotValid"


def test_another_users_key_is_refused(realm, rp):
    _alice, alice_key, _ = user_with_key(realm)
    bob, _bob_key, _ = user_with_key(realm)
    client = make_rp(realm, rp)
    browser, _flow, page = to_key_page(realm, client, bob)
    _refused(browser, page, alice_key.get(page_options(page.text)))
    assert _last_failure_reason(realm) == "UnknownCredential"


def test_a_key_of_another_realm_is_refused(realm, rp, server):
    """The same person's key registered in realm A signs nobody in to realm B."""
    from tests.conftest import TestRealm

    _a_user, a_key, _ = user_with_key(realm)
    with server.app.app_context():
        from idp.db import get_session
        from idp.services.realms import create_realm

        db = get_session()
        row = create_realm(db, realm.name + "b", "Other")
        db.commit()
        other = TestRealm(name=row.name, id=row.id, base=realm.base, server=server)
    b_user, _b_key, _ = user_with_key(other)
    client_id, secret = other.client(redirect_uri=rp.redirect_uri)
    client = make_rp(other, type(rp)(client_id, secret, rp.redirect_uri, rp.post_logout))
    browser, _flow, page = to_key_page(other, client, b_user)
    _refused(browser, page, a_key.get(page_options(page.text)))
    assert _last_failure_reason(other) == "UnknownCredential"


def test_malformed_responses_are_refused_not_a_server_error(realm, rp):
    user, key, browser = user_with_key(realm)
    client = make_rp(realm, rp)
    b, _flow, page = to_key_page(realm, client, user)
    for junk in ("", "not json", "[]", '{"id": 1}', "x" * 60_000):  # 5: under the throttle
        page = _refused(b, page, junk)
    # Registration too.
    add = browser.get(realm.url("account/two-factor/security-keys/add"))
    for junk in ("not json", "{}", key.create({"challenge": "AAAA"})):
        refused = browser.submit(add, {"name": "K", "credential": junk})
        assert refused.status == 400, junk


def test_failed_assertions_count_in_the_second_factor_throttle(realm, rp):
    """SPEC L6 with issue 10: wrong codes and failed key assertions share one counter; when
    it runs out even a valid assertion waits."""
    user = realm.user(with_totp=True)
    browser = realm.browser()
    account_sign_in(realm, browser, user, code=totp_code(user.totp_secret, 0))
    key = SoftKey(realm.base)
    add_key(realm, browser, key)
    client = make_rp(realm, rp)
    b, _flow, page = to_key_page(realm, client, user)
    app = b.get(page.link("Use your authenticator app"))
    for _ in range(3):
        assert b.submit(app, {"code": "000000"}).status == 401
    for _ in range(2):
        page = _refused(b, page, key.get(page_options(page.text), origin="http://evil.test"))
    blocked = post_key(b, page, key.get(page_options(page.text)))
    assert blocked.status == 429 and blocked.response.headers.get("Retry-After")


def test_one_assertion_submitted_twice_at_once_signs_in_once(realm, rp):
    """The challenge is spent by one conditional DELETE: of two simultaneous submissions of
    one response (a double click, or a replay racing it) one goes on, the other is refused."""
    user, key, _ = user_with_key(realm)
    client = make_rp(realm, rp)
    browser, _flow, page = to_key_page(realm, client, user)
    csrf = next(v for n, v, _t in page.forms[-1]["fields"] if n == "csrf_token")
    data = {"csrf_token": csrf, "credential": key.get(page_options(page.text))}
    sessions = []
    for _ in range(2):
        twin = requests.Session()
        twin.cookies.update(browser.session.cookies)
        sessions.append(twin)
    start = threading.Barrier(2)

    def submit(session: requests.Session) -> int:
        start.wait()
        return session.post(page.url, data=data, allow_redirects=False, timeout=30).status_code

    before = len(events(realm, "login.succeeded"))
    with ThreadPoolExecutor(2) as pool:
        statuses = list(pool.map(submit, sessions))
    # The loser is refused: its challenge is gone (401), or it came after the winner moved
    # the sign-in on (a new browser binding) but before the winner finished it, and finds
    # no sign-in of its own (400, "no longer valid"); or, when it came after the finish, it
    # is sent to resume the sign-in the winner finished, which resumes once (flow.complete).
    assert set(statuses) <= {303, 400, 401} and 303 in statuses, statuses
    assert len(events(realm, "login.succeeded")) == before + 1
    (row,) = keys_of(realm, user)
    assert row.sign_count == 1


# -- removing, renaming ------------------------------------------------------------------------
def test_rename_a_key(realm):
    user, _key, browser = user_with_key(realm)
    page = browser.get(realm.url("account/two-factor"))
    renamed = browser.submit(page, {"name": "Blue key"}, action="/rename")
    assert "Security key renamed to “Blue key”." in html.unescape(renamed.text)
    assert [k.name for k in keys_of(realm, user)] == ["Blue key"]
    assert events(realm, "mfa.webauthn.renamed")[-1].detail["key_name"] == "Blue key"


def test_removing_one_of_two_keys_keeps_2fa(realm, rp):
    user, key, browser = user_with_key(realm)
    add_key(realm, browser, SoftKey(realm.base), name="MacBook")
    page = browser.get(realm.url("account/two-factor"))
    confirm = browser.get(page.link("Remove"))
    assert confirm.status == 200 and "last-factor" not in confirm.text
    done = browser.submit(confirm)
    assert "Security key “YubiKey” removed." in html.unescape(done.text)
    assert "Two-factor authentication is enabled." in done.text
    assert [k.name for k in keys_of(realm, user)] == ["MacBook"]
    assert events(realm, "mfa.webauthn.removed")[-1].detail == {
        "key_name": "YubiKey",
        "last_factor": False,
    }
    # The removed key signs in no more.
    client = make_rp(realm, rp)
    b, _flow, page = to_key_page(realm, client, user)
    _refused(b, page, key.get(page_options(page.text)))


def test_removing_the_last_key_is_disable(realm, rp):
    """SPEC D2: the last factor gone, 2FA is off, the backup codes stop working."""
    user, _key, browser = user_with_key(realm)
    page = browser.get(realm.url("account/two-factor"))
    confirm = browser.get(page.link("Remove"))
    assert 'id="last-factor"' in confirm.text
    done = browser.submit(confirm)
    assert "Two-factor authentication is disabled." in html.unescape(done.text)
    assert "Two-factor authentication is not enabled." in done.text
    assert keys_of(realm, user) == [] and len(events(realm, "mfa.disabled")) == 1
    client = make_rp(realm, rp)
    b, _flow, _page = to_code_page(realm, client, user)
    assert b.left_to and b.left_to.startswith(rp.redirect_uri)  # password alone now


def test_removing_the_last_key_is_refused_where_policy_requires_2fa(realm):
    """SPEC P5: where the realm requires 2FA, the last key cannot be removed."""
    user, _key, browser = user_with_key(realm)
    realm.set_policy(require_2fa="all")
    page = browser.get(realm.url("account/two-factor"))
    refused = browser.get(page.link("Remove"))
    assert "requires two-factor authentication" in refused.text
    assert len(keys_of(realm, user)) == 1


# -- admins and the operator -------------------------------------------------------------------
def test_console_shows_key_counts_and_reset_removes_keys(realm, rp):
    user, _key, _ = user_with_key(realm)
    admin = realm.user(admin=True)
    browser = realm.browser()
    home = account_sign_in(realm, browser, admin)
    users = browser.get(home.link("Admin console"))
    assert '<th scope="col">Security keys</th>' in users.text
    detail = browser.get(realm.url(f"admin/users/{user.id}"))
    assert re.search(r'<dd id="security-keys">1</dd>', detail.text)
    browser.submit(browser.get(realm.url(f"admin/users/{user.id}/reset-2fa")))
    assert keys_of(realm, user) == []
    detail = browser.get(realm.url(f"admin/users/{user.id}"))
    assert re.search(r'<dd id="security-keys">0</dd>', detail.text)


def test_operator_reset_removes_keys(realm, server):
    user, _key, _ = user_with_key(realm)
    result = run_idp(server, "user", "reset-2fa", "--realm", realm.name, user.email)
    assert result.returncode == 0, result.stderr
    assert keys_of(realm, user) == []


# -- an IP-address base URL ----------------------------------------------------------------------
@pytest.mark.settings()
def test_ip_address_base_url_says_why_keys_are_unavailable(realm):
    """Browsers refuse WebAuthn on an IP-address origin: the controls say so instead."""
    assert realm.base.startswith("http://127.0.0.1:")
    user = realm.user()
    browser = realm.browser()
    account_sign_in(realm, browser, user)
    page = browser.get(realm.url("account/two-factor"))
    assert 'id="webauthn-unavailable"' in page.text and 'id="add-key"' not in page.text
    add = browser.get(realm.url("account/two-factor/security-keys/add"))
    assert add.status == 200 and 'id="webauthn-unavailable"' in add.text
    assert "data-webauthn" not in add.text


def test_first_key_mails_two_factor_turned_on_once_and_removing_the_last_mails_off(realm, mailbox):
    """SPEC P7 with issue 10: a key that turns 2FA on is "2FA enabled" (one message, the
    second key sends none); removing the last key is Disable, which is mailed too."""
    user, _key, browser = user_with_key(realm)
    add_key(realm, browser, SoftKey(realm.base), name="MacBook")
    subjects = [m.subject for m in mailbox.to(user.email)]
    assert subjects == [f"Two-factor authentication was turned on (Test {realm.name})"]
    for _ in range(2):
        page = browser.get(realm.url("account/two-factor"))
        browser.submit(browser.get(page.link("Remove")))
    assert keys_of(realm, user) == []
    subjects = [m.subject for m in mailbox.to(user.email)]
    assert subjects[1:] == [f"Two-factor authentication was turned off (Test {realm.name})"]
