"""The whole relying-party story through a real HTTP server with Authlib's OAuth2 client:
discovery -> authorize -> sign in -> token -> verify the ID token against the JWKS ->
userinfo -> refresh -> revoke -> RP-initiated logout."""

from __future__ import annotations

import base64
import hashlib
import time

import requests
from authlib.oidc.discovery import OpenIDProviderMetadata

from tests.oidc_rp import RP, sign_in_password


def _at_hash(access_token: str) -> str:
    digest = hashlib.sha256(access_token.encode()).digest()
    return base64.urlsafe_b64encode(digest[:16]).rstrip(b"=").decode()


def test_discovery_is_complete_and_valid(realm):
    meta = requests.get(f"{realm.issuer}/.well-known/openid-configuration", timeout=10).json()
    OpenIDProviderMetadata(meta).validate()
    assert meta["issuer"] == realm.issuer
    assert "S256" in meta["code_challenge_methods_supported"]
    assert "plain" not in meta["code_challenge_methods_supported"]
    # SPEC T2
    for claim in ("amr", "acr", "auth_time"):
        assert claim in meta["claims_supported"]
    assert {"1", "2"} <= set(meta["acr_values_supported"])


def test_t2_discovery_lists_acr_values_and_amr_claims(realm):
    meta = requests.get(f"{realm.issuer}/.well-known/openid-configuration", timeout=10).json()
    assert (
        "http://schemas.openid.net/pape/policies/2007/06/multi-factor"
        in meta["acr_values_supported"]
    )
    assert "backup_code" in meta["amr_values_supported"]


def test_confidential_client_full_story(realm, rp):
    user = realm.user(password="pass-word-123")
    client = RP(realm.issuer, rp.client_id, rp.client_secret, rp.redirect_uri)
    flow = client.start(state="s-123")
    browser = realm.browser()
    sign_in_password(browser, flow.url, user.email, user.password)
    params = browser.callback_params()
    assert params["state"] == flow.state
    assert params["code"]
    token = client.finish(flow, browser)
    assert token["token_type"].lower() == "bearer"
    assert token["refresh_token"]

    claims = client.verify_id_token(token["id_token"], nonce=flow.nonce)
    assert claims["sub"] == user.sub
    assert claims["sub"] != user.email and claims["sub"] != str(user.id)
    assert claims["aud"] == rp.client_id
    assert claims["amr"] == ["pwd"]  # SPEC T1
    assert claims["acr"] == "1"
    assert claims["sid"]
    assert claims["at_hash"] == _at_hash(token["access_token"])
    assert abs(claims["auth_time"] - time.time()) < 60
    assert claims["email"] == user.email
    assert claims["name"]

    header, at = client.verify_access_token(token["access_token"])
    assert header["typ"] == "at+jwt"  # RFC 9068
    assert at["iss"] == realm.issuer and at["sub"] == user.sub
    assert at["amr"] == ["pwd"] and at["acr"] == "1" and at["auth_time"] == claims["auth_time"]

    userinfo = requests.get(
        client.meta["userinfo_endpoint"],
        headers={"Authorization": f"Bearer {token['access_token']}"},
        timeout=10,
    )
    assert userinfo.status_code == 200
    assert userinfo.json()["sub"] == user.sub
    assert userinfo.json()["email"] == user.email
    posted = requests.post(
        client.meta["userinfo_endpoint"],
        headers={"Authorization": f"Bearer {token['access_token']}"},
        timeout=10,
    )
    assert posted.status_code == 200 and posted.json()["sub"] == user.sub

    refreshed = flow.session.refresh_token(
        client.meta["token_endpoint"], refresh_token=token["refresh_token"]
    )
    assert refreshed["access_token"] != token["access_token"]
    assert refreshed["refresh_token"] != token["refresh_token"]
    _, at2 = client.verify_access_token(refreshed["access_token"])
    assert at2["amr"] == ["pwd"] and at2["auth_time"] == claims["auth_time"]

    introspect = client.introspect(refreshed["access_token"])
    assert introspect["active"] is True
    assert introspect["acr"] == "1" and introspect["auth_time"] == claims["auth_time"]  # T4

    revoked = requests.post(
        client.meta["revocation_endpoint"],
        data={"token": refreshed["access_token"], "token_type_hint": "access_token"},
        auth=(rp.client_id, rp.client_secret),
        timeout=10,
    )
    assert revoked.status_code == 200
    after = requests.get(
        client.meta["userinfo_endpoint"],
        headers={"Authorization": f"Bearer {refreshed['access_token']}"},
        timeout=10,
    )
    assert after.status_code == 401
    introspect = client.introspect(refreshed["access_token"])
    assert introspect == {"active": False}

    # RP-initiated logout with the ID token as hint: back to the registered URI with state.
    logout = browser.get(
        client.meta["end_session_endpoint"]
        + "?"
        + requests.compat.urlencode(
            {
                "id_token_hint": token["id_token"],
                "post_logout_redirect_uri": rp.post_logout,
                "state": "bye-1",
            }
        )
    )
    assert browser.left_to == f"{rp.post_logout}?state=bye-1", logout.text
    # The SSO session is over: prompt=none now answers login_required.
    flow2 = client.start(prompt="none")
    browser.get(flow2.url)
    assert browser.callback_params()["error"] == "login_required"


def test_public_client_with_pkce(realm):
    user = realm.user()
    client_id, secret = realm.client(public=True)
    assert secret is None
    client = RP(realm.issuer, client_id, None, "http://127.0.0.1:9/cb")
    flow = client.start()
    browser = realm.browser()
    sign_in_password(browser, flow.url, user.email, user.password)
    token = client.finish(flow, browser)
    claims = client.verify_id_token(token["id_token"], nonce=flow.nonce)
    assert claims["sub"] == user.sub and claims["amr"] == ["pwd"]
    refreshed = flow.session.refresh_token(
        client.meta["token_endpoint"], refresh_token=token["refresh_token"]
    )
    assert refreshed["access_token"]


def test_sso_session_signs_into_a_second_client_without_password(realm, rp):
    user = realm.user()
    first = RP(realm.issuer, rp.client_id, rp.client_secret, rp.redirect_uri)
    browser = realm.browser()
    flow = first.start()
    sign_in_password(browser, flow.url, user.email, user.password)
    first.finish(flow, browser)
    other_id, other_secret = realm.client(redirect_uri="http://127.0.0.1:9/other")
    second = RP(realm.issuer, other_id, other_secret, "http://127.0.0.1:9/other")
    flow2 = second.start()
    page = browser.get(flow2.url)
    assert browser.left_to, page.text  # straight back, no page shown
    token = second.finish(flow2, browser)
    assert second.verify_id_token(token["id_token"], nonce=flow2.nonce)["sub"] == user.sub


def test_client_credentials(realm, rp):
    resp = requests.post(
        realm.endpoints["token"],
        data={"grant_type": "client_credentials"},
        auth=(rp.client_id, rp.client_secret),
        timeout=10,
    )
    assert resp.status_code == 200, resp.text
    body = resp.json()
    client = RP(realm.issuer, rp.client_id, rp.client_secret, rp.redirect_uri)
    _, claims = client.verify_access_token(body["access_token"])
    assert claims["sub"] == rp.client_id and claims["client_id"] == rp.client_id


def test_sign_out_from_the_account_menu_ends_the_session_and_its_tokens(realm, rp):
    user = realm.user()
    client = RP(realm.issuer, rp.client_id, rp.client_secret, rp.redirect_uri)
    browser = realm.browser()
    flow = client.start()
    sign_in_password(browser, flow.url, user.email, user.password)
    token = client.finish(flow, browser)
    account = browser.get(realm.url("account/"))
    assert user.email in account.text
    signed_out = browser.submit(account, action="/account/sign-out")
    assert "You are signed out" in signed_out.text
    flow2 = client.start(prompt="none")
    browser.get(flow2.url)
    assert browser.callback_params()["error"] == "login_required"
    refresh = requests.post(
        client.meta["token_endpoint"],
        timeout=10,
        data={"grant_type": "refresh_token", "refresh_token": token["refresh_token"]},
        auth=(rp.client_id, rp.client_secret),
    )
    assert refresh.status_code == 400 and refresh.json()["error"] == "invalid_grant"
