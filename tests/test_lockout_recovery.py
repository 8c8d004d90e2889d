"""Second-factor lockout (issue 9): when the second-factor wait (SPEC L6) first starts, the
user is emailed that someone has their password and is guessing codes, with the way out: a
password reset by email, which proves the mailbox the guesser lacks and clears the wait.
The user gets back in with the new password and a code; 2FA stays enabled and asked."""

from __future__ import annotations

import secrets
from datetime import timedelta
from typing import Any

import pytest
from sqlalchemy import select, update

from idp.db import utcnow
from idp.models import AuditEvent, Throttle, User
from idp.services import factors, throttle
from tests.helpers import Browser, Page, totp_code, wait_for_step_room
from tests.support.app_db import in_app
from tests.support.password_reset import NEW_PASSWORD, ask_for_link, choose_password, reset_link
from tests.support.signin import make_rp

pytestmark = [pytest.mark.settings(proxy_count=1), pytest.mark.slow]

LOCKOUT_SUBJECT = "Someone is trying to sign in to your account"


def browser_from(realm: Any, ip: str) -> Browser:
    browser = realm.browser()
    browser.session.headers["X-Forwarded-For"] = ip
    return browser


def wrong_code(secret: str) -> str:
    near = {totp_code(secret, k) for k in range(-3, 4)}
    return next(f"{v:06d}" for v in range(10**6) if f"{v:06d}" not in near)


def to_code_page(realm: Any, client: Any, browser: Browser, email: str, password: str) -> tuple:
    flow = client.start()
    page = browser.submit(browser.get(flow.url), {"email": email, "password": password})
    assert page.status == 200 and "/totp" in page.url, page.text
    return flow, page


def guess(browser: Browser, page: Page, code: str) -> Page:
    return browser.submit(page, {"code": code})


def pass_the_wait(realm: Any, user: Any) -> None:
    """The wait passes (the block moved into the past), as after waiting it out."""
    in_app(
        realm,
        lambda db: db.execute(
            update(Throttle)
            .where(Throttle.key == throttle.second_factor_key(user.id))
            .values(blocked_until=utcnow() - timedelta(seconds=1))
        ),
    )


def lockout_mails(mailbox: Any, email: str) -> list[Any]:
    return [m for m in mailbox.to(email) if LOCKOUT_SUBJECT in m.subject]


def test_locked_out_user_gets_one_mail_resets_by_link_and_signs_in_with_2fa(realm, rp, mailbox):
    """The whole story of issue 9: the guesser (who has the password) locks the user out;
    one message arrives; the user resets the password through the emailed link and signs in
    with the new password and a code, reaching the relying party, with 2FA still on."""
    user = realm.user(with_totp=True)
    client = make_rp(realm, rp)
    attacker_ip = f"10.66.{secrets.randbelow(250)}.{secrets.randbelow(250)}"
    attacker = browser_from(realm, attacker_ip)
    _, page = to_code_page(realm, client, attacker, user.email, user.password)
    wrong = wrong_code(user.totp_secret)
    for _ in range(5):
        page = guess(attacker, page, wrong)
        assert page.status == 401
    for _ in range(3):  # refused tries during the wait
        page = guess(attacker, page, wrong)
        assert page.status == 429
    # The wait passes; the guesser goes on, and the wait starts again (longer): no new mail.
    pass_the_wait(realm, user)
    page = guess(attacker, page, wrong)
    assert page.status == 401
    assert guess(attacker, page, wrong).status == 429

    (mail,) = lockout_mails(mailbox, user.email)
    assert mail.subject == f"{LOCKOUT_SUBJECT} (Test {realm.name})"
    for part in (mail.text, mail.html):
        assert attacker_ip in part
        assert "someone has your password and is guessing your security codes" in part
    links = mail.links()
    forgot = f"{realm.issuer}/forgot-password"
    assert forgot in links and all("/reset-password/" not in x for x in links), links
    (event,) = in_app(
        realm,
        lambda db: [
            e.type
            for e in db.scalars(
                select(AuditEvent).where(
                    AuditEvent.realm_id == realm.id, AuditEvent.type == "login.second_factor.locked"
                )
            )
        ],
    )

    # The real user is locked out even with the right code...
    user_browser = browser_from(realm, f"10.77.{secrets.randbelow(250)}.{secrets.randbelow(250)}")
    _, page = to_code_page(realm, client, user_browser, user.email, user.password)
    assert guess(user_browser, page, totp_code(user.totp_secret)).status == 429
    # ...follows the lockout mail's link, asks for a reset, follows the reset link.
    forgot_page = user_browser.get(forgot)
    assert forgot_page.status == 200 and 'id="forgot-form"' in forgot_page.text
    ask_for_link(user_browser, realm, user.email, forgot_page)
    done = choose_password(user_browser, reset_link(mailbox, user.email))
    assert done.status == 200 and 'name="password"' in done.text
    # The wait is cleared; the new password and a valid code reach the relying party.
    wait_for_step_room()
    flow, page = to_code_page(realm, client, user_browser, user.email, NEW_PASSWORD)
    user_browser.submit(page, {"code": totp_code(user.totp_secret)})
    assert user_browser.left_to and user_browser.left_to.startswith(rp.redirect_uri)
    token = client.finish(flow, user_browser)
    claims = client.verify_id_token(token["id_token"], flow.nonce)
    assert claims["sub"] == user.sub and "mfa" in claims["amr"]
    assert in_app(realm, lambda db: factors.has_second_factor(db, db.get(User, user.id)))
    # The guesser's old password is dead: the password alone gets nowhere.
    refused = browser_from(realm, attacker_ip)
    flow = client.start()
    page = refused.submit(refused.get(flow.url), {"email": user.email, "password": user.password})
    assert page.status == 401 and refused.left_to is None
    # Still exactly one lockout message.
    assert len(lockout_mails(mailbox, user.email)) == 1


def test_a_new_lockout_after_a_reset_sends_a_new_mail(realm, rp, mailbox):
    """The message goes when the wait first starts: after a reset cleared it, the next
    lockout is a new one and is told again."""
    user = realm.user(with_totp=True)
    client = make_rp(realm, rp)
    browser = browser_from(realm, f"10.88.{secrets.randbelow(250)}.{secrets.randbelow(250)}")
    wrong = wrong_code(user.totp_secret)
    password = user.password
    for round_ in range(2):
        _, page = to_code_page(realm, client, browser, user.email, password)
        for _ in range(5):
            page = guess(browser, page, wrong)
        assert guess(browser, page, wrong).status == 429
        assert len(lockout_mails(mailbox, user.email)) == round_ + 1
        if round_ == 0:
            ask_for_link(browser, realm, user.email)
            choose_password(browser, reset_link(mailbox, user.email))
            password = NEW_PASSWORD


def test_success_before_the_wait_sends_no_lockout_mail(realm, rp, mailbox):
    """Four wrong codes then the right one: no wait started, no message."""
    user = realm.user(with_totp=True)
    client = make_rp(realm, rp)
    browser = browser_from(realm, f"10.99.{secrets.randbelow(250)}.{secrets.randbelow(250)}")
    wait_for_step_room()
    _, page = to_code_page(realm, client, browser, user.email, user.password)
    for _ in range(4):
        page = guess(browser, page, wrong_code(user.totp_secret))
        assert page.status == 401
    guess(browser, page, totp_code(user.totp_secret))
    assert browser.left_to and browser.left_to.startswith(rp.redirect_uri)
    assert lockout_mails(mailbox, user.email) == []
