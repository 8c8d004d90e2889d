"""Step-up authentication and fresh sign-ins over real HTTP (SPEC P3, P4, T1, T2).

A relying party asks for a second factor per request (``acr_values``, an essential ``acr``
in the ``claims`` parameter) or by a client setting; a user already signed in with a
password alone is asked only for the code. ``max_age`` and ``prompt=login`` force a new
sign-in, ``auth_time`` is in every ID token and ``prompt=none`` answers without a page.
Every claim is checked by the Authlib relying party against the realm's JWKS."""

from __future__ import annotations

import json
from typing import Any

import pytest
import requests

from idp import clock
from idp.models import User
from idp.services.factors import has_second_factor
from tests.helpers import Browser, Page, totp_code, wait_for_step_room
from tests.oidc_rp import RP, sign_in_password
from tests.support.app_db import in_app
from tests.support.signin import PAPE, finish_tokens, is_code_page, make_rp, password_sign_in
from tests.support.two_factor_pages import ENABLED, enrol_from_account_pages, shown_key

pytestmark = pytest.mark.slow

ESSENTIAL_2 = json.dumps({"id_token": {"acr": {"essential": True, "values": ["2"]}}})


# -- helpers ----------------------------------------------------------------------------------
def is_password_page(page: Page) -> bool:
    return page.status == 200 and 'name="password"' in page.text


def silent(client: RP, browser: Browser, **params: Any) -> tuple[Any, Page]:
    """An authorization request in a browser that may already hold a session."""
    flow = client.start(**params)
    return flow, browser.get(flow.url)


def two_factor_enabled(realm: Any, user: Any) -> bool:
    return in_app(realm, lambda db: has_second_factor(db, db.get(User, user.id)))


def flagged_rp(realm: Any, rp: Any) -> RP:
    client_id, secret = realm.client(redirect_uri=rp.redirect_uri, require_2fa=True)
    return RP(realm.issuer, client_id, secret, rp.redirect_uri)


# -- P3: step-up ------------------------------------------------------------------------------
STEP_UP_FORMS = {
    "acr_values-2": ({"acr_values": "2"}, "2"),
    "pape": ({"acr_values": PAPE}, PAPE),
    "claims-essential": ({"claims": ESSENTIAL_2}, "2"),
    "claims-essential-value": (
        {"claims": json.dumps({"id_token": {"acr": {"essential": True, "value": "2"}}})},
        "2",
    ),
    "client-flag": ({}, "2"),
}


@pytest.mark.parametrize("form", list(STEP_UP_FORMS))
def test_p3_step_up_from_password_session_asks_only_for_the_code(realm, rp, form):
    params, expected_acr = STEP_UP_FORMS[form]
    user = realm.user()
    client = make_rp(realm, rp)
    browser = realm.browser()
    first = password_sign_in(client, browser, user)
    # The user enables 2FA afterwards: this browser keeps its password-only session.
    enrol_from_account_pages(realm, browser, user)
    stepping = flagged_rp(realm, rp) if form == "client-flag" else client
    try:
        clock.travel(seconds=5)
        flow, page = silent(stepping, browser, **params)
        assert browser.left_to is None, browser.left_to
        assert is_code_page(page), page.text
        assert not is_password_page(page)
        browser.submit(page, {"code": totp_code(user.totp_secret)})
        _, claims, at = finish_tokens(stepping, flow, browser)
    finally:
        clock.reset()
    assert claims["sub"] == user.sub
    assert claims["amr"] == ["pwd", "otp", "mfa"]
    assert claims["acr"] == expected_acr
    assert at["acr"] == expected_acr
    assert claims["auth_time"] >= first["auth_time"] + 5


def test_p3_prompt_none_with_unmet_essential_acr_answers_interaction_required(realm, rp):
    user = realm.user()
    client = make_rp(realm, rp)
    browser = realm.browser()
    password_sign_in(client, browser, user)
    # The session answers a silent request...
    silent(client, browser, prompt="none")
    assert "code" in browser.callback_params(), browser.left_to
    # ...but not one that demands a second factor, and no page is shown.
    silent(client, browser, prompt="none", claims=ESSENTIAL_2, state="s-1")
    answer = browser.callback_params()
    assert answer["error"] == "interaction_required", answer
    assert answer["state"] == "s-1" and "code" not in answer
    # Nor for a client that requires 2FA.
    silent(flagged_rp(realm, rp), browser, prompt="none")
    answer = browser.callback_params()
    assert answer["error"] == "interaction_required" and "code" not in answer, answer


def test_p3_client_flag_leads_user_without_factor_through_enrolment(realm, rp):
    user = realm.user()
    client = flagged_rp(realm, rp)
    browser = realm.browser()
    flow = client.start()
    page = sign_in_password(browser, flow.url, user.email, user.password)
    assert browser.left_to is None, browser.left_to
    assert page.status == 200 and "/login/" in page.url and page.url.endswith("/enrol")
    assert "<svg" in page.text and "requires two-factor authentication" in page.text
    key = shown_key(page)
    wait_for_step_room(2.0)
    shown = browser.submit(page, {"code": totp_code(key)})
    assert shown.status == 200 and ENABLED in shown.text, shown.text
    assert 'id="backup-codes"' in shown.text
    assert browser.left_to is None  # no code before Continue
    browser.submit(shown, action="/codes")
    _, claims, _ = finish_tokens(client, flow, browser)
    assert claims["acr"] == "2" and "otp" in claims["amr"] and "mfa" in claims["amr"]
    assert claims["sub"] == user.sub
    assert two_factor_enabled(realm, user)


def test_p3_essential_acr_leads_signed_in_user_without_factor_through_enrolment(realm, rp):
    """A step-up for a user without a factor: enrolment, without the password again."""
    user = realm.user()
    client = make_rp(realm, rp)
    browser = realm.browser()
    password_sign_in(client, browser, user)
    flow, page = silent(client, browser, claims=ESSENTIAL_2)
    assert browser.left_to is None
    assert page.status == 200 and page.url.endswith("/enrol"), page.text
    assert not is_password_page(page)
    wait_for_step_room(2.0)
    shown = browser.submit(page, {"code": totp_code(shown_key(page))})
    assert ENABLED in shown.text, shown.text
    browser.submit(shown, action="/codes")
    _, claims, _ = finish_tokens(client, flow, browser)
    assert claims["acr"] == "2" and claims["amr"] == ["pwd", "otp", "mfa"]
    assert two_factor_enabled(realm, user)


def test_p3_voluntary_acr_values_without_factor_gets_acr_1(realm, rp):
    user = realm.user()
    client = make_rp(realm, rp)
    browser = realm.browser()
    # A new sign-in: password, then straight back to the app, no enrolment page.
    flow = client.start(acr_values="2")
    sign_in_password(browser, flow.url, user.email, user.password)
    assert browser.left_to and browser.left_to.startswith(rp.redirect_uri), browser.left_to
    _, claims, _ = finish_tokens(client, flow, browser)
    assert claims["acr"] == "1" and claims["amr"] == ["pwd"]
    # With the session: the code at once (even silently), still acr "1".
    for params in ({"acr_values": "2"}, {"acr_values": PAPE, "prompt": "none"}):
        flow, _ = silent(client, browser, **params)
        assert "code" in browser.callback_params(), browser.left_to
        _, claims, _ = finish_tokens(client, flow, browser)
        assert claims["acr"] == "1" and claims["amr"] == ["pwd"]
    assert not two_factor_enabled(realm, user)


@pytest.mark.parametrize(
    "params",
    [
        {"acr_values": "1 2"},
        {"acr_values": f"1 {PAPE}"},
        {"claims": json.dumps({"id_token": {"acr": {"essential": True, "values": ["1", "2"]}}})},
    ],
    ids=["acr_values", "acr_values-pape", "claims-essential-values"],
)
def test_p3_acr_values_1_2_met_by_password_session(realm, rp, params):
    user = realm.user()
    client = make_rp(realm, rp)
    browser = realm.browser()
    first = password_sign_in(client, browser, user)
    flow, _ = silent(client, browser, prompt="none", **params)
    assert "code" in browser.callback_params(), browser.left_to
    _, claims, _ = finish_tokens(client, flow, browser)
    assert claims["acr"] == "1" and claims["amr"] == ["pwd"]
    assert claims["auth_time"] == first["auth_time"]  # the same sign-in, no step-up


@pytest.mark.parametrize(
    "claims",
    [
        "not json",
        "[]",
        '"acr"',
        '{"id_token": []}',
        '{"id_token": {"acr": "2"}}',
        '{"userinfo": {"acr": ["2"]}}',
    ],
)
def test_p3_malformed_claims_parameter_answers_invalid_request(realm, rp, claims):
    user = realm.user()
    client = make_rp(realm, rp)
    browser = realm.browser()
    password_sign_in(client, browser, user)
    flow, page = silent(client, browser, claims=claims, state="st-9")
    answer = browser.callback_params()
    assert browser.left_to.startswith(rp.redirect_uri)
    assert answer["error"] == "invalid_request", answer
    assert answer["state"] == "st-9" and "code" not in answer
    assert answer["iss"] == realm.issuer


def test_p3_discovery_claims_parameter_supported(realm):
    meta = requests.get(f"{realm.issuer}/.well-known/openid-configuration", timeout=10).json()
    assert meta["claims_parameter_supported"] is True
    assert {"1", "2", PAPE} <= set(meta["acr_values_supported"])
    assert {"acr", "amr", "auth_time"} <= set(meta["claims_supported"])
    assert "none" in meta["prompt_values_supported"] and "login" in meta["prompt_values_supported"]


# -- P4 ---------------------------------------------------------------------------------------
@pytest.mark.parametrize(
    "params", [{"max_age": "0"}, {"prompt": "login"}], ids=["max_age-0", "prompt-login"]
)
def test_p4_max_age_0_forces_new_sign_in(realm, rp, params):
    user = realm.user()
    client = make_rp(realm, rp)
    browser = realm.browser()
    first = password_sign_in(client, browser, user)
    # The session alone would answer at once...
    silent(client, browser)
    assert "code" in browser.callback_params()
    if "max_age" in params:
        # ...silently not at all...
        silent(client, browser, prompt="none", **params)
        answer = browser.callback_params()
        assert answer["error"] == "login_required" and "code" not in answer, answer
    try:
        clock.travel(seconds=5)
        # ...and with a page: the password is asked again.
        flow, page = silent(client, browser, **params)
        assert browser.left_to is None
        assert is_password_page(page), page.text
        browser.submit(page, {"email": user.email, "password": user.password})
        _, claims, _ = finish_tokens(client, flow, browser)
    finally:
        clock.reset()
    assert claims["auth_time"] >= first["auth_time"] + 5
    assert claims["amr"] == ["pwd"]


def test_p4_max_age_0_asks_a_two_factor_user_for_both_factors(realm, rp):
    user = realm.user(with_totp=True)
    client = make_rp(realm, rp)
    browser = realm.browser()
    flow = client.start()
    page = sign_in_password(browser, flow.url, user.email, user.password)
    browser.submit(page, {"code": totp_code(user.totp_secret)})
    _, first, _ = finish_tokens(client, flow, browser)
    try:
        clock.travel(seconds=5)
        flow, page = silent(client, browser, max_age="0")
        assert is_password_page(page), page.text
        page = browser.submit(page, {"email": user.email, "password": user.password})
        assert is_code_page(page), page.text
        browser.submit(page, {"code": totp_code(user.totp_secret, 1)})
        _, claims, _ = finish_tokens(client, flow, browser)
    finally:
        clock.reset()
    assert claims["amr"] == ["pwd", "otp", "mfa"]
    assert claims["auth_time"] >= first["auth_time"] + 5


def test_p4_max_age_longer_than_the_session_is_met(realm, rp):
    user = realm.user()
    client = make_rp(realm, rp)
    browser = realm.browser()
    first = password_sign_in(client, browser, user)
    try:
        clock.travel(seconds=30)
        flow, _ = silent(client, browser, prompt="none", max_age="3600")
        assert "code" in browser.callback_params()
        _, claims, _ = finish_tokens(client, flow, browser)
        assert claims["auth_time"] == first["auth_time"]
        silent(client, browser, prompt="none", max_age="10")
        assert browser.callback_params()["error"] == "login_required"
    finally:
        clock.reset()


def test_p4_auth_time_in_every_id_token(realm, rp):
    user = realm.user()
    client = make_rp(realm, rp)
    browser = realm.browser()
    # A sign-in (password_sign_in verifies auth_time as an essential claim)...
    first = password_sign_in(client, browser, user)
    auth_times = [first["auth_time"]]
    try:
        clock.travel(seconds=5)
        # ...the session reused, with and without a page...
        for params in ({}, {"prompt": "none"}, {"max_age": "3600"}, {"acr_values": "1"}):
            flow, _ = silent(client, browser, **params)
            token, claims, at = finish_tokens(client, flow, browser)
            auth_times.append(claims["auth_time"])
            assert at["auth_time"] == claims["auth_time"]
        # ...and a refresh (which may or may not bring an ID token, OIDC Core 12.2).
        refreshed = flow.session.refresh_token(
            client.meta["token_endpoint"], refresh_token=token["refresh_token"]
        )
        if "id_token" in refreshed:
            auth_times.append(client.verify_id_token(refreshed["id_token"])["auth_time"])
        auth_times.append(client.verify_access_token(refreshed["access_token"])[1]["auth_time"])
    finally:
        clock.reset()
    assert auth_times == [first["auth_time"]] * len(auth_times)
    assert isinstance(first["auth_time"], int)
