"""Interop with pyoidc (the ``oic`` package of IdentityPython, the Python RP of the OpenID
certification tools), a strict relying party that checks the provider by its own reading of
the specs: discovery (the issuer must match), the authorization response, the ID token
(signature against the JWKS, iss, aud, nonce, at_hash), UserInfo (by default a POST with the
token in the body, RFC 6750 2.2) and the refresh grant."""

from __future__ import annotations

from typing import Any
from urllib.parse import urlsplit

import pytest
import requests
from oic import rndstr
from oic.oic import Client
from oic.oic.message import AccessTokenResponse, AuthorizationResponse, RegistrationResponse
from oic.utils.authn.client import CLIENT_AUTHN_METHOD

from tests.helpers import Browser, totp_code

pytestmark = pytest.mark.interop


def _client(realm: Any, rp: Any) -> Client:
    client = Client(client_authn_method=CLIENT_AUTHN_METHOD)
    client.provider_config(realm.issuer)  # refuses a document whose issuer differs
    client.store_registration_info(
        RegistrationResponse(
            client_id=rp.client_id,
            client_secret=rp.client_secret,
            redirect_uris=[rp.redirect_uri],
        )
    )
    return client


def _authorize(client: Client, rp: Any, browser: Browser, user: Any) -> AuthorizationResponse:
    state, nonce = rndstr(), rndstr()
    request = client.construct_AuthorizationRequest(
        request_args={
            "client_id": rp.client_id,
            "response_type": "code",
            "scope": ["openid", "email", "profile", "offline_access"],
            "nonce": nonce,
            "redirect_uri": rp.redirect_uri,
            "state": state,
        }
    )
    page = browser.get(request.request(client.authorization_endpoint))
    page = browser.submit(page, {"email": user.email, "password": user.password})
    if user.totp_secret:
        page = browser.submit(page, {"code": totp_code(user.totp_secret)})
    assert browser.left_to, page.text
    response = client.parse_response(
        AuthorizationResponse, info=urlsplit(browser.left_to).query, sformat="urlencoded"
    )
    assert response["state"] == state
    return response


@pytest.mark.parametrize("auth_method", ["client_secret_basic", "client_secret_post"])
def test_pyoidc_two_factor_sign_in(realm, rp, auth_method):
    user = realm.user(with_totp=True)
    client = _client(realm, rp)
    answer = _authorize(client, rp, realm.browser(), user)
    assert answer["iss"] == realm.issuer
    tokens = client.do_access_token_request(
        state=answer["state"],
        request_args={"code": answer["code"]},
        authn_method=auth_method,
    )
    assert isinstance(tokens, AccessTokenResponse), tokens.to_dict()
    id_token = tokens["id_token"]  # verified by pyoidc: signature, iss, aud, nonce, at_hash
    assert id_token["iss"] == realm.issuer and id_token["sub"] == user.sub
    assert id_token["amr"] == ["pwd", "otp", "mfa"] and id_token["acr"] == "2"
    assert id_token["email"] == user.email

    # UserInfo as pyoidc sends it by default (POST, token in the body) and by GET + header.
    for method, behavior in (
        ("POST", "token_in_message_body"),
        ("GET", "use_authorization_header"),
    ):
        info = client.do_user_info_request(
            state=answer["state"], method=method, behavior=behavior
        ).to_dict()
        assert info.get("sub") == user.sub and info.get("email") == user.email, (method, info)

    refreshed = client.do_access_token_refresh(state=answer["state"], authn_method=auth_method)
    assert isinstance(refreshed, AccessTokenResponse), refreshed.to_dict()
    assert refreshed["refresh_token"] != tokens["refresh_token"]


def test_userinfo_refuses_a_token_sent_two_ways(realm, rp):
    """RFC 6750: one method per request; a header and a body token together are refused, as
    are two body tokens, so a proxy can never see one token and the provider another."""
    user = realm.user()
    client = _client(realm, rp)
    answer = _authorize(client, rp, realm.browser(), user)
    tokens = client.do_access_token_request(
        state=answer["state"], request_args={"code": answer["code"]}
    )
    token = tokens["access_token"]
    url = client.provider_info["userinfo_endpoint"]
    both = requests.post(
        url,
        data={"access_token": token},
        headers={"Authorization": f"Bearer {token}"},
        timeout=10,
    )
    assert both.status_code == 400 and both.json()["error"] == "invalid_request"
    twice = requests.post(url, data=[("access_token", token), ("access_token", "x")], timeout=10)
    assert twice.status_code == 400 and twice.json()["error"] == "invalid_request"
    forged = requests.post(url, data={"access_token": token[:-2] + "xx"}, timeout=10)
    assert forged.status_code == 401 and forged.json()["error"] == "invalid_token"
    good = requests.post(url, data={"access_token": token}, timeout=10)
    assert good.status_code == 200 and good.json()["sub"] == user.sub
