"""Browser apps call the token endpoint cross-origin: the origins of registered redirect
URIs are allowed, any other origin is not."""

from __future__ import annotations

import requests


def test_token_endpoint_allows_registered_origin_only(realm):
    client_id, _ = realm.client(public=True, redirect_uri="http://127.0.0.1:4200/callback")
    ok = requests.options(
        realm.endpoints["token"],
        timeout=10,
        headers={"Origin": "http://127.0.0.1:4200", "Access-Control-Request-Method": "POST"},
    )
    assert ok.status_code == 204
    assert ok.headers["Access-Control-Allow-Origin"] == "http://127.0.0.1:4200"
    evil = requests.options(
        realm.endpoints["token"],
        timeout=10,
        headers={"Origin": "http://evil.example", "Access-Control-Request-Method": "POST"},
    )
    assert "Access-Control-Allow-Origin" not in evil.headers
    post = requests.post(
        realm.endpoints["token"],
        data={"grant_type": "authorization_code", "code": "x", "client_id": client_id},
        headers={"Origin": "http://127.0.0.1:4200"},
        timeout=10,
    )
    assert post.status_code == 400 and post.json()["error"] == "invalid_grant"
    assert post.headers["Access-Control-Allow-Origin"] == "http://127.0.0.1:4200"


def test_discovery_and_jwks_are_readable_from_any_origin(realm):
    for url in (f"{realm.issuer}/.well-known/openid-configuration", realm.endpoints["certs"]):
        resp = requests.get(url, headers={"Origin": "http://spa.example"}, timeout=10)
        assert resp.headers["Access-Control-Allow-Origin"] == "*"
