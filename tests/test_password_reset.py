"""Forgot password (issue 9, "What is sent" > "Forgot password"), over real HTTP with a real
SMTP server: the link is read from the mail that arrived and followed as a person would.

- the same answer (status, body, timing class) for known, unknown and disabled addresses;
- throttled per address and per client address;
- a single-use link, valid 30 minutes, bound to the realm;
- setting the new password ends every session and revokes the tokens;
- with 2FA, the next sign-in still asks for the code;
- the sign-in it was started from goes on to the application; audited; CSRF on the forms.

Every test runs behind a trusted proxy hop (``IDP_PROXY_COUNT=1``) and sends its own client
address in ``X-Forwarded-For``, so the per-client-address throttle of one test never meets
another test's requests.
"""

from __future__ import annotations

import secrets
import statistics
import time
from typing import Any

import pytest
from sqlalchemy import select

from idp import clock
from idp.db import get_session
from idp.models import AuditEvent, User
from idp.services import factors
from idp.services.passwords import verify_password
from tests.helpers import Browser, totp_code, wait_for_step_room
from tests.support.app_db import in_app
from tests.support.pages import notices
from tests.support.password_reset import (
    INVALID_TEXT,
    NEW_PASSWORD,
    RESET_NOTICE,
    SENT_TEXT,
    ask_for_link,
    choose_password,
    forgot_page,
    refresh_status,
    reset_link,
    reset_mail,
    sign_in_for_tokens,
    signed_in,
)
from tests.support.signin import make_rp

pytestmark = [pytest.mark.settings(proxy_count=1), pytest.mark.slow]


def client_ip() -> str:
    return "10." + ".".join(str(secrets.randbelow(250) + 1) for _ in range(3))


def browser_from(realm: Any, ip: str | None = None) -> Browser:
    """A browser whose requests come from their own client address (through the proxy)."""
    browser = realm.browser()
    browser.session.headers["X-Forwarded-For"] = ip or client_ip()
    return browser


def password_is(realm: Any, user: Any, password: str) -> bool:
    return in_app(realm, lambda db: verify_password(db.get(User, user.id).password_hash, password))


def events(realm: Any, kind: str) -> list[AuditEvent]:
    def read(db: Any) -> list[AuditEvent]:
        rows = db.scalars(
            select(AuditEvent).where(AuditEvent.realm_id == realm.id, AuditEvent.type == kind)
        ).all()
        for row in rows:
            db.expunge(row)
        return list(rows)

    return in_app(realm, read)


# -- the flow ---------------------------------------------------------------------------------
def test_forgot_password_from_the_sign_in_page_goes_on_to_the_application(realm, rp, mailbox):
    """The sign-in page's "Forgot your password?" keeps the application's sign-in: after the
    reset the user signs in there with the new password and reaches the relying party."""
    user = realm.user()
    client = make_rp(realm, rp)
    ip = client_ip()
    browser = browser_from(realm, ip)
    flow = client.start()
    sign_in = browser.get(flow.url)
    assert "/password" in sign_in.url
    page = browser.get(sign_in.link("Forgot your password?"))
    assert page.status == 200 and 'id="forgot-form"' in page.text
    sent = ask_for_link(browser, realm, user.email, page)
    assert sent.status == 200 and SENT_TEXT in sent.text
    assert sent.link("Back to sign-in") == sign_in.url.rsplit("/", 1)[0]

    mail = reset_mail(mailbox, user.email)
    assert mail.subject == f"Reset your password (Test {realm.name})"
    for part in (mail.text, mail.html):
        assert ip in part, "the message says which client address asked"
        assert "If this wasn't you, ignore this message" in part
        assert "30 minutes" in part
    link = reset_link(mailbox, user.email)
    assert link.startswith(f"{realm.issuer}/reset-password/")

    form = browser.get(link)
    assert form.status == 200 and user.email in form.text
    assert "/reset-password/" not in form.url, "the token leaves the address bar"
    done = choose_password(browser, link)
    # Back in the same sign-in (still valid), with the notice; the new password signs in.
    assert done.status == 200 and done.url == sign_in.url, done.url
    assert any(RESET_NOTICE in n for n in notices(done)), done.text
    browser.submit(done, {"email": user.email, "password": NEW_PASSWORD})
    assert browser.left_to and browser.left_to.startswith(rp.redirect_uri)
    claims = client.verify_id_token(client.finish(flow, browser)["id_token"], flow.nonce)
    assert claims["sub"] == user.sub
    # The old password is gone; the change is audited and the user is told by mail.
    assert not password_is(realm, user, user.password)
    (requested,) = events(realm, "account.password.reset_requested")
    assert requested.outcome == "success" and requested.client_address == ip
    (reset,) = events(realm, "account.password.reset_by_link")
    assert reset.subject == user.email and reset.client_address == ip
    changed = mailbox.one(user.email, "Your password was changed")
    assert ip in changed.text and f"{realm.issuer}/forgot-password" in changed.text


def test_standalone_forgot_password_leads_to_the_account_pages_sign_in(realm, mailbox):
    """Without a sign-in to go back to (a bookmark, the lockout message, another browser),
    the reset leads to the account page's sign-in."""
    user = realm.user()
    asker = browser_from(realm)
    ask_for_link(asker, realm, user.email)
    other = browser_from(realm)  # the mail is opened elsewhere
    done = choose_password(other, reset_link(mailbox, user.email))
    assert done.status == 200 and 'name="password"' in done.text and "/login/" in done.url
    assert any(RESET_NOTICE in n for n in notices(done))
    home = other.submit(done, {"email": user.email, "password": NEW_PASSWORD})
    assert home.status == 200 and home.url == realm.url("account/"), home.url


def test_account_area_sign_in_offers_forgot_password_and_returns_there(realm, mailbox):
    user = realm.user()
    browser = browser_from(realm)
    sign_in = browser.get(realm.url("account/"))
    forgot = browser.get(sign_in.link("Forgot your password?"))
    ask_for_link(browser, realm, user.email, forgot)
    done = choose_password(browser, reset_link(mailbox, user.email))
    assert done.url == sign_in.url
    home = browser.submit(done, {"email": user.email, "password": NEW_PASSWORD})
    assert home.url == realm.url("account/")


# -- no enumeration ---------------------------------------------------------------------------
def _known_unknown_disabled(realm: Any) -> tuple[str, str, str]:
    known = realm.user().email
    disabled = realm.user()
    in_app(realm, lambda db: setattr(db.get(User, disabled.id), "disabled", True))
    return known, f"nobody-{secrets.token_hex(4)}@example.com", disabled.email


def test_same_answer_for_known_unknown_and_disabled_addresses(realm, mailbox):
    """OWASP: "return a consistent message for both existent and non-existent accounts"."""
    known, unknown, disabled = _known_unknown_disabled(realm)
    answers = []
    for email in (known, unknown, disabled):
        browser = browser_from(realm)
        page = ask_for_link(browser, realm, email)
        answers.append((page.status, page.url, page.text, page.response.headers.get("Retry-After")))
    assert answers[0][0] == 200 and SENT_TEXT in answers[0][2]
    assert answers[1] == answers[0] and answers[2] == answers[0]
    # Only the account that may sign in gets a message.
    assert len(mailbox.to(known)) == 1
    assert mailbox.to(unknown) == [] and mailbox.to(disabled) == []
    # The realm's log tells the admin what happened (the subject is the address as typed).
    rows = {e.subject: e for e in events(realm, "account.password.reset_requested")}
    assert rows[known].outcome == "success"
    assert rows[unknown].detail == {"reason": "unknown_user"}
    assert rows[disabled].detail == {"reason": "account_disabled"}


def test_same_timing_class_for_known_and_unknown_addresses(realm):
    """Issue 9: "the same ... timing class". Both answers are timed over many interleaved
    tries; the medians must be of one class (within a factor of two of each other, or a
    few milliseconds apart). A message sent inline, or a password hash on one path only,
    costs tens of milliseconds and fails this."""
    known = [realm.user().email for _ in range(6)]
    unknown = [f"nobody-{secrets.token_hex(4)}@example.com" for _ in range(6)]
    browser = browser_from(realm)
    page = forgot_page(browser, realm)
    token = next(v for n, v, _ in page.forms[-1]["fields"] if n == "csrf_token")
    url = realm.url("forgot-password")
    timings: dict[str, list[float]] = {"known": [], "unknown": []}

    def ask(email: str) -> float:
        headers = {"X-Forwarded-For": client_ip()}
        started = time.perf_counter()
        resp = browser.session.post(
            url, data={"csrf_token": token, "email": email}, headers=headers, timeout=30
        )
        elapsed = time.perf_counter() - started
        assert resp.status_code == 200, resp.text
        return elapsed

    ask(unknown[0])  # warm up
    for round_ in range(4):  # 4 tries per address: below the per-address throttle
        for k, u in zip(known, unknown, strict=True):
            pair = [("known", k), ("unknown", u)]
            for kind, email in pair if round_ % 2 else reversed(pair):
                timings[kind].append(ask(email))
    known_median = statistics.median(timings["known"])
    unknown_median = statistics.median(timings["unknown"])
    slow, fast = max(known_median, unknown_median), min(known_median, unknown_median)
    assert slow < 2 * fast or slow - fast < 0.005, timings


# -- the link ---------------------------------------------------------------------------------
def test_a_link_works_once(realm, mailbox):
    user = realm.user()
    browser = browser_from(realm)
    ask_for_link(browser, realm, user.email)
    link = reset_link(mailbox, user.email)
    # Opening the link (a mail scanner does) spends nothing; setting the password does.
    assert browser_from(realm).get(link).status == 200
    choose_password(browser, link)
    for again in (browser, browser_from(realm)):
        refused = again.get(link)
        assert refused.status == 400 and INVALID_TEXT in refused.text
        assert 'id="reset-form"' not in refused.text
        new_link = refused.link("Ask for a new link")
        assert new_link.endswith("/forgot-password")
    assert password_is(realm, user, NEW_PASSWORD)


def test_a_second_link_is_revoked_by_the_first_reset(realm, mailbox):
    user = realm.user()
    browser = browser_from(realm)
    for _ in range(2):
        ask_for_link(browser, realm, user.email)
    mails = mailbox.to(user.email)
    assert len(mails) == 2
    first, second = (next(x for x in m.links() if "/reset-password/" in x) for m in mails)
    assert first != second
    choose_password(browser, second)
    assert browser.get(first).status == 400


def test_a_link_expires_after_30_minutes(realm, mailbox):
    user = realm.user()
    browser = browser_from(realm)
    ask_for_link(browser, realm, user.email)
    link = reset_link(mailbox, user.email)
    clock.travel(minutes=29)
    form = browser.get(link)
    assert form.status == 200 and 'id="reset-form"' in form.text
    clock.travel(minutes=2)
    late = browser.submit(form, {"new_password": NEW_PASSWORD, "confirm_password": NEW_PASSWORD})
    assert late.status == 400 and INVALID_TEXT in late.text
    assert browser.get(link).status == 400
    assert password_is(realm, user, user.password)


def test_a_link_of_another_realm_is_refused(realm, server, mailbox):
    """The token is bound to its realm: the same link under another realm's address (even
    one with an account of the same address) finds nothing."""
    from tests.conftest import TestRealm

    user = realm.user()
    with server.app.app_context():
        from idp.services.realms import create_realm

        db = get_session()
        name = f"r{secrets.token_hex(5)}"
        row = create_realm(db, name, f"Test {name}")
        db.commit()
        other = TestRealm(name=name, id=row.id, base=server.url, server=server)
    twin = other.user(user.email)
    browser = browser_from(realm)
    ask_for_link(browser, realm, user.email)
    link = reset_link(mailbox, user.email)
    moved = link.replace(f"/realms/{realm.name}/", f"/realms/{other.name}/")
    refused = browser.get(moved)
    assert refused.status == 400 and INVALID_TEXT in refused.text
    assert password_is(other, twin, twin.password) and password_is(realm, user, user.password)
    # The link still works in its own realm.
    choose_password(browser, link)
    assert password_is(realm, user, NEW_PASSWORD)


@pytest.mark.parametrize("token", ["", "x", "A" * 43, "A" * 500, "%00", "..%2f..%2f"])
def test_made_up_links_show_the_invalid_link_page(realm, token):
    browser = browser_from(realm)
    page = browser.get(realm.url(f"reset-password/{token}"))
    assert page.status in (400, 404), page.text
    if page.status == 400:
        assert INVALID_TEXT in page.text or "Bad request" in page.text


def test_opening_the_reset_form_without_a_link_shows_the_invalid_link_page(realm):
    page = browser_from(realm).get(realm.url("reset-password"))
    assert page.status == 400 and INVALID_TEXT in page.text


def test_new_password_rules_and_confirmation_keep_the_link(realm, mailbox):
    user = realm.user()
    browser = browser_from(realm)
    ask_for_link(browser, realm, user.email)
    link = reset_link(mailbox, user.email)
    form = browser.get(link)
    mismatch = browser.submit(form, {"new_password": NEW_PASSWORD, "confirm_password": "other"})
    assert mismatch.status == 400 and "The new passwords do not match." in mismatch.text
    short = browser.submit(mismatch, {"new_password": "short", "confirm_password": "short"})
    assert short.status == 400 and "at least 8 characters" in short.text
    japanese = browser.submit(
        browser.get(realm.url("reset-password?lang=ja")),
        {"new_password": "short", "confirm_password": "short"},
    )
    assert japanese.status == 400 and "パスワードは8文字以上" in japanese.text, japanese.text
    browser.get(realm.url("reset-password?lang=en"))
    assert password_is(realm, user, user.password)
    done = choose_password(browser, link)
    assert done.status == 200 and password_is(realm, user, NEW_PASSWORD)


# -- throttles --------------------------------------------------------------------------------
def _retry_after(page: Any) -> int:
    assert page.status == 429, page.text
    assert "Too many attempts" in page.text and 'data-form="forgot-form"' in page.text
    return int(page.response.headers["Retry-After"])


def test_requests_are_throttled_per_address_whoever_asks(realm, mailbox):
    """Five requests for one address (from five client addresses) pass; the sixth waits,
    for a known and an unknown address alike, so the refusal reveals nothing."""
    known = realm.user().email
    unknown = f"nobody-{secrets.token_hex(4)}@example.com"
    waits = {}
    for email in (known, unknown):
        for _ in range(5):
            assert ask_for_link(browser_from(realm), realm, email).status == 200
        waits[email] = _retry_after(ask_for_link(browser_from(realm), realm, email))
    assert 0 < waits[known] <= 60 and 0 < waits[unknown] <= 60
    assert len(mailbox.to(known)) == 5, "a refused request sends nothing"
    # Another address is not held up; once the wait is over the address may ask again.
    assert ask_for_link(browser_from(realm), realm, realm.user().email).status == 200
    clock.travel(seconds=61)
    assert ask_for_link(browser_from(realm), realm, known).status == 200


def test_requests_are_throttled_per_client_address(realm, mailbox):
    ip = client_ip()
    for _ in range(20):
        email = f"nobody-{secrets.token_hex(4)}@example.com"
        assert ask_for_link(browser_from(realm, ip), realm, email).status == 200
    user = realm.user()
    wait = _retry_after(ask_for_link(browser_from(realm, ip), realm, user.email))
    assert 0 < wait <= 30
    assert mailbox.to(user.email) == []
    # Another client address is not held up.
    assert ask_for_link(browser_from(realm), realm, user.email).status == 200
    assert len(mailbox.to(user.email)) == 1


# -- what a reset does ------------------------------------------------------------------------
def test_reset_ends_every_session_and_refresh_tokens_stop_working(realm, rp, mailbox):
    user = realm.user()
    client = make_rp(realm, rp)
    elsewhere, token = sign_in_for_tokens(realm, client, user.email, user.password)
    assert signed_in(realm, elsewhere)
    assert refresh_status(client, rp, token["refresh_token"])[0] == 200
    elsewhere, token = sign_in_for_tokens(realm, client, user.email, user.password)
    browser = browser_from(realm)
    ask_for_link(browser, realm, user.email)
    choose_password(browser, reset_link(mailbox, user.email))
    assert not signed_in(realm, elsewhere)
    assert refresh_status(client, rp, token["refresh_token"]) == (400, "invalid_grant")
    introspected = client.introspect(token["access_token"])
    assert introspected["active"] is False


def test_with_two_factor_the_code_is_still_required(realm, rp, mailbox):
    """Issue 9: "a reset never bypasses the second factor"."""
    user = realm.user(with_totp=True)
    client = make_rp(realm, rp)
    browser = browser_from(realm)
    flow = client.start()
    sign_in = browser.get(flow.url)
    ask_for_link(browser, realm, user.email, browser.get(sign_in.link("Forgot your password?")))
    done = choose_password(browser, reset_link(mailbox, user.email))
    code_page = browser.submit(done, {"email": user.email, "password": NEW_PASSWORD})
    assert code_page.status == 200 and "/totp" in code_page.url, code_page.text
    assert browser.left_to is None, "no code for the application before the second factor"
    wait_for_step_room()
    browser.submit(code_page, {"code": totp_code(user.totp_secret)})
    assert browser.left_to and browser.left_to.startswith(rp.redirect_uri)
    claims = client.verify_id_token(client.finish(flow, browser)["id_token"], flow.nonce)
    assert "mfa" in claims["amr"] and "otp" in claims["amr"], claims
    assert in_app(realm, lambda db: factors.has_second_factor(db, db.get(User, user.id)))


def test_reset_mail_in_the_users_language(realm, mailbox):
    user = realm.user()
    in_app(realm, lambda db: setattr(db.get(User, user.id), "locale", "ja"))
    ask_for_link(browser_from(realm), realm, user.email)
    (mail,) = mailbox.to(user.email)
    assert "パスワード" in mail.subject and "30" in mail.text, mail.text


# -- CSRF -------------------------------------------------------------------------------------
def test_the_forms_need_the_csrf_token(realm, mailbox):
    user = realm.user()
    browser = browser_from(realm)
    forged = browser.session.post(
        realm.url("forgot-password"), data={"email": user.email}, timeout=10
    )
    assert forged.status_code == 400 and "The form has expired" in forged.text
    assert mailbox.to(user.email) == []
    ask_for_link(browser, realm, user.email)
    browser.get(reset_link(mailbox, user.email))  # the token is in this browser's session
    forged = browser.session.post(
        realm.url("reset-password"),
        data={"new_password": NEW_PASSWORD, "confirm_password": NEW_PASSWORD},
        timeout=10,
    )
    assert forged.status_code == 400 and "The form has expired" in forged.text
    assert password_is(realm, user, user.password)


def test_an_unknown_realm_has_no_forgot_password_page(realm):
    browser = browser_from(realm)
    assert browser.get(f"{realm.base}/realms/no-such-realm/forgot-password").status == 404


def test_a_reset_by_link_proves_the_address_and_answers_an_invitation(realm, rp, mailbox):
    """Issue 9: following the emailed link proves the mailbox, as a verification link does
    (Keycloak marks the address verified after "forgot password" too); an invitation still
    pending for that account stops working, since the user has chosen a password."""
    from tests.support.mail_links import email_claims, link_in, link_refused

    user = realm.user()
    assert email_claims(realm, rp, user.email, user.password) == (False, False)
    browser = browser_from(realm)
    ask_for_link(browser, realm, user.email)
    choose_password(browser, reset_link(mailbox, user.email))
    assert email_claims(realm, rp, user.email, NEW_PASSWORD) == (True, True)

    invited = f"invited-{secrets.token_hex(3)}@example.com"

    def invite(db: Any) -> None:
        from idp.models import Realm
        from idp.services.invitations import invite_user

        invite_user(db, db.get(Realm, realm.id), invited, actor="operator", client_address=None)
        db.commit()

    in_app(realm, invite)
    invitation = link_in(mailbox.one(invited, "invited"), "/email/invitation/")
    ask_for_link(browser_from(realm), realm, invited)
    choose_password(browser_from(realm), reset_link(mailbox, invited))
    assert link_refused(browser_from(realm).get(invitation))
