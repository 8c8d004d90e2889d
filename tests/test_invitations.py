"""Issue 9, "Invitations": an admin invites a user by email from the console (or the
operator with ``idp user invite``); the user chooses their own password through the emailed
link, which also verifies the address; the link works once and for 7 days, can be resent
(the old link stops working) or revoked (the never-used account is deleted); an invited
account can't be signed into before; the audit log shows each step.

Everything goes through the live HTTP server; links are read from the mail that reached a
real SMTP server (aiosmtpd on loopback)."""

from __future__ import annotations

import json
import re
import secrets

import pytest

from idp import clock
from idp.db import get_session
from idp.models import Realm
from idp.services.invitations import INVITATION_TTL_SECONDS
from idp.services.users import find_user_by_email
from tests.helpers import Browser, run_idp
from tests.support.console import admin_browser
from tests.support.mail_links import email_claims, events_of, link_in, link_refused
from tests.support.pages import error_text, notices
from tests.support.signin import WRONG_PASSWORD_TEXT

pytestmark = pytest.mark.slow

SUBJECT = "You are invited"
NEW_PASSWORD = "my own secret 42"


def _new_address() -> str:
    return f"invitee-{secrets.token_hex(4)}@example.com"


def _invite(realm, browser: Browser, email: str, **fields: str):
    users = browser.get(realm.url("admin/users"))
    form = browser.get(users.link("Invite user"))
    assert form.status == 200 and 'id="invite-form"' in form.text
    return browser.submit(form, {"email": email, **fields}, action="/users/invite")


def _account(realm, email: str):
    with realm.server.app.app_context():
        db = get_session()
        user = find_user_by_email(db, db.get(Realm, realm.id), email)
        if user is not None:
            db.expunge(user)
        return user


def _accept(link: str, realm, password: str = NEW_PASSWORD, confirm: str | None = None):
    browser = Browser(realm.base)
    page = browser.get(link)
    if page.status != 200:
        return browser, page
    assert "Choose your password" in page.text
    data = {"new_password": password, "confirm_password": confirm or password}
    return browser, browser.submit(page, data, action="/email/invitation/")


def _password_sign_in(realm, email: str, password: str):
    browser = realm.browser()
    page = browser.get(realm.url("account/"))
    return browser.submit(page, {"email": email, "password": password})


def test_admin_invites_and_the_user_sets_a_password_which_verifies_the_address(realm, rp, mailbox):
    admin, browser, _ = admin_browser(realm)
    email = _new_address()
    page = _invite(realm, browser, email, name="Ada Invitee", admin="yes")
    assert page.status == 200 and f"{email} is invited." in notices(page)[0]
    assert "The invitation expires on" in notices(page)[0]
    assert "Invited: the link to choose a password works until" in page.text
    listed = browser.get(realm.url(f"admin/users?q={email}"))
    assert "Invited, expires" in listed.text
    account = _account(realm, email)
    assert account.password_hash == "" and account.is_admin and not account.email_verified
    assert account.display_name == "Ada Invitee"

    mail = mailbox.one(email, SUBJECT)
    assert f"Test {realm.name}" in mail.subject
    assert "Ada Invitee" not in mail.subject and "7 days" in mail.text
    link = link_in(mail, "/email/invitation/")

    # The rules of every password page: both fields equal, at least 8 characters; a refusal
    # leaves the link usable.
    _, mismatch = _accept(link, realm, confirm="something else")
    assert mismatch.status == 400 and error_text(mismatch) == "The new passwords do not match."
    _, short = _accept(link, realm, password="short")
    assert short.status == 400
    assert error_text(short) == "The password must be at least 8 characters long."

    accept_browser, accepted = _accept(link, realm)
    # The browser is on the sign-in page, the address filled in, with the notice.
    assert 'name="password"' in accepted.text and email in accepted.text
    assert "Your password is set and your email address is verified." in accepted.text
    signed_in = accept_browser.submit(accepted, {"email": email, "password": NEW_PASSWORD})
    assert "Account settings</h1>" in signed_in.text
    assert email_claims(realm, rp, email, NEW_PASSWORD) == (True, True)

    # Single use, and the console no longer shows an invitation.
    assert link_refused(_accept(link, realm, password="another password 1")[1])
    page = browser.get(realm.url(f"admin/users/{account.id}"))
    assert 'id="invitation-state"' not in page.text
    assert '<dd id="account-status">Active</dd>' in page.text

    kinds = [r["type"] for r in events_of(browser, realm, email)]
    assert "admin.user.invited" in kinds and "account.invitation.accepted" in kinds
    invited = [r for r in events_of(browser, realm, email) if r["type"] == "admin.user.invited"]
    assert invited[0]["actor"] == f"admin:{admin.email}"


def test_an_invited_account_cannot_be_signed_into_before_it_is_accepted(realm, mailbox):
    """No password matches an invited account (its hash is empty): an empty or any password
    gets the wrong-password answer, as an unknown address does; no 500, no enumeration."""
    _, browser, _ = admin_browser(realm)
    email = _new_address()
    _invite(realm, browser, email)
    for password in ("", "x", NEW_PASSWORD):
        page = _password_sign_in(realm, email, password)
        assert page.status == 401, page.text
        assert error_text(page) == WRONG_PASSWORD_TEXT
    unknown = _password_sign_in(realm, _new_address(), "x")
    assert unknown.status == 401 and error_text(unknown) == WRONG_PASSWORD_TEXT
    failed = [r for r in events_of(browser, realm, email) if r["type"] == "login.password.failed"]
    assert len(failed) == 3
    assert all("invitation not accepted yet" in r["detail"] for r in failed)


def test_invitation_expires_after_7_days_and_resend_gives_a_new_link(realm, mailbox):
    _, browser, _ = admin_browser(realm)
    email = _new_address()
    _invite(realm, browser, email)
    old = link_in(mailbox.one(email, SUBJECT), "/email/invitation/")
    clock.travel(seconds=INVITATION_TTL_SECONDS - 60)
    assert Browser(realm.base).get(old).status == 200, "valid a minute before the 7 days end"
    clock.travel(seconds=61)
    assert link_refused(_accept(old, realm)[1])

    # The admin signs in again (the clock moved a week) and sees the expired invitation.
    _, browser, _ = admin_browser(realm)
    listed = browser.get(realm.url(f"admin/users?q={email}"))
    assert "Invitation expired" in listed.text
    user_id = _account(realm, email).id
    page = browser.get(realm.url(f"admin/users/{user_id}"))
    resent = browser.submit(page, {"action": "resend"}, action="/invitation")
    assert f"A new invitation is sent to {email}." in notices(resent)[0]
    received = mailbox.to(email)
    assert len(received) == 2
    new = link_in(received[1], "/email/invitation/")
    assert link_refused(_accept(old, realm)[1])
    assert "Your password is set" in _accept(new, realm)[1].text


def test_resend_revokes_the_old_link(realm, mailbox):
    _, browser, _ = admin_browser(realm)
    email = _new_address()
    page = _invite(realm, browser, email)
    old = link_in(mailbox.one(email, SUBJECT), "/email/invitation/")
    browser.submit(page, {"action": "resend"}, action="/invitation")
    received = mailbox.to(email)
    assert len(received) == 2
    new = link_in(received[1], "/email/invitation/")
    assert new != old
    assert link_refused(_accept(old, realm)[1])
    assert "Your password is set" in _accept(new, realm)[1].text
    rows = events_of(browser, realm, email)
    assert [r["type"] for r in rows if r["type"].startswith("admin.user.invit")] == [
        "admin.user.invitation_resent",
        "admin.user.invited",
    ]


def test_revoke_refuses_the_link_and_deletes_the_unused_account(realm, mailbox):
    _, browser, _ = admin_browser(realm)
    email = _new_address()
    page = _invite(realm, browser, email)
    link = link_in(mailbox.one(email, SUBJECT), "/email/invitation/")
    confirm = browser.get(page.link("Revoke invitation"))
    assert f"Revoke the invitation of {email}?" in confirm.text
    assert _account(realm, email) is not None, "opening the confirmation changes nothing"
    revoked = browser.submit(confirm, action="/invitation")
    assert f"The invitation of {email} is revoked and the account deleted." in notices(revoked)
    assert link_refused(_accept(link, realm)[1])
    assert _account(realm, email) is None
    assert _password_sign_in(realm, email, NEW_PASSWORD).status == 401
    # The event outlives the account (it keeps the address).
    kinds = [r["type"] for r in events_of(browser, realm, email)]
    assert "admin.user.invitation_revoked" in kinds
    # The address can be invited again.
    again = _invite(realm, browser, email)
    assert f"{email} is invited." in notices(again)[0]


def test_revoke_before_the_sender_ran_sends_nothing(realm, mailbox):
    _, browser, _ = admin_browser(realm)
    email = _new_address()
    page = _invite(realm, browser, email)
    browser.submit(page, {"action": "revoke"}, action="/invitation")
    assert mailbox.to(email) == []


def test_inviting_an_existing_address_is_refused(realm, server):
    existing = realm.user()
    _, browser, _ = admin_browser(realm)
    page = _invite(realm, browser, existing.email.upper())
    assert page.status == 400
    assert error_text(page) == "An account with this email address exists in this realm."
    bad = _invite(realm, browser, "not-an-address")
    assert bad.status == 400 and error_text(bad) == "Enter a valid email address."
    done = run_idp(server, "user", "invite", existing.email, "--realm", realm.name)
    assert done.returncode == 1
    assert "An account with this email address exists in this realm." in done.stderr


def test_a_non_admin_cannot_invite(realm):
    user = realm.user()
    browser = realm.browser()
    page = browser.get(realm.url("admin/users/invite"))
    page = browser.submit(page, {"email": user.email, "password": user.password})
    assert page.status == 403


def test_cli_invite(realm, server, rp, mailbox):
    email = _new_address()
    done = run_idp(
        server, "user", "invite", email, "--realm", realm.name, "--name", "Cli User", "--json"
    )
    assert done.returncode == 0, done.stderr
    data = json.loads(done.stdout)
    assert data["email"] == email and data["admin"] is False
    assert re.match(r"\d{4}-\d\d-\d\dT", data["invitation_expires_at"])
    mail = mailbox.one(email, SUBJECT)
    link = link_in(mail, "/email/invitation/")
    assert "Your password is set" in _accept(link, realm)[1].text
    assert email_claims(realm, rp, email, NEW_PASSWORD) == (True, True)
    _, browser, _ = admin_browser(realm)
    rows = events_of(browser, realm, email)
    invited = [r for r in rows if r["type"] == "admin.user.invited"]
    assert invited[0]["actor"] == "operator"


def test_setting_a_password_in_the_console_ends_the_invitation(realm, mailbox):
    """The console's other way (Reset password) still works for an invited account; the
    invitation link then no longer sets a password."""
    _, browser, _ = admin_browser(realm)
    email = _new_address()
    page = _invite(realm, browser, email)
    link = link_in(mailbox.one(email, SUBJECT), "/email/invitation/")
    done = browser.submit(page, {"password": "admin chose 1"}, action="/password")
    assert f"The password of {email} is reset." in notices(done)
    assert 'id="invitation-state"' not in done.text
    assert link_refused(_accept(link, realm)[1])
    assert _password_sign_in(realm, email, "admin chose 1").status == 200


def test_made_up_or_odd_links_are_refused_without_an_error(realm):
    browser = Browser(realm.base)
    for token in ("x", "A" * 43, "%E2%80%AE" * 5):
        assert link_refused(browser.get(realm.url(f"email/invitation/{token}")))
        assert link_refused(browser.get(realm.url(f"email/verify/{token}")))
    assert browser.get(realm.url("email/invitation/" + "A" * 101)).status == 404
    # A POST with a made-up token and a valid CSRF token: the same page, nothing else.
    page = browser.get(realm.url("account/"))  # any page: the sign-in sets the CSRF cookie
    csrf = next(v for n, v, _ in page.forms[-1]["fields"] if n == "csrf_token")
    for path in ("email/invitation/made-up", "email/verify/made-up"):
        resp = browser.session.post(
            realm.url(path),
            data={
                "csrf_token": csrf,
                "new_password": NEW_PASSWORD,
                "confirm_password": NEW_PASSWORD,
            },
            timeout=10,
        )
        assert resp.status_code == 400 and "This link does not work" in resp.text
