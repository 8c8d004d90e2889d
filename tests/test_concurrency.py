"""Concurrent submissions of one code (SPEC L2, L4: a code signs in once, even when 20
browsers send it at the same instant) and the RFC 6238 Appendix B test vectors (E6)."""

from __future__ import annotations

import base64
import threading
from concurrent.futures import ThreadPoolExecutor
from typing import Any

import pyotp
import pytest

from idp.services.totp import matching_step, parse_totp_code
from tests.helpers import Browser, Page, totp_code, wait_for_step_room
from tests.support.signin import make_rp, rfc6238, to_code_page, wrong_code

pytestmark = pytest.mark.slow

N = 20


def _prepared(realm: Any, client: Any, user: Any, backup: bool) -> list[tuple[Browser, Page]]:
    """N browsers, each with its own interaction past the password step."""

    def one(_: int) -> tuple[Browser, Page]:
        browser, _flow, page = to_code_page(realm, client, user)
        assert "/totp" in page.url, page.text
        if backup:
            page = browser.get(page.link("Use a backup code instead"))
        return browser, page

    with ThreadPoolExecutor(max_workers=N) as pool:
        return list(pool.map(one, range(N)))


def _race(prepared: list[tuple[Browser, Page]], code: str) -> list[tuple[Browser, Page]]:
    barrier = threading.Barrier(len(prepared))

    def submit(item: tuple[Browser, Page]) -> tuple[Browser, Page]:
        browser, page = item
        barrier.wait(timeout=30)
        return browser, browser.submit(page, {"code": code})

    with ThreadPoolExecutor(max_workers=len(prepared)) as pool:
        return list(pool.map(submit, prepared))


def test_l2_one_totp_code_sent_by_20_browsers_at_once_signs_in_once(realm, rp):
    user = realm.user(with_totp=True)
    client = make_rp(realm, rp)
    prepared = _prepared(realm, client, user, backup=False)
    wait_for_step_room(5)
    results = _race(prepared, totp_code(user.totp_secret, 0))
    winners = [b for b, _ in results if b.left_to and b.left_to.startswith(rp.redirect_uri)]
    assert len(winners) == 1, [p.status for _, p in results]
    losers = [p for b, p in results if b not in winners]
    assert all(p.status in (401, 429) for p in losers), [p.status for p in losers]
    assert "code" in winners[0].callback_params()


def test_l4_one_backup_code_sent_by_20_browsers_at_once_signs_in_once(realm, rp):
    user = realm.user(with_totp=True)
    client = make_rp(realm, rp)
    prepared = _prepared(realm, client, user, backup=True)
    results = _race(prepared, user.backup_codes[0])
    noticed = [(b, p) for b, p in results if p.status == 200 and "backup code" in p.text]
    assert len(noticed) == 1, [p.status for _, p in results]
    assert all(p.status in (401, 429) for b, p in results if b is not noticed[0][0])
    browser, notice = noticed[0]
    browser.submit(notice)
    assert browser.left_to and browser.left_to.startswith(rp.redirect_uri)
    # The losers cannot skip to the notice page and continue from there.
    for b, p in results:
        if b is not browser:
            page = b.get(p.url.rsplit("/", 1)[0] + "/notice")
            assert b.left_to is None and "/notice" not in page.url


def test_l6_parallel_wrong_codes_get_no_more_than_five_tries(realm, rp):
    """Sending guesses in parallel must not slip past the limit of 5 in a row."""
    user = realm.user(with_totp=True)
    client = make_rp(realm, rp)
    prepared = _prepared(realm, client, user, backup=False)
    results = _race(prepared, wrong_code(user.totp_secret))
    statuses = sorted(p.status for _, p in results)
    assert statuses.count(401) == 5 and statuses.count(429) == N - 5, statuses
    assert all(b.left_to is None for b, _ in results)


# -- RFC 6238 Appendix B (SHA-1) --------------------------------------------------------------
SECRET = base64.b32encode(b"12345678901234567890").decode()
VECTORS = [
    (59, "94287082"),
    (1111111109, "07081804"),
    (1111111111, "14050471"),
    (1234567890, "89005924"),
    (2000000000, "69279037"),
    (20000000000, "65353130"),
]


@pytest.mark.parametrize(("at", "expected"), VECTORS)
def test_e6_rfc6238_appendix_b_sha1_vectors(at, expected):
    assert rfc6238(SECRET, at, digits=8) == expected
    assert pyotp.TOTP(SECRET, digits=8).at(at) == expected
    # The 6-digit code used at sign-in is the last 6 digits, matched at its own step.
    six = expected[-6:]
    assert rfc6238(SECRET, at) == six
    assert parse_totp_code(six) == six
    assert matching_step(SECRET, six, at=at) == at // 30


@pytest.mark.parametrize(("at", "expected"), VECTORS)
def test_l2_window_is_previous_current_and_next_step_only(at, expected):
    six = expected[-6:]
    assert matching_step(SECRET, six, at=at + 30) == at // 30  # one step late: accepted
    if at >= 60:  # (pyotp refuses times before the epoch)
        assert matching_step(SECRET, six, at=at - 30) == at // 30  # one step early: accepted
    for far in (60, 90, -60, -90):
        if at + far < 60:
            continue
        assert matching_step(SECRET, six, at=at + far) is None  # two steps off: refused
