"""SPEC V9: the second factor's wait is shown in words a person reads (minutes, hours or
days), and a long wait offers the emailed password reset, which clears it, and says an admin
can reset 2FA. The doubling and its bound (a year) stay.

Over real HTTP with a real SMTP server, in English and Japanese. The wrong codes are typed
on the code page; the long history of failures behind a wait of hours is recorded through
the throttle service at the clock's time (``idp.clock``), as the throttle tests do."""

from __future__ import annotations

import html
import re
import secrets
from datetime import timedelta
from typing import Any

import pytest

from idp import clock
from idp.db import get_session
from idp.services import throttle
from idp.services.errors import TooManyAttempts
from tests.helpers import Browser, Page, totp_code, wait_for_step_room
from tests.support.password_reset import NEW_PASSWORD
from tests.support.signin import make_rp

pytestmark = [pytest.mark.settings(proxy_count=1), pytest.mark.slow]

YEAR = 365 * 24 * 3600

TEXTS = {
    "en": {
        "hours": "Try again in about 2 hours.",
        "days": "Try again in about 365 days.",
        "reset": "Reset your password by email",
        "admin": "ask an administrator of",
    },
    "ja": {
        "hours": "約2時間後にもう一度お試しください。",
        "days": "約365日後にもう一度お試しください。",
        "reset": "メールでパスワードを再設定する",
        "admin": "管理者に2要素認証のリセットを依頼してください",
    },
}


def browser_for(realm: Any, lang: str) -> Browser:
    browser = realm.browser()
    browser.session.headers["X-Forwarded-For"] = (
        f"10.59.{secrets.randbelow(250)}.{secrets.randbelow(250)}"
    )
    browser.session.headers["Accept-Language"] = lang
    return browser


def text_of(page: Page) -> str:
    return html.unescape(re.sub(r"\s+", " ", re.sub(r"<[^>]+>", " ", page.text)))


def wrong_code(secret: str) -> str:
    near = {totp_code(secret, k) for k in range(-3, 4)}
    return next(f"{v:06d}" for v in range(10**6) if f"{v:06d}" not in near)


def to_code_page(browser: Browser, client: Any, email: str, password: str) -> tuple[Any, Page]:
    flow = client.start()
    page = browser.submit(browser.get(flow.url), {"email": email, "password": password})
    assert page.status == 200 and "/totp" in page.url, page.text
    return flow, page


def more_failures(realm: Any, user: Any, count: int) -> None:
    """``count`` more wrong codes in a row, at the clock's time, as the throttle counts them."""
    with realm.server.app.app_context():
        db = get_session()
        key = throttle.second_factor_key(user.id)
        for _ in range(count):
            throttle.record_failure(db, key, throttle.SECOND_FACTOR)
        db.commit()


def locked_out(realm: Any, lang: str, failures: int) -> tuple[Any, Browser, Any, Page]:
    """A user with an authenticator app after ``failures`` wrong codes in a row (five typed
    on the page, the rest recorded), and the code page's answer to one more code."""
    user = realm.user(with_totp=True)
    browser = browser_for(realm, lang)
    client = make_rp(realm, realm.rp)
    _, page = to_code_page(browser, client, user.email, user.password)
    wrong = wrong_code(user.totp_secret)
    for _ in range(5):
        page = browser.submit(page, {"code": wrong})
        assert page.status == 401, page.text
    more_failures(realm, user, failures - 5)
    refused = browser.submit(page, {"code": wrong})
    assert refused.status == 429, refused.text
    return user, browser, client, refused


@pytest.fixture
def realm_with_rp(realm: Any, rp: Any) -> Any:
    realm.rp = rp
    return realm


@pytest.mark.parametrize("lang", ["en", "ja"])
def test_v9_a_wait_of_hours_reads_in_hours_and_offers_the_ways_out(realm_with_rp, lang):
    realm = realm_with_rp
    _user, _browser, _client, page = locked_out(realm, lang, failures=13)  # 30 s * 2**8
    assert 7600 <= int(page.response.headers["Retry-After"]) <= 7680
    words = text_of(page)
    assert TEXTS[lang]["hours"] in words, words
    assert " min " not in words and " 分 " not in words, words
    assert 'data-text-long="' in page.text  # the script keeps the words, it doesn't count
    reset = re.search(r'<a [^>]*id="way-out-reset" href="([^"]+)"', page.text)
    assert reset and "/forgot-password?login=" in html.unescape(reset.group(1)), page.text
    assert TEXTS[lang]["reset"] in words
    assert TEXTS[lang]["admin"] in words and f"Test {realm.name}" in words


@pytest.mark.parametrize("lang", ["en", "ja"])
def test_v9_the_longest_wait_reads_in_days_not_525600_minutes(realm_with_rp, lang):
    realm = realm_with_rp
    _user, _browser, _client, page = locked_out(realm, lang, failures=40)
    assert YEAR - 5 <= int(page.response.headers["Retry-After"]) <= YEAR  # the bound stays
    words = text_of(page)
    assert "525600" not in words and "525599" not in words, words
    assert TEXTS[lang]["days"] in words, words
    assert 'id="way-out-reset"' in page.text and TEXTS[lang]["admin"] in words


def test_a_short_wait_counts_seconds_without_the_ways_out(realm_with_rp):
    _user, _browser, _client, page = locked_out(realm_with_rp, "en", failures=5)
    words = text_of(page)
    assert re.search(r"Try again in (\d+) seconds\.", words), words
    assert 'id="way-out' not in page.text


def test_the_second_factor_wait_still_doubles_up_to_its_bound(app):
    """SPEC L6 as before: 30 s after five failures, doubling with each one, at most a year."""
    key = throttle.second_factor_key(10**9 + secrets.randbelow(10**6))
    with app.app_context():
        db = get_session()
        waits = []
        for _ in range(30):
            throttle.record_failure(db, key, throttle.SECOND_FACTOR)
            try:
                throttle.check_allowed(db, key)
            except TooManyAttempts as exc:
                waits.append(exc.retry_after)
                clock.travel(seconds=exc.retry_after + 1)
        db.rollback()
    assert waits[:4] == [30, 60, 120, 240]
    assert all(b == min(2 * a, YEAR) for a, b in zip(waits, waits[1:], strict=False))
    assert waits[-1] == YEAR and waits.count(YEAR) > 1
    assert timedelta(seconds=YEAR).days == 365


def reset_link_in(mailbox: Any, email: str) -> str:
    links = [
        link for mail in mailbox.to(email) for link in mail.links() if "/reset-password/" in link
    ]
    assert len(links) == 1, links
    return links[0]


@pytest.mark.parametrize("lang", ["en", "ja"])
def test_v9_the_offered_reset_ends_the_wait_and_the_user_enters_a_code_again(
    realm_with_rp, mailbox, lang
):
    realm = realm_with_rp
    user, browser, client, page = locked_out(realm, lang, failures=20)
    # The right code is refused too while the wait lasts.
    wait_for_step_room()
    _, code_page = to_code_page(browser, client, user.email, user.password)
    assert browser.submit(code_page, {"code": totp_code(user.totp_secret)}).status == 429
    refused = browser.submit(code_page, {"code": totp_code(user.totp_secret)})
    reset = re.search(r'<a [^>]*id="way-out-reset" href="([^"]+)"', refused.text)
    assert reset, refused.text
    forgot = browser.get(realm.base + html.unescape(reset.group(1)))
    assert forgot.status == 200 and 'id="forgot-form"' in forgot.text, forgot.text
    assert f'value="{user.email}"' in forgot.text  # the sign-in knows the address
    sent = browser.submit(forgot, {"email": user.email}, action="/forgot-password")
    assert sent.status == 200 and 'id="sent"' in sent.text, text_of(sent)
    form = browser.get(reset_link_in(mailbox, user.email))
    assert form.status == 200 and 'id="reset-form"' in form.text, form.text
    browser.submit(form, {"new_password": NEW_PASSWORD, "confirm_password": NEW_PASSWORD})
    # The wait is over: the new password and a code reach the application.
    wait_for_step_room()
    flow, code_page = to_code_page(browser, client, user.email, NEW_PASSWORD)
    browser.submit(code_page, {"code": totp_code(user.totp_secret)})
    assert browser.left_to and browser.left_to.startswith(realm.rp.redirect_uri), browser.left_to
    token = client.finish(flow, browser)
    assert "mfa" in client.verify_id_token(token["id_token"], flow.nonce)["amr"]
