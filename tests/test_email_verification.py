"""Issue 9, "Verify email": the account page's "Verify your email address" sends a link;
following it sets ``email_verified`` (ID token and UserInfo), once, only for the address it
was sent to, only in its realm, only within 24 hours; a change of address makes the claim
false again; an admin can send the link from the console; sending is throttled.

Everything goes through the live HTTP server, and the links are read from the mail that
reached a real SMTP server (aiosmtpd on loopback)."""

from __future__ import annotations

import secrets

import pytest

from idp import clock
from idp.db import get_session
from idp.models import User
from idp.services.realms import create_realm
from idp.services.verification import RESEND_INTERVAL_SECONDS, VERIFY_TTL_SECONDS
from tests.helpers import Browser, run_idp
from tests.support.console import admin_browser
from tests.support.mail_links import email_claims, events_of, link_in, link_refused
from tests.support.pages import notices
from tests.support.signin import account_sign_in

pytestmark = pytest.mark.slow

SUBJECT = "Verify your email address"


def _verified_in_db(realm, user_id: int) -> bool:
    with realm.server.app.app_context():
        return get_session().get(User, user_id).email_verified


def _ask_for_link(realm, browser: Browser):
    home = browser.get(realm.url("account/"))
    assert 'id="verify-email-form"' in home.text
    return browser.submit(home, action="/account/verify-email")


def _follow(browser: Browser, link: str):
    """Open the link (which changes nothing) and confirm on the page it shows."""
    page = browser.get(link)
    if page.status != 200:
        return page
    assert "Confirm my email address" in page.text
    return browser.submit(page, action="/email/verify/")


def test_verify_link_works_once_and_the_claim_flips(realm, rp, mailbox):
    user = realm.user()
    assert email_claims(realm, rp, user.email, user.password) == (False, False)
    browser = realm.browser()
    home = account_sign_in(realm, browser, user)
    assert '<dd id="email-verified"><span class="badge off">Not verified</span>' in home.text
    sent = _ask_for_link(realm, browser)
    assert f"We sent a link to {user.email}. Open it within 24 hours" in notices(sent)[0]

    mail = mailbox.one(user.email, SUBJECT)
    assert f"Test {realm.name}" in mail.subject and f"Test {realm.name}" in mail.html
    assert "24 hours" in mail.text and "If this wasn't you" in mail.text
    link = link_in(mail, "/email/verify/")
    assert _verified_in_db(realm, user.id) is False, "opening the mail changes nothing"
    opened = browser.get(link)
    assert opened.status == 200 and user.email in opened.text
    assert _verified_in_db(realm, user.id) is False, "opening the link (a GET) changes nothing"
    done = browser.submit(opened, action="/email/verify/")
    assert done.status == 200 and f"{user.email} is verified." in done.text
    home = browser.get(realm.url("account/"))
    assert '<dd id="email-verified"><span class="badge on">Verified</span>' in home.text
    assert 'id="verify-email-form"' not in home.text
    assert email_claims(realm, rp, user.email, user.password) == (True, True)

    # Single use: the same link again, opened or posted, in any browser.
    assert link_refused(browser.get(link))
    assert link_refused(_follow(realm.browser(), link))

    _, admin_b, _ = admin_browser(realm)
    rows = [r for r in events_of(admin_b, realm, user.email) if r["type"].startswith("account.")]
    kinds = [r["type"] for r in rows]
    assert kinds == ["account.email.verified", "account.email.verification_sent"]
    assert all(r["actor"] == f"user:{user.email}" for r in rows)


def test_link_for_a_changed_address_does_not_verify_the_new_one(realm, rp, mailbox):
    """The link proves the mailbox it was sent to: after the admin changes the address, the
    old link is refused and the new address stays unverified."""
    user = realm.user()
    browser = realm.browser()
    account_sign_in(realm, browser, user)
    _ask_for_link(realm, browser)
    link = link_in(mailbox.one(user.email, SUBJECT), "/email/verify/")

    admin, admin_b, _ = admin_browser(realm)
    page = admin_b.get(realm.url(f"admin/users/{user.id}"))
    new_email = f"moved-{secrets.token_hex(3)}@example.com"
    changed = admin_b.submit(page, {"email": new_email}, action=f"/users/{user.id}/email")
    assert f"The email address is now {new_email}." in notices(changed)
    assert link_refused(_follow(realm.browser(), link))
    assert _verified_in_db(realm, user.id) is False
    assert email_claims(realm, rp, new_email, user.password) == (False, False)
    kinds = [r["type"] for r in events_of(admin_b, realm, new_email)]
    assert "admin.user.email_changed" in kinds


def test_changing_a_verified_address_makes_the_claim_false_unless_the_admin_vouches(realm, rp):
    user = realm.user()
    admin, admin_b, _ = admin_browser(realm)
    page = admin_b.get(realm.url(f"admin/users/{user.id}"))
    page = admin_b.submit(page, action="/email-verified")  # vouch for the first address
    assert email_claims(realm, rp, user.email, user.password) == (True, True)

    second = f"second-{secrets.token_hex(3)}@example.com"
    page = admin_b.submit(page, {"email": second}, action=f"/users/{user.id}/email")
    assert '<dd id="email-verified">Not verified</dd>' in page.text
    assert email_claims(realm, rp, second, user.password) == (False, False)

    third = f"third-{secrets.token_hex(3)}@example.com"
    page = admin_b.submit(
        page, {"email": third, "verified": "yes"}, action=f"/users/{user.id}/email"
    )
    assert '<dd id="email-verified">Verified</dd>' in page.text
    assert email_claims(realm, rp, third, user.password) == (True, True)

    # Another account's address is refused, with a clear message; nothing changes.
    other = realm.user()
    refused = admin_b.submit(page, {"email": other.email}, action=f"/users/{user.id}/email")
    assert "Another account of this realm has that email address." in notices(refused)
    with realm.server.app.app_context():
        assert get_session().get(User, user.id).email == third


def test_link_from_another_realm_is_refused(realm, server, mailbox):
    user = realm.user()
    browser = realm.browser()
    account_sign_in(realm, browser, user)
    _ask_for_link(realm, browser)
    link = link_in(mailbox.one(user.email, SUBJECT), "/email/verify/")
    other = f"r{secrets.token_hex(5)}"
    with server.app.app_context():
        db = get_session()
        create_realm(db, other, "Other")
        db.commit()
    moved = link.replace(f"/realms/{realm.name}/", f"/realms/{other}/")
    assert link_refused(_follow(Browser(realm.base), moved))
    assert _verified_in_db(realm, user.id) is False
    # Refusing it elsewhere did not spend it here.
    assert _follow(browser, link).status == 200
    assert _verified_in_db(realm, user.id) is True


def test_link_expires_after_24_hours(realm, mailbox):
    user = realm.user()
    browser = realm.browser()
    account_sign_in(realm, browser, user)
    _ask_for_link(realm, browser)
    link = link_in(mailbox.one(user.email, SUBJECT), "/email/verify/")
    clock.travel(seconds=VERIFY_TTL_SECONDS - 60)
    assert browser.get(link).status == 200, "still valid a minute before the day is over"
    clock.travel(seconds=61)
    assert link_refused(_follow(browser, link))
    assert _verified_in_db(realm, user.id) is False


def test_sending_is_throttled_and_a_new_link_replaces_the_old(realm, mailbox):
    """At most one link a minute per user, so the button can't flood a mailbox; a newer
    link revokes the older one."""
    user = realm.user()
    browser = realm.browser()
    account_sign_in(realm, browser, user)
    _ask_for_link(realm, browser)
    again = _ask_for_link(realm, browser)
    assert "A link was sent less than a minute ago." in notices(again)[0]
    assert len(mailbox.to(user.email)) == 1
    first = link_in(mailbox.smtp.to(user.email)[0], "/email/verify/")

    clock.travel(seconds=RESEND_INTERVAL_SECONDS + 1)
    _ask_for_link(realm, browser)
    received = mailbox.to(user.email)
    assert len(received) == 2
    second = link_in(received[1], "/email/verify/")
    assert link_refused(_follow(browser, first))
    assert _follow(browser, second).status == 200
    assert _verified_in_db(realm, user.id) is True


def test_admin_sends_the_link_from_the_console(realm, mailbox):
    user = realm.user()
    admin, admin_b, _ = admin_browser(realm)
    page = admin_b.get(realm.url(f"admin/users/{user.id}"))
    sent = admin_b.submit(page, action="/send-verification")
    assert f"A verification link is sent to {user.email}." in notices(sent)
    link = link_in(mailbox.one(user.email, SUBJECT), "/email/verify/")
    # The user follows it in their own browser, signed in or not.
    assert _follow(realm.browser(), link).status == 200
    assert _verified_in_db(realm, user.id) is True
    rows = events_of(admin_b, realm, user.email)
    sent_rows = [r for r in rows if r["type"] == "account.email.verification_sent"]
    assert sent_rows and sent_rows[0]["actor"] == f"admin:{admin.email}"
    # A verified address gets no more links.
    page = admin_b.get(realm.url(f"admin/users/{user.id}"))
    assert 'id="send-verification"' not in page.text


def test_cli_set_email_makes_the_address_unverified_unless_vouched(realm, server):
    user = realm.user()
    new = f"cli-{secrets.token_hex(3)}@example.com"
    done = run_idp(server, "user", "set-email", user.email, new, "--realm", realm.name, "--json")
    assert done.returncode == 0, done.stderr
    assert '"email_verified": false' in done.stdout
    vouched = f"cli2-{secrets.token_hex(3)}@example.com"
    done = run_idp(
        server,
        "user",
        "set-email",
        new,
        vouched,
        "--email-verified",
        "--realm",
        realm.name,
        "--json",
    )
    assert done.returncode == 0, done.stderr
    assert '"email_verified": true' in done.stdout
    taken = realm.user()
    refused = run_idp(server, "user", "set-email", vouched, taken.email, "--realm", realm.name)
    assert refused.returncode == 1
    assert "Another account of this realm has that email address." in refused.stderr
