"""Bad input gets a clear error page or a spec-conformant OAuth error: never a 500, never a
stack trace, never a redirect to an unregistered place."""

from __future__ import annotations

from urllib.parse import parse_qs, urlencode, urlsplit

import pytest
import requests


def _authorize(realm, rp, **extra: str) -> requests.Response:
    params = {
        "client_id": rp.client_id,
        "response_type": "code",
        "redirect_uri": rp.redirect_uri,
        "scope": "openid",
        "state": "st",
        **extra,
    }
    return requests.get(
        f"{realm.endpoints['auth']}?{urlencode(params)}", allow_redirects=False, timeout=10
    )


@pytest.mark.parametrize("name", ["nonce", "state", "login_hint", "acr_values"])
def test_overlong_authorization_parameters_are_refused_up_front(realm, rp, name):
    resp = _authorize(realm, rp, **{name: "n" * 5000})
    assert resp.status_code == 302
    location = resp.headers["Location"]
    assert location.startswith(rp.redirect_uri + "?")
    query = parse_qs(urlsplit(location).query)
    assert query["error"] == ["invalid_request"]
    assert "code" not in query


@pytest.mark.parametrize("max_age", ["-1", "abc", "1e3", "１０"])
def test_malformed_max_age_is_invalid_request(realm, rp, max_age):
    resp = _authorize(realm, rp, max_age=max_age)
    assert parse_qs(urlsplit(resp.headers["Location"]).query)["error"] == ["invalid_request"]


def test_malformed_urls_and_bodies_never_cause_a_server_error(realm, rp):
    long = "x" * 3000
    probes = [
        ("GET", realm.url(f"login/{long}/password"), None),
        ("GET", realm.url("login/%00"), None),
        ("GET", realm.endpoints["auth"] + "?client_id=%00&response_type=code", None),
        ("POST", realm.url("login/abc/password"), {"email": "a\x00@example.com"}),
        ("POST", realm.url("login/abc/totp"), {"code": "123456"}),
        ("GET", f"{realm.base}/realms/{long}/account/", None),
        ("GET", f"{realm.base}/realms/NO SUCH/account/", None),
        ("GET", realm.url("admin/users?page=abc"), None),
        ("GET", realm.endpoints["logout"] + "?id_token_hint=a.b.c", None),
        ("GET", realm.endpoints["userinfo"], None),
        (
            "POST",
            realm.endpoints["token"],
            {
                "grant_type": "authorization_code",
                "code": long,
                "client_id": rp.client_id,
                "client_secret": rp.client_secret,
            },
        ),
        (
            "POST",
            realm.endpoints["token"],
            {
                "grant_type": "refresh_token",
                "refresh_token": long,
                "client_id": rp.client_id,
                "client_secret": rp.client_secret,
            },
        ),
        (
            "POST",
            realm.endpoints["token"],
            {"grant_type": "password", "username": "a", "password": "b"},
        ),
        ("POST", realm.endpoints["introspect"], {"token": long}),
        (
            "POST",
            realm.endpoints["revoke"],
            {"token": long, "client_id": rp.client_id, "client_secret": rp.client_secret},
        ),
    ]
    for method, url, data in probes:
        resp = requests.request(method, url, data=data, allow_redirects=False, timeout=10)
        assert resp.status_code < 500, (url[:120], resp.status_code)
        assert "Traceback" not in resp.text
    nul_client = requests.post(
        realm.endpoints["token"],
        timeout=10,
        data={"grant_type": "client_credentials"},
        auth=("bad\x00client", "secret"),
    )
    assert nul_client.status_code == 401 and nul_client.json()["error"] == "invalid_client"
    bearer = requests.get(
        realm.endpoints["userinfo"], timeout=10, headers={"Authorization": "Bearer " + long}
    )
    assert bearer.status_code == 401
    huge = requests.post(realm.endpoints["token"], data="a" * 200_000, timeout=10)
    assert huge.status_code == 413
