"""Realm policy over real HTTP (SPEC P1, P2, P6): 2FA required of everyone or of admins,
enrolment inside the sign-in before any token or SSO session exists, the grace period with
"Later" and the day it ends, the console's own requirement, and the few-codes-left offer."""

from __future__ import annotations

import re
from typing import Any

import pyotp
import pytest
from sqlalchemy import select, update

from idp import clock
from idp.db import utcnow
from idp.models import BackupCode, Realm, SsoSession, User
from idp.services import backup_codes, factors
from tests.helpers import Browser, Page, wait_for_step_room
from tests.oidc_rp import sign_in_password
from tests.support.app_db import in_app
from tests.support.flows import password_until_resume
from tests.support.policy import set_policy, two_factor_enabled
from tests.support.signin import finish_tokens, is_code_page, make_rp

pytestmark = pytest.mark.slow


def is_enrol_page(page: Page) -> bool:
    return page.status == 200 and page.url.endswith("/enrol") and 'id="key"' in page.text


def key_on(page: Page) -> str:
    match = re.search(r'<dd id="key"><code>([A-Z2-7 ]+)</code></dd>', page.text)
    assert match, page.text
    return match.group(1).replace(" ", "")


def enrol_on(browser: Browser, page: Page) -> Page:
    """Type the code of the key shown on the enrolment page; returns the backup-codes page."""
    wait_for_step_room(3)
    done = browser.submit(page, {"code": pyotp.TOTP(key_on(page)).at(clock.timestamp())})
    assert done.status == 200 and "Two-factor authentication is enabled." in done.text, done.text
    assert len(re.findall(r"<li><code>\d{4}-\d{4}</code></li>", done.text)) == 10
    return done


def signed_in_at_provider(realm: Any, browser: Browser) -> bool:
    page = browser.get(realm.url("account/"))
    return page.status == 200 and 'name="password"' not in page.text


# -- P1 ------------------------------------------------------------------------------------------
def test_p1_everyone_policy_enrols_user_inside_sign_in_before_any_token(realm, rp):
    set_policy(realm, require_2fa="all")
    user = realm.user()
    client = make_rp(realm, rp)
    browser = realm.browser()
    flow = client.start()
    page = sign_in_password(browser, flow.url, user.email, user.password)
    assert is_enrol_page(page), page.text
    # Nothing was issued yet: no code went to the relying party and there is no SSO session.
    assert browser.left_to is None
    assert not signed_in_at_provider(realm, Browser(realm.base)) and not any(
        c.name == "IDP_SESSION" for c in browser.session.cookies
    )
    codes_page = enrol_on(browser, page)
    browser.submit(codes_page)  # Continue
    _, claims, access = finish_tokens(client, flow, browser)
    assert claims["acr"] == "2" and claims["amr"] == ["pwd", "otp", "mfa"]
    assert access["acr"] == "2"
    assert two_factor_enabled(realm, user)


def test_p1_enrolment_refuses_a_wrong_code_and_enables_nothing(realm, rp):
    set_policy(realm, require_2fa="all")
    user = realm.user()
    browser = realm.browser()
    page = sign_in_password(browser, make_rp(realm, rp).start().url, user.email, user.password)
    assert is_enrol_page(page)
    wrong = browser.submit(page, {"code": "000000"})
    assert wrong.status == 400 and 'id="key"' in wrong.text and "not right" in wrong.text
    assert browser.left_to is None and not two_factor_enabled(realm, user)


def test_p1_admins_policy_covers_admins_only(realm, rp):
    set_policy(realm, require_2fa="admins")
    client = make_rp(realm, rp)
    member = realm.user()
    browser = realm.browser()
    flow = client.start()
    sign_in_password(browser, flow.url, member.email, member.password)
    _, claims, _ = finish_tokens(client, flow, browser)
    assert claims["acr"] == "1" and claims["amr"] == ["pwd"]

    admin = realm.user(admin=True)
    page = sign_in_password(realm.browser(), client.start().url, admin.email, admin.password)
    assert is_enrol_page(page), page.text


def test_p1_policy_turned_on_while_signed_in_enrols_at_next_authorization(realm, rp):
    user = realm.user()
    client = make_rp(realm, rp)
    browser = realm.browser()
    flow = client.start()
    sign_in_password(browser, flow.url, user.email, user.password)
    assert finish_tokens(client, flow, browser)[1]["acr"] == "1"

    set_policy(realm, require_2fa="all")
    flow = client.start()
    page = browser.get(flow.url)
    # The signed-in user is not asked for the password again: straight to enrolment.
    assert is_enrol_page(page), page.text
    browser.submit(enrol_on(browser, page))
    _, claims, _ = finish_tokens(client, flow, browser)
    assert claims["acr"] == "2" and claims["amr"] == ["pwd", "otp", "mfa"]


def test_p1_prompt_none_with_policy_unmet_answers_interaction_required(realm, rp):
    user = realm.user()
    client = make_rp(realm, rp)
    browser = realm.browser()
    flow = client.start()
    sign_in_password(browser, flow.url, user.email, user.password)
    finish_tokens(client, flow, browser)
    set_policy(realm, require_2fa="all")
    browser.get(client.start(prompt="none").url)
    assert browser.callback_params()["error"] == "interaction_required"


def test_p1_console_requires_a_second_factor_of_admins(realm):
    admin = realm.user(admin=True)
    browser = realm.browser()
    page = browser.get(realm.url("admin/users"))
    page = browser.submit(page, {"email": admin.email, "password": admin.password})
    assert page.status == 200 and "/admin/users" in page.url  # no policy: password is enough

    set_policy(realm, require_2fa="admins", grace_days=30)
    page = browser.get(realm.url("admin/users"))
    # Enrolment is demanded for the console even within the grace period: no "Later".
    assert is_enrol_page(page), page.text
    assert "Later" not in page.text and 'name="password"' not in page.text
    page = browser.submit(enrol_on(browser, page))
    assert page.status == 200 and "/admin/users" in page.url, page.url


def test_p1_console_asks_an_enrolled_admin_with_a_password_session_for_the_code(realm):
    admin = realm.user(admin=True, with_totp=True)
    in_app(
        realm,
        lambda db: factors.remove_second_factors(
            db,
            db.get(User, admin.id),
            event_type="test",
            actor="test",
            client_address=None,
            end_sessions=False,
        ),
    )
    browser = realm.browser()
    page = browser.get(realm.url("admin/users"))
    page = browser.submit(page, {"email": admin.email, "password": admin.password})
    assert "/admin/users" in page.url

    # 2FA is enabled again behind this password-only session, and the policy turned on.
    def enrol(db: Any) -> str:
        user = db.get(User, admin.id)
        factors.start_totp_enrolment(db, user)
        secret = factors.pending_secret(db, user)
        wait_for_step_room(3)
        factors.enable_totp(
            db,
            user,
            pyotp.TOTP(secret).at(clock.timestamp() - 30),
            actor="test",
            client_address=None,
            keep_sid=db.scalar(
                select(SsoSession.sid).where(
                    SsoSession.user_id == admin.id, SsoSession.ended_at.is_(None)
                )
            ),
        )
        return secret

    secret = in_app(realm, enrol)
    set_policy(realm, require_2fa="all")
    page = browser.get(realm.url("admin/users"))
    assert page.status == 401 or is_code_page(page), page.url
    page = browser.submit(page, {"code": pyotp.TOTP(secret).at(clock.timestamp())})
    assert "/admin/users" in page.url, page.text


# -- P2 ------------------------------------------------------------------------------------------
def test_p2_grace_period_offers_later_with_the_days_left(realm, rp):
    set_policy(realm, require_2fa="all", grace_days=7)
    user = realm.user()
    client = make_rp(realm, rp)
    browser = realm.browser()
    flow = client.start()
    page = sign_in_password(browser, flow.url, user.email, user.password)
    assert is_enrol_page(page)
    assert re.search(r'id="days-left">7 more days<', page.text), page.text
    browser.submit(page, {"action": "later"})
    _, claims, _ = finish_tokens(client, flow, browser)
    assert claims["acr"] == "1" and not two_factor_enabled(realm, user)
    # Put off for this session: the next authorization does not ask again.
    flow = client.start()
    browser.get(flow.url)
    assert finish_tokens(client, flow, browser)[1]["acr"] == "1"


def test_p2_grace_last_day_then_no_way_around_enrolment(realm, rp):
    set_policy(realm, require_2fa="all", grace_days=7)
    user = realm.user()
    client = make_rp(realm, rp)
    try:
        clock.travel(days=6, hours=12)  # the last day
        browser = realm.browser()
        flow = client.start()
        page = sign_in_password(browser, flow.url, user.email, user.password)
        assert re.search(r'id="days-left">1 more day<', page.text), page.text
        browser.submit(page, {"action": "later"})
        # (The relying party's clock is not moved: read the code, not the tokens.)
        assert "code" in browser.callback_params()

        clock.travel(hours=12, minutes=1)  # the day after
        browser = realm.browser()
        page = sign_in_password(browser, client.start().url, user.email, user.password)
        assert is_enrol_page(page) and "Later" not in page.text
        refused = browser.submit(page, {"action": "later"})
        assert refused.status == 400 and 'id="key"' in refused.text
        assert browser.left_to is None
        # And the earlier session, which put enrolment off, is asked to enrol now too.
        old = realm.browser()
        page = sign_in_password(old, client.start().url, user.email, user.password)
        assert is_enrol_page(page)
    finally:
        clock.reset()


def test_p2_grace_counts_from_the_policy_when_it_is_later_than_the_account(realm, rp):
    user = realm.user()
    client = make_rp(realm, rp)
    try:
        clock.travel(days=30)
        set_policy(realm, require_2fa="all", grace_days=5)
        page = sign_in_password(realm.browser(), client.start().url, user.email, user.password)
        assert re.search(r'id="days-left">5 more days<', page.text), page.text
    finally:
        clock.reset()


def test_p2_grace_counts_from_the_account_when_it_is_later_than_the_policy(realm, rp):
    set_policy(realm, require_2fa="all", grace_days=5)
    client = make_rp(realm, rp)
    try:
        clock.travel(days=10)  # the policy's own grace is over, but the account is new
        user = realm.user()
        page = sign_in_password(realm.browser(), client.start().url, user.email, user.password)
        assert re.search(r'id="days-left">5 more days<', page.text), page.text
    finally:
        clock.reset()


# -- P6 ------------------------------------------------------------------------------------------
def use_up_codes(realm: Any, user: Any, leave: int) -> None:
    def spend(db: Any) -> None:
        ids = db.scalars(
            select(BackupCode.id).where(BackupCode.user_id == user.id).order_by(BackupCode.id)
        ).all()
        spent = ids[: len(ids) - leave]
        db.execute(update(BackupCode).where(BackupCode.id.in_(spent)).values(used_at=utcnow()))

    in_app(realm, spend)


def unused(realm: Any, user: Any) -> int:
    return in_app(realm, lambda db: backup_codes.count_unused(db, user.id))


def _totp_sign_in_to_offer(realm: Any, rp: Any, user: Any) -> tuple[Browser, Any, Any, Page]:
    client = make_rp(realm, rp)
    browser = realm.browser()
    flow = client.start()
    page = sign_in_password(browser, flow.url, user.email, user.password)
    assert is_code_page(page)
    from tests.helpers import totp_code

    page = browser.submit(page, {"code": totp_code(user.totp_secret)})
    return browser, client, flow, page


def test_p6_sign_in_leaving_3_codes_offers_a_new_set(realm, rp):
    user = realm.user(with_totp=True)
    use_up_codes(realm, user, leave=3)
    browser, client, flow, page = _totp_sign_in_to_offer(realm, rp, user)
    assert page.status == 200 and page.url.endswith("/offer"), page.url
    assert re.search(r'id="codes-left">3<', page.text)
    codes_page = browser.submit(page, {"action": "new_codes"})
    assert len(re.findall(r"<li><code>\d{4}-\d{4}</code></li>", codes_page.text)) == 10
    assert unused(realm, user) == 10
    browser.submit(codes_page)  # Continue
    _, claims, _ = finish_tokens(client, flow, browser)
    assert claims["acr"] == "2"


def test_p6_the_user_may_continue_without_a_new_set(realm, rp):
    user = realm.user(with_totp=True)
    use_up_codes(realm, user, leave=2)
    browser, client, flow, page = _totp_sign_in_to_offer(realm, rp, user)
    assert page.url.endswith("/offer")
    browser.submit(page, {"action": "continue"})
    assert finish_tokens(client, flow, browser)[1]["acr"] == "2"
    assert unused(realm, user) == 2


def test_p6_sign_in_leaving_4_codes_goes_straight_on(realm, rp):
    user = realm.user(with_totp=True)
    use_up_codes(realm, user, leave=4)
    browser, client, flow, _ = _totp_sign_in_to_offer(realm, rp, user)
    assert finish_tokens(client, flow, browser)[1]["acr"] == "2"


def test_p6_backup_code_sign_in_leaving_3_offers_a_new_set_on_the_notice(realm, rp):
    user = realm.user(with_totp=True)
    use_up_codes(realm, user, leave=4)
    remaining = user.backup_codes[-1]
    client = make_rp(realm, rp)
    browser = realm.browser()
    flow = client.start()
    page = sign_in_password(browser, flow.url, user.email, user.password)
    page = browser.submit(browser.get(page.link("Use a backup code instead")), {"code": remaining})
    assert "signed in with a backup code" in page.text and 'id="codes-left">3<' in page.text
    codes_page = browser.submit(page, {"action": "new_codes"})
    assert "New backup codes" in codes_page.text
    browser.submit(codes_page)
    _, claims, _ = finish_tokens(client, flow, browser)
    assert claims["amr"] == ["pwd", "mfa", "backup_code"]
    assert unused(realm, user) == 10


# -- a step-up counts the factors of a session that must still be there ---------------------------
def test_step_up_refused_when_its_session_ended_meanwhile(realm, rp):
    user = realm.user()
    client = make_rp(realm, rp)
    browser = realm.browser()
    flow = client.start()
    sign_in_password(browser, flow.url, user.email, user.password)
    finish_tokens(client, flow, browser)
    set_policy(realm, require_2fa="all")
    page = browser.get(client.start().url)
    assert is_enrol_page(page)  # a step-up from the password session
    # The session ends (signed out elsewhere, an admin action) before the step-up finishes:
    # the step-up dies with it, at enrolment already, and adds no key (SPEC V2).
    in_app(
        realm,
        lambda db: update_sessions_ended(db, user.id),
    )
    wait_for_step_room(3)
    done = browser.submit(page, {"code": pyotp.TOTP(key_on(page)).at(clock.timestamp())})
    assert done.status == 400 and browser.left_to is None
    assert not two_factor_enabled(realm, user)
    assert not signed_in_at_provider(realm, browser)


def update_sessions_ended(db: Any, user_id: int) -> None:
    db.execute(
        update(SsoSession)
        .where(SsoSession.user_id == user_id, SsoSession.ended_at.is_(None))
        .values(ended_at=utcnow())
    )


def test_purge_drops_expired_browser_trusts(realm):
    from datetime import timedelta

    from idp.models import TrustedBrowser
    from idp.services.maintenance import purge_expired
    from idp.services.trusted_browsers import trust_browser

    set_policy(realm, trust_browser_days=30)
    user = realm.user(with_totp=True)

    def make(db: Any) -> int:
        row, _ = trust_browser(
            db, db.get(Realm, realm.id), db.get(User, user.id), user_agent="", client_address=None
        )
        return row.id

    expired, live = in_app(realm, make), in_app(realm, make)
    in_app(
        realm,
        lambda db: db.execute(
            update(TrustedBrowser)
            .where(TrustedBrowser.id == expired)
            .values(expires_at=utcnow() - timedelta(days=3))
        ),
    )
    counts = in_app(realm, purge_expired)
    assert counts["trusted_browsers"] >= 1
    left = in_app(
        realm,
        lambda db: db.scalars(
            select(TrustedBrowser.id).where(TrustedBrowser.user_id == user.id)
        ).all(),
    )
    assert left == [live]


# -- the resume endpoint: once, in the browser that signed in, with the session it created ------
def _finished_sign_in(realm: Any, rp: Any) -> tuple[Browser, Any, Any, str]:
    """A password sign-in stopped at the redirect to the resume endpoint."""
    user = realm.user()
    client = make_rp(realm, rp)
    browser = realm.browser()
    flow, resume = password_until_resume(realm, browser, client, user)
    return browser, client, flow, resume


def test_resume_is_refused_in_another_browser(realm, rp):
    _, _, _, resume = _finished_sign_in(realm, rp)
    thief = realm.browser()
    page = thief.get(resume)
    assert page.status == 400 and thief.left_to is None


def test_resume_works_once(realm, rp):
    browser, client, flow, resume = _finished_sign_in(realm, rp)
    browser.get(resume)
    assert finish_tokens(client, flow, browser)[1]["acr"] == "1"
    again = browser.get(resume)
    assert again.status == 400 and browser.left_to is None


def test_resume_is_refused_with_another_session_in_the_browser(realm, rp):
    browser, _, _, resume = _finished_sign_in(realm, rp)
    # The browser's session cookie is swapped for another user's session before resuming.
    other_browser, other_client = realm.browser(), make_rp(realm, rp)
    other = realm.user()
    flow = other_client.start()
    sign_in_password(other_browser, flow.url, other.email, other.password)
    cookie = other_browser.session.cookies.get("IDP_SESSION")
    browser.session.cookies.set(
        "IDP_SESSION", cookie, domain="127.0.0.1", path=f"/realms/{realm.name}/"
    )
    page = browser.get(resume)
    assert page.status == 400 and browser.left_to is None
