"""V6: one authorization code redeemed twice at the same moment. The second use fails and
every token the first use issued is revoked (RFC 6749 4.1.2), whichever request commits
first. Two token requests race through real HTTP (a barrier releases them together); the
live server answers each in its own thread, as several ``idp serve`` workers would."""

from __future__ import annotations

import secrets
import threading
from concurrent.futures import ThreadPoolExecutor

import pytest
import requests

from tests.helpers import Browser
from tests.oidc_rp import sign_in_password
from tests.support.flows import authorize_url

pytestmark = pytest.mark.slow

#: RFC 7636's example verifier (``flows.CHALLENGE`` is its S256 challenge).
VERIFIER = "dBjftJeZ4CVP-mB92K27uhbUJU1p1r_wW1gFWFOEjXk"
TRIALS = 20


def _code(realm, rp, browser: Browser, user, first: bool) -> str:
    url = authorize_url(
        realm, rp, scope="openid offline_access", nonce=secrets.token_urlsafe(8), state="s"
    )
    if first:
        sign_in_password(browser, url, user.email, user.password)
    else:  # the browser's session signs in again without a page
        browser.get(url)
    params = browser.callback_params()
    assert "code" in params, params
    return params["code"]


def _redeem(realm, rp, code: str, barrier: threading.Barrier) -> requests.Response:
    data = {
        "grant_type": "authorization_code",
        "code": code,
        "redirect_uri": rp.redirect_uri,
        "code_verifier": VERIFIER,
    }
    barrier.wait(timeout=30)
    return requests.post(
        realm.endpoints["token"], data=data, auth=(rp.client_id, rp.client_secret), timeout=30
    )


def _active(realm, rp, token: str) -> bool:
    resp = requests.post(
        realm.endpoints["introspect"],
        data={"token": token},
        auth=(rp.client_id, rp.client_secret),
        timeout=10,
    )
    assert resp.status_code == 200, resp.text
    return bool(resp.json().get("active"))


def test_v6_code_redeemed_twice_at_once_leaves_no_token_alive(realm, rp):
    user = realm.user()
    browser = realm.browser()
    survivors = []
    with ThreadPoolExecutor(max_workers=2) as pool:
        for trial in range(TRIALS):
            code = _code(realm, rp, browser, user, first=trial == 0)
            barrier = threading.Barrier(2)
            racers = [pool.submit(_redeem, realm, rp, code, barrier) for _ in range(2)]
            answers = [racer.result(timeout=60) for racer in racers]
            statuses = sorted(a.status_code for a in answers)
            # At most one request gets tokens; every other one is invalid_grant.
            assert statuses in ([200, 400], [400, 400]), [a.text for a in answers]
            for answer in answers:
                if answer.status_code == 400:
                    assert answer.json()["error"] == "invalid_grant", answer.text
            for answer in answers:
                if answer.status_code != 200:
                    continue
                issued = answer.json()
                assert "refresh_token" in issued, issued
                userinfo = requests.get(
                    realm.endpoints["userinfo"],
                    headers={"Authorization": f"Bearer {issued['access_token']}"},
                    timeout=10,
                )
                alive = {
                    "access": _active(realm, rp, issued["access_token"]),
                    "refresh": _active(realm, rp, issued["refresh_token"]),
                    "userinfo": userinfo.status_code,
                }
                if alive != {"access": False, "refresh": False, "userinfo": 401}:
                    survivors.append((trial, alive))
    assert survivors == [], f"tokens of a replayed code stayed valid in {len(survivors)} trials"


def test_v6_a_replayed_code_revokes_the_tokens_refreshed_from_its_first_use(realm, rp):
    user = realm.user()
    browser = realm.browser()
    code = _code(realm, rp, browser, user, first=True)
    first = _redeem(realm, rp, code, threading.Barrier(1))
    assert first.status_code == 200, first.text
    refreshed = requests.post(
        realm.endpoints["token"],
        data={"grant_type": "refresh_token", "refresh_token": first.json()["refresh_token"]},
        auth=(rp.client_id, rp.client_secret),
        timeout=10,
    )
    assert refreshed.status_code == 200, refreshed.text
    newest = refreshed.json()
    assert _active(realm, rp, newest["access_token"])

    replay = _redeem(realm, rp, code, threading.Barrier(1))
    assert replay.status_code == 400 and replay.json()["error"] == "invalid_grant", replay.text
    assert not _active(realm, rp, newest["access_token"])
    assert not _active(realm, rp, newest["refresh_token"])
