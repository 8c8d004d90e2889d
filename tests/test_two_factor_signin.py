"""Signing in with two factors through the hosted pages (SPEC L1-L7, T1, T3, T4): password
page, security-code page, backup-code form, throttling, expiry and browser binding of the
half-finished sign-in, and the amr/acr claims a relying party sees in its tokens.

The steps other test modules share are in tests/support/signin.py."""

from __future__ import annotations

import base64
import json
import time
from datetime import timedelta
from typing import Any

import pytest
import requests
from joserfc import jwt
from joserfc.errors import BadSignatureError, InvalidKeyIdError
from sqlalchemy import update

from idp.db import get_session, utcnow
from idp.models import Authenticator, Throttle
from idp.services import throttle
from idp.services.totp import matching_step, parse_totp_code
from tests.helpers import Browser, Page, totp_code, wait_for_step_room
from tests.oidc_rp import RP, sign_in_password
from tests.support.app_db import in_app
from tests.support.pages import error_text
from tests.support.signin import (
    PAPE,
    WRONG_PASSWORD_TEXT,
    finish_tokens,
    is_code_page,
    make_rp,
    prompt_none_error,
    rfc6238,
    sign_in_with_backup_code,
    sign_in_with_totp,
    to_code_page,
    wrong_code,
)

pytestmark = pytest.mark.slow


# -- helpers ----------------------------------------------------------------------------------
def forget_last_step(realm: Any, user: Any) -> None:
    """Set up a user whose authenticator has not been used for a while (the helper enrols
    with the previous step's code, which would make that step a replay)."""
    in_app(
        realm,
        lambda db: db.execute(
            update(Authenticator)
            .where(Authenticator.user_id == user.id, Authenticator.type == "totp")
            .values(last_step=None)
        ),
    )


def cookie_values(browser: Browser, name: str) -> list[str]:
    return [c.value for c in browser.session.cookies if c.name == name and c.value]


# -- L1 ---------------------------------------------------------------------------------------
def test_l1_password_then_security_code_page(realm, rp):
    user = realm.user(with_totp=True)
    client = make_rp(realm, rp)
    browser, flow, page = to_code_page(realm, client, user)
    assert is_code_page(page)
    assert 'inputmode="numeric"' in page.text
    assert 'name="code"' in page.text
    assert "Security code" in page.text
    assert browser.left_to is None  # no code sent to the relying party yet
    page = browser.submit(page, {"code": totp_code(user.totp_secret)})
    assert browser.callback_params()["code"]
    _, claims, _ = finish_tokens(client, flow, browser)
    assert claims["sub"] == user.sub


def test_l1_password_step_alone_grants_no_session_or_code(realm, rp):
    user = realm.user(with_totp=True)
    client = make_rp(realm, rp)
    browser, _, page = to_code_page(realm, client, user)
    assert is_code_page(page) and browser.left_to is None
    assert cookie_values(browser, "IDP_SESSION") == []
    # Same browser: a silent request is answered login_required, the account page asks
    # for a sign-in.
    assert prompt_none_error(client, browser) == "login_required"
    account = browser.get(realm.url("account/"))
    assert 'name="password"' in account.text and "Account settings</h1>" not in account.text


def test_l1_user_without_2fa_signs_in_with_password_alone(realm, rp):
    user = realm.user()
    client = make_rp(realm, rp)
    browser, flow, page = to_code_page(realm, client, user)
    assert browser.left_to and browser.left_to.startswith(rp.redirect_uri), page.text
    _, claims, _ = finish_tokens(client, flow, browser)
    assert claims["amr"] == ["pwd"]


def test_l1_backup_code_is_not_a_password_nor_a_token_grant(realm, rp):
    user = realm.user(with_totp=True)
    code = user.backup_codes[0]
    browser = realm.browser()
    flow = make_rp(realm, rp).start()
    page = sign_in_password(browser, flow.url, user.email, code)
    assert page.status == 401 and error_text(page) == WRONG_PASSWORD_TEXT
    assert browser.left_to is None
    for data in (
        {"grant_type": "password", "username": user.email, "password": code},
        {"grant_type": "authorization_code", "code": code, "redirect_uri": rp.redirect_uri},
        {"grant_type": "refresh_token", "refresh_token": code},
    ):
        resp = requests.post(
            realm.endpoints["token"], data=data, auth=(rp.client_id, rp.client_secret), timeout=10
        )
        assert resp.status_code in (400, 401), resp.text
        assert "access_token" not in resp.json()
        assert resp.json()["error"] in ("unsupported_grant_type", "invalid_grant")
    # The code was not consumed by any of this: it still signs in once.
    _, _, _, claims, _ = sign_in_with_backup_code(realm, make_rp(realm, rp), user, code)
    assert claims["amr"] == ["pwd", "mfa", "backup_code"]


# -- L2 ---------------------------------------------------------------------------------------
def test_l2_code_two_steps_old_is_refused(realm, rp):
    user = realm.user(with_totp=True)
    forget_last_step(realm, user)
    browser, _, page = to_code_page(realm, make_rp(realm, rp), user)
    wait_for_step_room(3)
    for offset in (-2, -3, 2, 3):
        page = browser.submit(page, {"code": totp_code(user.totp_secret, offset)})
        assert page.status == 401 and browser.left_to is None, offset
        assert "not right" in error_text(page)


def test_l2_previous_step_code_is_accepted(realm, rp):
    user = realm.user(with_totp=True)
    forget_last_step(realm, user)
    wait_for_step_room()
    _, _, claims, _ = sign_in_with_totp(realm, make_rp(realm, rp), user, offset=-1)
    assert claims["amr"] == ["pwd", "otp", "mfa"]


def test_l2_next_step_code_is_accepted(realm, rp):
    user = realm.user(with_totp=True)
    _, _, claims, _ = sign_in_with_totp(realm, make_rp(realm, rp), user, offset=1)
    assert claims["amr"] == ["pwd", "otp", "mfa"]


def test_l2_same_code_twice_is_refused(realm, rp):
    user = realm.user(with_totp=True)
    client = make_rp(realm, rp)
    wait_for_step_room()
    code = totp_code(user.totp_secret, 0)
    browser, flow, page = to_code_page(realm, client, user)
    browser.submit(page, {"code": code})
    assert browser.left_to and browser.left_to.startswith(rp.redirect_uri)
    other, _, page = to_code_page(realm, client, user)
    again = other.submit(page, {"code": code})
    assert again.status == 401 and other.left_to is None
    wrong = other.submit(again, {"code": wrong_code(user.totp_secret)})
    # A replayed code gets the same answer as a wrong one.
    assert error_text(again) == error_text(wrong)


def test_l2_after_a_newer_step_the_older_code_is_refused(realm, rp):
    user = realm.user(with_totp=True)
    client = make_rp(realm, rp)
    wait_for_step_room()
    sign_in_with_totp(realm, client, user, offset=1)
    older = totp_code(user.totp_secret, 0)  # still inside the window, never used
    browser, _, page = to_code_page(realm, client, user)
    page = browser.submit(page, {"code": older})
    assert page.status == 401 and browser.left_to is None


def test_l2_leading_zero_codes_parse_and_match():
    assert parse_totp_code("081804") == "081804"
    secret = base64.b32encode(b"12345678901234567890").decode()
    # RFC 6238 Appendix B: T=1111111109 gives 07081804; its 6-digit code is 081804.
    assert matching_step(secret, "081804", at=1111111109) == 1111111109 // 30
    # A random key: find a step whose code starts with 0 and check it matches there.
    key = "JBSWY3DPEHPK3PXPJBSWY3DPEHPK3PXP"
    at = 1_700_000_000.0
    while not rfc6238(key, at).startswith("0"):
        at += 30
    assert matching_step(key, rfc6238(key, at), at=at) == int(at // 30)


def _variants(code: str) -> list[Any]:
    arabic = "٠١٢٣٤٥٦٧٨٩"
    return [
        " " + code,
        code + " ",
        code + "\n",
        code[:2] + " " + code[2:],  # a separator elsewhere (SPEC L2 accepts "123 456")
        code[:1] + "_" + code[1:],
        "".join(chr(0xFF10 + int(c)) for c in code),  # full-width digits
        "".join(arabic[int(c)] for c in code),  # Arabic-Indic digits
        "+" + code[1:],
        "-" + code[1:],
        code + "0",
        code[:5],
        "",
    ]


def test_l2_malformed_security_codes_are_refused(realm, rp):
    client = make_rp(realm, rp)
    count = len(_variants("123456"))
    for first in range(0, count, 4):  # 4 failures per account: below the throttle
        user = realm.user(with_totp=True)
        browser, flow, page = to_code_page(realm, client, user)
        for index in range(first, min(first + 4, count)):
            variant = _variants(totp_code(user.totp_secret, 0))[index]
            page = browser.submit(page, {"code": variant})
            assert page.status == 401 and browser.left_to is None, repr(variant)
            assert "not right" in error_text(page)
        # The right code itself still works (nothing was consumed).
        browser.submit(page, {"code": totp_code(user.totp_secret, 0)})
        assert browser.left_to and browser.left_to.startswith(rp.redirect_uri)


def test_l2_repeated_code_field_is_refused(realm, rp):
    user = realm.user(with_totp=True)
    client = make_rp(realm, rp)
    wait_for_step_room()
    right = totp_code(user.totp_secret, 0)
    wrong = wrong_code(user.totp_secret)
    browser, flow, page = to_code_page(realm, client, user)
    for pairs in ([("code", wrong), ("code", right)], [("code", right), ("code", right)]):
        bad = browser.submit(page, raw=pairs)
        assert bad.status == 400 and browser.left_to is None
    page = browser.get(page.url)
    browser.submit(page, {"code": right})
    assert browser.left_to and browser.left_to.startswith(rp.redirect_uri)


_BACKUP_MANGLES = [
    lambda c: " " + c,
    lambda c: c[:4] + " " + c[4:],
    lambda c: c[:4] + "--" + c[4:],
    lambda c: c[:2] + "-" + c[2:],
    lambda c: "".join(chr(0xFF10 + int(d)) for d in c),
    lambda c: "".join("٠١٢٣٤٥٦٧٨٩"[int(d)] for d in c),
    lambda c: "+" + c[1:],
    lambda c: c + "1",
    lambda c: c[:7],
]


def test_l3_malformed_backup_codes_are_refused(realm, rp):
    client = make_rp(realm, rp)
    for first in range(0, len(_BACKUP_MANGLES), 4):
        user = realm.user(with_totp=True)
        code = user.backup_codes[0]
        browser, _, page = to_code_page(realm, client, user)
        page = browser.get(page.link("Use a backup code instead"))
        for mangle in _BACKUP_MANGLES[first : first + 4]:
            bad = browser.submit(page, {"code": mangle(code)})
            assert bad.status == 401 and browser.left_to is None, mangle(code)
        dup = browser.submit(page, raw=[("code", code), ("code", code)])
        assert dup.status == 400 and browser.left_to is None
        notice = browser.submit(page, {"code": code})
        assert "signed in with a backup code" in notice.text


# -- L3, L4 -----------------------------------------------------------------------------------
def test_l3_backup_code_link_leads_to_eight_digit_form(realm, rp):
    user = realm.user(with_totp=True)
    client = make_rp(realm, rp)
    browser, flow, page = to_code_page(realm, client, user)
    form_page = browser.get(page.link("Use a backup code instead"))
    assert form_page.status == 200
    assert "8-digit backup code" in form_page.text
    assert 'name="code"' in form_page.text and 'inputmode="numeric"' in form_page.text
    code = user.backup_codes[3]
    notice = browser.submit(form_page, {"code": f"{code[:4]}-{code[4:]}"})  # separator form
    assert "signed in with a backup code" in notice.text
    browser.submit(notice)
    _, claims, _ = finish_tokens(client, flow, browser)
    assert claims["amr"] == ["pwd", "mfa", "backup_code"]


def test_l4_used_backup_code_is_refused(realm, rp):
    user = realm.user(with_totp=True)
    client = make_rp(realm, rp)
    code = user.backup_codes[0]
    sign_in_with_backup_code(realm, client, user, code)
    browser, _, page = to_code_page(realm, client, user)
    page = browser.get(page.link("Use a backup code instead"))
    for attempt in (code, f"{code[:4]}-{code[4:]}"):
        again = browser.submit(page, {"code": attempt})
        assert again.status == 401 and browser.left_to is None
        assert "used already" in error_text(again)
    ok = browser.submit(page, {"code": user.backup_codes[1]})
    assert "signed in with a backup code" in ok.text


# -- L5 ---------------------------------------------------------------------------------------
def test_l5_wrong_code_message_names_stale_code_and_clock_only(realm, rp):
    client = make_rp(realm, rp)
    messages = []
    for _ in range(2):
        user = realm.user(with_totp=True)
        browser, _, page = to_code_page(realm, client, user)
        page = browser.submit(page, {"code": wrong_code(user.totp_secret)})
        assert page.status == 401
        message = error_text(page)
        assert "not right" in message
        assert "clock" in message and "30 seconds" in message
        assert "password" not in message.lower() and "account" not in message.lower()
        # The page names the account being signed in (issue 7: "Not you? Start over"),
        # which the password just proved; the error itself names nothing.
        assert user.email not in message
        messages.append(message)
    assert messages[0] == messages[1]


def test_l5_password_errors_do_not_reveal_accounts(realm, rp):
    with_2fa = realm.user(with_totp=True)
    without = realm.user()
    client = make_rp(realm, rp)
    answers = set()
    for email, password in (
        (with_2fa.email, "wrong password 1"),
        (without.email, "wrong password 2"),
        ("nobody-here@example.com", "wrong password 3"),
    ):
        browser = realm.browser()
        page = sign_in_password(browser, client.start().url, email, password)
        answers.add((page.status, error_text(page)))
        assert "/totp" not in page.url
    assert answers == {(401, WRONG_PASSWORD_TEXT)}


# -- L6 ---------------------------------------------------------------------------------------
def _retry_after(page: Page) -> int:
    assert page.status == 429, page.text
    assert "wrong codes were entered several times in a row" in error_text(page)
    return int(page.response.headers["Retry-After"])


def _unblock(realm: Any, user: Any) -> None:
    """Simulate the wait passing: move the block into the past."""
    in_app(
        realm,
        lambda db: db.execute(
            update(Throttle)
            .where(Throttle.key == throttle.second_factor_key(user.id))
            .values(blocked_until=utcnow() - timedelta(seconds=1))
        ),
    )


def test_l6_five_wrong_codes_then_even_the_right_code_waits(realm, rp):
    user = realm.user(with_totp=True)
    client = make_rp(realm, rp)
    browser, flow, page = to_code_page(realm, client, user)
    wrong = wrong_code(user.totp_secret)
    for _ in range(5):
        page = browser.submit(page, {"code": wrong})
        assert page.status == 401
    blocked = browser.submit(page, {"code": totp_code(user.totp_secret)})
    first = _retry_after(blocked)
    assert 0 < first <= 30
    assert browser.left_to is None
    # The wait grows: after it passes, one more wrong code blocks for longer.
    _unblock(realm, user)
    page = browser.submit(blocked, {"code": wrong})
    assert page.status == 401
    second = _retry_after(browser.submit(page, {"code": totp_code(user.totp_secret)}))
    assert second > first and second > 30
    _unblock(realm, user)
    page = browser.submit(page, {"code": wrong})
    third = _retry_after(browser.submit(page, {"code": totp_code(user.totp_secret)}))
    assert third > second
    # Once the wait is over, the right code signs in.
    _unblock(realm, user)
    browser.submit(page, {"code": totp_code(user.totp_secret)})
    assert browser.left_to and browser.left_to.startswith(rp.redirect_uri)


def test_l6_totp_and_backup_codes_count_together(realm, rp):
    user = realm.user(with_totp=True)
    browser, _, page = to_code_page(realm, make_rp(realm, rp), user)
    for _ in range(3):
        page = browser.submit(page, {"code": wrong_code(user.totp_secret)})
        assert page.status == 401
    backup = browser.get(page.link("Use a backup code instead"))
    for _ in range(2):
        backup = browser.submit(backup, {"code": "00000000"})
        assert backup.status == 401
    _retry_after(browser.submit(backup, {"code": user.backup_codes[0]}))
    totp_page = browser.get(backup.link("Use a security code from your app"))
    _retry_after(browser.submit(totp_page, {"code": totp_code(user.totp_secret)}))


def test_l6_success_resets_the_counter(realm, rp):
    user = realm.user(with_totp=True)
    client = make_rp(realm, rp)
    wait_for_step_room()
    for offset in (0, 1):
        browser, _, page = to_code_page(realm, client, user)
        for _ in range(4):
            page = browser.submit(page, {"code": wrong_code(user.totp_secret)})
            assert page.status == 401
        browser.submit(page, {"code": totp_code(user.totp_secret, offset)})
        assert browser.left_to and browser.left_to.startswith(rp.redirect_uri), offset


def test_l6_throttle_is_shared_by_server_processes(realm, rp, database_url, instance_dir):
    from tests.conftest import start_server

    user = realm.user(with_totp=True)
    other = start_server(database_url, instance_dir)
    try:
        first = make_rp(realm, rp)
        second = make_rp(realm, rp, base=other.url)
        b1, _, p1 = to_code_page(realm, first, user)
        b2, _, p2 = to_code_page(realm, second, user, browser=Browser(other.url))
        assert is_code_page(p2) and p2.url.startswith(other.url)
        wrong = wrong_code(user.totp_secret)
        for _ in range(3):
            p1 = b1.submit(p1, {"code": wrong})
            assert p1.status == 401
        for _ in range(2):
            p2 = b2.submit(p2, {"code": wrong})
            assert p2.status == 401
        right = totp_code(user.totp_secret)
        _retry_after(b1.submit(p1, {"code": right}))
        _retry_after(b2.submit(p2, {"code": right}))
        # A fresh sign-in on the second process is blocked too.
        b3, _, p3 = to_code_page(realm, second, user, browser=Browser(other.url))
        _retry_after(b3.submit(p3, {"code": right}))
    finally:
        other.stop()


# -- L7 ---------------------------------------------------------------------------------------
def test_l7_half_finished_sign_in_expires_after_five_minutes_by_default(server):
    assert server.app.extensions["idp.settings"].interaction_ttl == 300


@pytest.mark.settings(interaction_ttl=1)
def test_l7_half_finished_sign_in_expires(realm, rp):
    user = realm.user(with_totp=True)
    client = make_rp(realm, rp)
    browser, _, page = to_code_page(realm, client, user)
    assert is_code_page(page)
    time.sleep(2)
    late = browser.submit(page, {"code": totp_code(user.totp_secret)})
    assert late.status == 400 and browser.left_to is None
    assert "no longer valid" in late.text and "took too long" in late.text
    assert cookie_values(browser, "IDP_SESSION") == []
    assert prompt_none_error(client, browser) == "login_required"
    # The code was not spent: a new sign-in in time still works with it.
    browser2, flow2, page2 = to_code_page(realm, client, user)
    browser2.submit(page2, {"code": totp_code(user.totp_secret)})
    assert browser2.left_to and browser2.left_to.startswith(rp.redirect_uri), page2.text


def test_l7_half_finished_sign_in_is_bound_to_its_browser(realm, rp):
    user = realm.user(with_totp=True)
    client = make_rp(realm, rp)
    owner, flow, page = to_code_page(realm, client, user)
    code_url = page.url
    start_url = code_url.rsplit("/", 1)[0]
    thief = realm.browser()
    for url in (code_url, start_url, start_url + "/backup-code", start_url + "/password"):
        stolen = thief.get(url)
        assert stolen.status == 400 and "no longer valid" in stolen.text, url
    # Even with a valid form token of its own, the other browser cannot submit the code.
    own = thief.get(client.start().url)
    csrf = next(v for n, v, _ in own.forms[-1]["fields"] if n == "csrf_token")
    resp = thief.session.post(
        code_url,
        data={"csrf_token": csrf, "code": totp_code(user.totp_secret)},
        allow_redirects=False,
        timeout=10,
    )
    assert resp.status_code == 400 and "no longer valid" in resp.text
    assert cookie_values(thief, "IDP_SESSION") == []
    # The owner finishes normally.
    owner.submit(page, {"code": totp_code(user.totp_secret)})
    finish_tokens(client, flow, owner)


def test_l7_half_finished_sign_in_grants_no_session_or_token(realm, rp):
    user = realm.user(with_totp=True)
    client = make_rp(realm, rp)
    browser, _, page = to_code_page(realm, client, user)
    assert is_code_page(page)
    assert browser.get(page.url.rsplit("/", 1)[0]).url.endswith("/totp")  # still pending
    assert prompt_none_error(client, browser) == "login_required"
    other_id, other_secret = realm.client(redirect_uri="http://127.0.0.1:9/other")
    second = RP(realm.issuer, other_id, other_secret, "http://127.0.0.1:9/other")
    page = browser.get(second.start().url)
    assert browser.left_to is None and 'name="password"' in page.text
    account = browser.get(realm.url("account/two-factor"))
    assert 'name="password"' in account.text and "is not enabled" not in account.text


# -- session ids ------------------------------------------------------------------------------
def test_l1_session_ids_change_at_each_sign_in_step(realm, rp):
    user = realm.user(with_totp=True)
    client = make_rp(realm, rp)
    browser = realm.browser()
    browser.session.cookies.set(
        "IDP_SESSION", "planted-by-attacker", domain="127.0.0.1", path=f"/realms/{realm.name}/"
    )
    flow = client.start()
    page = browser.get(flow.url)
    bound = cookie_values(browser, "idp_browser")
    assert len(bound) == 1
    page = browser.submit(page, {"email": user.email, "password": user.password})
    assert is_code_page(page)
    after_password = cookie_values(browser, "idp_browser")
    assert after_password and after_password != bound
    browser.submit(page, {"code": totp_code(user.totp_secret)})
    finish_tokens(client, flow, browser)
    first = cookie_values(browser, "IDP_SESSION")
    assert len(first) == 1 and first[0] != "planted-by-attacker"
    # A second sign-in (prompt=login) gets yet another session id; the old one is dead.
    flow2 = client.start(prompt="login")
    page = browser.get(flow2.url)
    page = browser.submit(page, {"email": user.email, "password": user.password})
    browser.submit(page, {"code": totp_code(user.totp_secret, 1)})
    finish_tokens(client, flow2, browser)
    second = cookie_values(browser, "IDP_SESSION")
    assert len(second) == 1 and second[0] not in (first[0], "planted-by-attacker")
    replay = realm.browser()
    replay.session.cookies.set(
        "IDP_SESSION", first[0], domain="127.0.0.1", path=f"/realms/{realm.name}/"
    )
    assert prompt_none_error(client, replay) == "login_required"
    assert prompt_none_error(client, browser) is None


# -- T1, T3, T4 -------------------------------------------------------------------------------
def test_t1_password_sign_in_claims(realm, rp):
    user = realm.user()
    client = make_rp(realm, rp)
    browser, flow, _ = to_code_page(realm, client, user)
    _, claims, at = finish_tokens(client, flow, browser)
    for c in (claims, at):
        assert c["amr"] == ["pwd"] and c["acr"] == "1"
        assert abs(c["auth_time"] - time.time()) < 60


def test_t1_totp_sign_in_claims(realm, rp):
    user = realm.user(with_totp=True)
    _, _, claims, at = sign_in_with_totp(realm, make_rp(realm, rp), user)
    for c in (claims, at):
        assert c["amr"] == ["pwd", "otp", "mfa"] and c["acr"] == "2"
        assert c["sub"] == user.sub


def test_t1_backup_code_sign_in_claims(realm, rp):
    user = realm.user(with_totp=True)
    meta = requests.get(f"{realm.issuer}/.well-known/openid-configuration", timeout=10).json()
    _, _, _, claims, at = sign_in_with_backup_code(
        realm, make_rp(realm, rp), user, user.backup_codes[0]
    )
    for c in (claims, at):
        assert c["amr"] == ["pwd", "mfa", "backup_code"] and c["acr"] == "2"
    assert "backup_code" in meta["amr_values_supported"]  # documented value


def test_t1_pape_multi_factor_request_is_echoed_as_acr(realm, rp):
    user = realm.user(with_totp=True)
    client = make_rp(realm, rp)
    browser, token, claims, at = sign_in_with_totp(realm, client, user, acr_values=PAPE)
    assert claims["acr"] == PAPE and claims["amr"] == ["pwd", "otp", "mfa"]
    assert at["acr"] == PAPE


def test_t3_claims_verify_against_the_realm_jwks_only(realm, rp):
    user = realm.user(with_totp=True)
    client = make_rp(realm, rp)
    _, token, claims, _ = sign_in_with_totp(realm, client, user)
    header = jwt.decode(token["id_token"], client.jwks()).header
    assert header["kid"] in {k["kid"] for k in client.jwks().as_dict()["keys"]}
    head, payload, sig = token["id_token"].split(".")
    forged_claims = dict(claims, amr=["pwd", "otp", "mfa", "hwk"], acr="3")
    forged = base64.urlsafe_b64encode(json.dumps(forged_claims).encode()).rstrip(b"=")
    with pytest.raises(BadSignatureError):
        jwt.decode(f"{head}.{forged.decode()}.{sig}", client.jwks())
    # Another realm's keys do not verify this realm's tokens.
    from tests.conftest import TestRealm

    other_name = f"{realm.name}x"
    with realm.server.app.app_context():
        from idp.services.realms import create_realm

        db = get_session()
        row = create_realm(db, other_name, "Other")
        db.commit()
    other = TestRealm(name=other_name, id=row.id, base=realm.base, server=realm.server)
    other_keys = RP(other.issuer, "x", None, rp.redirect_uri).jwks()
    with pytest.raises((BadSignatureError, InvalidKeyIdError)):
        jwt.decode(token["id_token"], other_keys)


def test_t4_introspection_has_acr_and_auth_time(realm, rp):
    user = realm.user(with_totp=True)
    client = make_rp(realm, rp)
    _, token, claims, at = sign_in_with_totp(realm, client, user)
    assert at["acr"] == "2" and at["auth_time"] == claims["auth_time"]
    answer = client.introspect(token["access_token"])
    assert answer["active"] is True
    assert answer["acr"] == "2" and answer["auth_time"] == claims["auth_time"]
    assert answer["sub"] == user.sub


def test_t2_discovery_announces_acr_and_amr(realm):
    meta = requests.get(f"{realm.issuer}/.well-known/openid-configuration", timeout=10).json()
    assert {"1", "2", PAPE} <= set(meta["acr_values_supported"])
    assert {"amr", "acr", "auth_time"} <= set(meta["claims_supported"])
    assert {"pwd", "otp", "mfa", "backup_code"} <= set(meta["amr_values_supported"])
    for name in ("issuer", "authorization_endpoint", "token_endpoint", "jwks_uri"):
        assert meta[name].startswith(realm.issuer)
