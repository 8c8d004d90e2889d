"""SPEC V4: an essential ``acr`` (in the ``claims`` parameter) that the provider cannot
satisfy fails the request with an error to the application (OIDC Core 5.5.1.1); voluntary
``acr_values`` keep their documented behaviour.

This provider issues the acr values "1", "2" and the PAPE multi-factor policy URI. An
essential ``acr`` none of whose values is one of them can never be met: the request is
refused at the authorization endpoint, before any sign-in, with ``access_denied`` at the
client's redirect URI (with ``state`` and ``iss``, by the request's response mode)."""

from __future__ import annotations

import base64
import hashlib
import json
import secrets
from typing import Any
from urllib.parse import parse_qs, urlencode, urlsplit

import pytest
from oic import rndstr
from oic.oic import Client
from oic.oic.message import (
    AuthorizationErrorResponse,
    AuthorizationResponse,
    RegistrationResponse,
)
from oic.utils.authn.client import CLIENT_AUTHN_METHOD

from idp.interaction.policy import essential_acr_unsatisfiable
from tests import conftest
from tests.helpers import Browser, totp_code
from tests.oidc_rp import RP, sign_in_password

pytestmark = pytest.mark.slow

UNKNOWN = "urn:example:unknown"
PAPE = "http://schemas.openid.net/pape/policies/2007/06/multi-factor"


def _claims(member: str = "id_token", **acr: Any) -> str:
    return json.dumps({member: {"acr": {"essential": True, **acr}}})


UNSATISFIABLE = {
    "id_token-values": _claims(values=[UNKNOWN]),
    "id_token-value": _claims(value=UNKNOWN),
    "userinfo-only": _claims("userinfo", values=[UNKNOWN]),
    "several-unknown": _claims(values=[UNKNOWN, "urn:example:other", "3"]),
}


def _params(rp: Any, **extra: str) -> dict[str, str]:
    verifier = secrets.token_urlsafe(48)
    challenge = (
        base64.urlsafe_b64encode(hashlib.sha256(verifier.encode()).digest()).rstrip(b"=").decode()
    )
    return {
        "response_type": "code",
        "client_id": rp.client_id,
        "redirect_uri": rp.redirect_uri,
        "scope": "openid",
        "state": secrets.token_urlsafe(8),
        "nonce": secrets.token_urlsafe(8),
        "code_challenge": challenge,
        "code_challenge_method": "S256",
        **extra,
    }


def _auth_url(realm: conftest.TestRealm, params: dict[str, str]) -> str:
    return f"{realm.endpoints['auth']}?{urlencode(params)}"


def _assert_refused(answer: dict[str, str], realm: conftest.TestRealm, state: str) -> None:
    assert answer.get("error") == "access_denied", answer
    assert "code" not in answer
    assert answer["state"] == state
    assert answer["iss"] == realm.issuer
    assert "acr" in answer.get("error_description", ""), answer


@pytest.mark.parametrize("claims", list(UNSATISFIABLE.values()), ids=list(UNSATISFIABLE))
def test_v4_unsatisfiable_essential_acr_is_refused_before_any_sign_in(realm, rp, claims):
    params = _params(rp, claims=claims)
    browser = realm.browser()
    page = browser.get(_auth_url(realm, params))
    # Straight back to the application: no sign-in page is shown for a request that can
    # never be met.
    assert browser.left_to and browser.left_to.startswith(rp.redirect_uri), page.text[:300]
    _assert_refused(browser.callback_params(), realm, params["state"])


@pytest.mark.parametrize("with_totp", [False, True], ids=["password", "two-factor"])
def test_v4_signed_in_browser_gets_no_code_for_unsatisfiable_essential_acr(realm, rp, with_totp):
    """Before the fix a browser with an SSO session got a code at once, acr "1" or "2"."""
    user = realm.user(with_totp=with_totp)
    client = RP(realm.issuer, rp.client_id, rp.client_secret, rp.redirect_uri)
    browser = realm.browser()
    flow = client.start()
    page = sign_in_password(browser, flow.url, user.email, user.password)
    if with_totp:
        browser.submit(page, {"code": totp_code(user.totp_secret)})
    client.finish(flow, browser)

    for extra in ({}, {"prompt": "none"}):
        params = _params(rp, claims=UNSATISFIABLE["id_token-values"], **extra)
        browser.get(_auth_url(realm, params))
        _assert_refused(browser.callback_params(), realm, params["state"])


def test_v4_refusal_follows_the_response_mode(realm, rp):
    params = _params(rp, claims=UNSATISFIABLE["id_token-values"], response_mode="fragment")
    browser = realm.browser()
    browser.get(_auth_url(realm, params))
    assert browser.left_to and "?" not in browser.left_to.split("#")[0]
    answer = {k: v[0] for k, v in parse_qs(urlsplit(browser.left_to).fragment).items()}
    _assert_refused(answer, realm, params["state"])

    params = _params(rp, claims=UNSATISFIABLE["id_token-values"], response_mode="form_post")
    page = browser.get(_auth_url(realm, params))
    assert page.status == 200 and browser.left_to is None
    (form,) = page.forms
    assert form["action"] == rp.redirect_uri and form["method"] == "post"
    posted = {name: value for name, value, kind in form["fields"] if kind == "hidden"}
    _assert_refused(posted, realm, params["state"])


def test_v4_mixed_unknown_and_known_values_are_satisfiable(realm, rp):
    """["urn:example:unknown", "2"]: "2" can be met, so the request goes on and, being
    essential, requires the second factor (acr "2")."""
    user = realm.user(with_totp=True)
    client = RP(realm.issuer, rp.client_id, rp.client_secret, rp.redirect_uri)
    browser = realm.browser()
    flow = client.start(claims=_claims(values=[UNKNOWN, "2"]))
    page = sign_in_password(browser, flow.url, user.email, user.password)
    assert browser.left_to is None and 'name="code"' in page.text, page.text[:300]
    browser.submit(page, {"code": totp_code(user.totp_secret)})
    token = client.finish(flow, browser)
    claims = client.verify_id_token(token["id_token"], nonce=flow.nonce)
    assert claims["acr"] == "2" and "mfa" in claims["amr"]


def test_v4_mixed_values_make_a_user_without_second_factor_enrol(realm, rp):
    """Essential "2" (beside an unknown value) still makes enrolment required, as before."""
    user = realm.user()
    client = RP(realm.issuer, rp.client_id, rp.client_secret, rp.redirect_uri)
    browser = realm.browser()
    flow = client.start(claims=_claims("userinfo", values=[UNKNOWN, "2"]))
    page = sign_in_password(browser, flow.url, user.email, user.password)
    assert browser.left_to is None, browser.left_to
    assert page.status == 200 and 'name="code"' in page.text  # the enrolment's code field
    assert "Later" not in page.text


def test_v4_essential_pape_uri_is_satisfiable(realm, rp):
    user = realm.user(with_totp=True)
    client = RP(realm.issuer, rp.client_id, rp.client_secret, rp.redirect_uri)
    browser = realm.browser()
    flow = client.start(claims=_claims(values=[UNKNOWN, PAPE]))
    page = sign_in_password(browser, flow.url, user.email, user.password)
    browser.submit(page, {"code": totp_code(user.totp_secret)})
    token = client.finish(flow, browser)
    assert client.verify_id_token(token["id_token"], nonce=flow.nonce)["acr"] == PAPE


def test_v4_voluntary_unknown_acr_values_are_still_ignored(realm, rp):
    """README: acr values this provider does not know are ignored (voluntary acr_values)."""
    user = realm.user()
    client = RP(realm.issuer, rp.client_id, rp.client_secret, rp.redirect_uri)
    browser = realm.browser()
    flow = client.start(acr_values=UNKNOWN)
    sign_in_password(browser, flow.url, user.email, user.password)
    token = client.finish(flow, browser)
    assert client.verify_id_token(token["id_token"], nonce=flow.nonce)["acr"] == "1"


def test_v4_essential_without_values_is_no_constraint(realm, rp):
    """``{"acr": {"essential": true}}`` asks for an acr, any: the usual sign-in."""
    user = realm.user()
    client = RP(realm.issuer, rp.client_id, rp.client_secret, rp.redirect_uri)
    browser = realm.browser()
    flow = client.start(claims=_claims())
    sign_in_password(browser, flow.url, user.email, user.password)
    token = client.finish(flow, browser)
    assert client.verify_id_token(token["id_token"], nonce=flow.nonce)["acr"] == "1"


def test_v4_unknown_client_with_unsatisfiable_acr_gets_a_page_not_a_redirect(realm, rp):
    params = _params(
        rp, claims=UNSATISFIABLE["id_token-values"], redirect_uri="https://evil.example/cb"
    )
    browser = realm.browser()
    resp = browser.session.get(_auth_url(realm, params), allow_redirects=False, timeout=10)
    assert resp.status_code == 400 and "Location" not in resp.headers


# -- pyoidc (the oic package): a strict relying party reads the refusal ----------------------
def _pyoidc_client(realm: Any, rp: Any) -> Client:
    client = Client(client_authn_method=CLIENT_AUTHN_METHOD)
    client.provider_config(realm.issuer)
    client.store_registration_info(
        RegistrationResponse(
            client_id=rp.client_id, client_secret=rp.client_secret, redirect_uris=[rp.redirect_uri]
        )
    )
    return client


@pytest.mark.parametrize("member", ["id_token", "userinfo"])
def test_v4_pyoidc_reads_the_refusal_as_an_authorization_error(realm, rp, member):
    client = _pyoidc_client(realm, rp)
    state, nonce = rndstr(), rndstr()
    request = client.construct_AuthorizationRequest(
        request_args={
            "client_id": rp.client_id,
            "response_type": "code",
            "scope": ["openid"],
            "nonce": nonce,
            "redirect_uri": rp.redirect_uri,
            "state": state,
            "claims": {member: {"acr": {"essential": True, "values": [UNKNOWN]}}},
        }
    )
    browser: Browser = realm.browser()
    page = browser.get(request.request(client.authorization_endpoint))
    assert browser.left_to, page.text[:300]
    answer = client.parse_response(
        AuthorizationResponse, info=urlsplit(browser.left_to).query, sformat="urlencoded"
    )
    assert isinstance(answer, AuthorizationErrorResponse), answer.to_dict()
    assert answer["error"] == "access_denied" and answer["state"] == state


@pytest.mark.parametrize(
    ("values", "refused"),
    [
        ((), False),
        ((UNKNOWN,), True),
        ((UNKNOWN, "3", ""), True),
        ((UNKNOWN, "2"), False),
        (("1",), False),
        ((PAPE,), False),
    ],
)
def test_v4_which_essential_values_can_never_be_met(values, refused):
    assert essential_acr_unsatisfiable(values) is refused


# -- a malformed acr member (outside review of the V4 fix, finding F2) ----------------------------
MALFORMED = {
    "values-a-string": '{"id_token":{"acr":{"essential":true,"values":"2"}}}',
    "values-a-uri-string": '{"id_token":{"acr":{"essential":true,"values":"urn:x"}}}',
    "values-a-number-list": '{"id_token":{"acr":{"essential":true,"values":[2]}}}',
    "value-a-number": '{"id_token":{"acr":{"essential":true,"value":2}}}',
    "value-a-list": '{"id_token":{"acr":{"essential":true,"value":["urn:x"]}}}',
    "values-nested-list": '{"id_token":{"acr":{"essential":true,"values":[["urn:x"]]}}}',
    "values-an-object": '{"id_token":{"acr":{"essential":true,"values":{"urn:x":1}}}}',
    "values-nan": '{"id_token":{"acr":{"essential":true,"values":[NaN]}}}',
    "value-infinity": '{"id_token":{"acr":{"essential":true,"value":Infinity}}}',
    "userinfo-values-a-string": '{"userinfo":{"acr":{"essential":true,"values":"2"}}}',
    "value-and-values": '{"id_token":{"acr":{"essential":true,"value":"urn:x","values":["1"]}}}',
    "essential-a-string": '{"id_token":{"acr":{"essential":"true","values":["urn:x"]}}}',
    "not-essential-values-a-string": '{"id_token":{"acr":{"values":"urn:x"}}}',
}


def _assert_invalid_request(answer: dict[str, str], realm: conftest.TestRealm, state: str) -> None:
    assert answer.get("error") == "invalid_request", answer
    assert "code" not in answer
    assert answer["state"] == state
    assert answer["iss"] == realm.issuer
    assert "'claims'" in answer.get("error_description", ""), answer


@pytest.mark.parametrize("claims", list(MALFORMED.values()), ids=list(MALFORMED))
def test_v4_malformed_acr_member_is_an_invalid_request(realm, rp, claims):
    """Before the fix each of these was dropped silently and the request got a code with
    acr "1", as if nothing essential had been asked."""
    params = _params(rp, claims=claims)
    browser = realm.browser()
    page = browser.get(_auth_url(realm, params))
    assert browser.left_to and browser.left_to.startswith(rp.redirect_uri), page.text[:300]
    _assert_invalid_request(browser.callback_params(), realm, params["state"])


@pytest.mark.parametrize("claims", list(MALFORMED.values()), ids=list(MALFORMED))
def test_v4_malformed_acr_member_gets_no_code_for_a_signed_in_browser(realm, rp, claims):
    user = realm.user()
    client = RP(realm.issuer, rp.client_id, rp.client_secret, rp.redirect_uri)
    browser = realm.browser()
    flow = client.start()
    sign_in_password(browser, flow.url, user.email, user.password)
    client.finish(flow, browser)
    for extra in ({}, {"prompt": "none"}):
        params = _params(rp, claims=claims, **extra)
        browser.get(_auth_url(realm, params))
        _assert_invalid_request(browser.callback_params(), realm, params["state"])


def test_v4_malformed_acr_member_follows_the_response_mode(realm, rp):
    params = _params(rp, claims=MALFORMED["values-a-string"], response_mode="fragment")
    browser = realm.browser()
    browser.get(_auth_url(realm, params))
    assert browser.left_to and "?" not in browser.left_to.split("#")[0]
    answer = {k: v[0] for k, v in parse_qs(urlsplit(browser.left_to).fragment).items()}
    _assert_invalid_request(answer, realm, params["state"])
