"""The well-known documents' fast path (idp/well_known.py, issue 8 "discovery and JWKS bytes
precomputed"): a WSGI layer in front of Flask answers discovery (OIDC Discovery 1.0 section
4) and the JWKS (RFC 7517 section 5) from the process cache while its entries are fresh, with
exactly the answer the Flask route gives, and leaves everything else to Flask.

Which path answered is observed directly: the layer's fall-through to Flask is counted."""

from __future__ import annotations

import json
from collections.abc import Iterator
from typing import Any
from urllib.parse import urlsplit

import pytest
import requests

from idp import clock
from idp.well_known import WellKnownFastPath
from tests.helpers import run_idp

PERIOD = 3600
pytestmark = [pytest.mark.settings(key_cache_seconds=PERIOD, proxy_count=1), pytest.mark.slow]

#: Headers that differ per request by design: the time (to the second).
PER_REQUEST = {"Date"}


def _layer(app: Any) -> WellKnownFastPath:
    wsgi = app.wsgi_app
    while not isinstance(wsgi, WellKnownFastPath):
        wsgi = wsgi.app  # ProxyFix
    return wsgi


@pytest.fixture
def flask_calls(app: Any) -> Iterator[list[str]]:
    """The paths the fast path handed to Flask during the test."""
    layer = _layer(app)
    inner, calls = layer.wsgi_app, []

    def counting(environ: dict, start_response: Any) -> Any:
        calls.append(environ["PATH_INFO"])
        return inner(environ, start_response)

    layer.wsgi_app = counting
    yield calls
    layer.wsgi_app = inner


def _get(url: str, method: str = "GET", **headers: str) -> requests.Response:
    headers = {"X-Request-Id": "test-request-1", **headers}
    return requests.request(method, url, headers=headers, timeout=10)


def _urls(realm: Any) -> list[str]:
    return [realm.url(".well-known/openid-configuration"), realm.endpoints["certs"]]


def _same(flask: requests.Response, fast: requests.Response) -> None:
    assert fast.status_code == flask.status_code
    assert fast.content == flask.content
    ours = {k: v for k, v in fast.headers.items() if k not in PER_REQUEST}
    theirs = {k: v for k, v in flask.headers.items() if k not in PER_REQUEST}
    # The test server (Werkzeug's) adds its own Server and Connection headers to both.
    assert ours == theirs
    assert "Date" in fast.headers and "Date" in flask.headers


@pytest.mark.parametrize("method", ["GET", "HEAD"])
@pytest.mark.parametrize("scheme", ["http", "https"])
def test_fast_path_answers_exactly_as_the_flask_route(realm, flask_calls, method, scheme):
    forwarded = {"X-Forwarded-Proto": scheme}
    for url in _urls(realm):
        flask_calls.clear()
        clock.travel(seconds=PERIOD + 1)  # stale: Flask checks the version and answers
        flask = _get(url, method, **forwarded)
        fast = _get(url, method, **forwarded)
        assert flask_calls == [urlsplit(url).path]
        _same(flask, fast)
        assert fast.status_code == 200
        assert fast.headers["Content-Type"] == "application/json"
        assert fast.headers["Cache-Control"] == "public, max-age=60"
        assert fast.headers["Access-Control-Allow-Origin"] == "*"
        assert fast.headers["X-Request-Id"] == "test-request-1"
        assert ("Strict-Transport-Security" in fast.headers) == (scheme == "https")
        if method == "GET":
            json.loads(fast.content)
        else:
            assert fast.content == b""


def test_fast_path_304_on_a_matching_etag_as_flask(realm, flask_calls):
    for url in _urls(realm):
        etag = _get(url).headers["ETag"]
        clock.travel(seconds=PERIOD + 1)
        flask_calls.clear()
        flask = _get(url, **{"If-None-Match": etag})
        fast = _get(url, **{"If-None-Match": etag})
        assert len(flask_calls) == 1
        assert flask.status_code == 304 and flask.content == b""
        _same(flask, fast)
        # A list holding it, and a weak form of it, match too (RFC 9110 13.1.2).
        assert _get(url, **{"If-None-Match": f'"x", W/{etag}'}).status_code == 304
        assert _get(url, **{"If-None-Match": '"other"'}).status_code == 200
        assert len(flask_calls) == 1


def test_request_ids_are_kept_when_safe_and_replaced_otherwise(realm, flask_calls):
    url = realm.endpoints["certs"]
    _get(url)
    forged = _get(url, **{"X-Request-Id": "evil id\twith spaces"})
    fresh = requests.get(url, timeout=10)
    assert flask_calls == [] or len(flask_calls) == 1
    for resp in (forged, fresh):
        assert len(resp.headers["X-Request-Id"]) == 16
    assert forged.headers["X-Request-Id"] != fresh.headers["X-Request-Id"]


def test_everything_else_goes_to_flask(realm, server, flask_calls):
    url = realm.url(".well-known/openid-configuration")
    assert _get(url).status_code == 200  # warm
    flask_calls.clear()
    # A query string (the language switch sets a cookie there), other methods, other
    # conditions, a trailing slash, an unknown realm: Flask answers each one.
    with_lang = _get(f"{url}?lang=ja")
    assert with_lang.status_code == 200 and "idp_lang" in with_lang.headers.get("Set-Cookie", "")
    assert requests.post(url, timeout=10).status_code == 405
    assert _get(url, **{"If-Match": '"nope"'}).status_code == 412
    assert _get(url, Range="bytes=0-1").status_code in (200, 206)
    assert _get(url + "/").status_code == 404
    unknown = _get(f"{realm.base}/realms/no-such-realm/.well-known/openid-configuration")
    assert unknown.status_code == 404 and "text/html" in unknown.headers["Content-Type"]
    assert len(flask_calls) == 6


def test_a_key_rotation_by_another_process_is_seen_within_the_period(realm, server, flask_calls):
    discovery_url, jwks_url = _urls(realm)
    old = _get(jwks_url)
    assert _get(discovery_url).json()["id_token_signing_alg_values_supported"] == ["RS256"]
    rotated = run_idp(server, "keys", "rotate", "--realm", realm.name, "--alg", "ES256", "--json")
    assert rotated.returncode == 0, rotated.stderr
    new_kid = json.loads(rotated.stdout)["kid"]

    flask_calls.clear()
    assert _get(jwks_url).content == old.content  # within the period: what the process has
    assert flask_calls == []

    clock.travel(seconds=PERIOD + 1)
    fresh = _get(jwks_url)
    assert new_kid in [k["kid"] for k in fresh.json()["keys"]]
    assert fresh.headers["ETag"] != old.headers["ETag"]
    assert _get(discovery_url).json()["id_token_signing_alg_values_supported"] == [
        "ES256",
        "RS256",
    ]
    # Each document once through Flask (the new key set's discovery bytes are built
    # there), then from the fast path again.
    assert len(flask_calls) == 2
    flask_calls.clear()
    assert _get(jwks_url).content == fresh.content
    assert "ES256" in _get(discovery_url).text
    assert flask_calls == []
