"""The per-process caches (idp/cache.py): discovery and JWKS answered from memory with an
ETag, realms and signing keys re-checked every IDP_KEY_CACHE_SECONDS with one small query,
so a change made by the CLI (another process) is seen within that period. Time moves with
``idp.clock.travel``; the cache period is an hour here, so nothing depends on how fast the
machine runs the CLI."""

from __future__ import annotations

import base64
import json
from typing import Any

import pytest
import requests

from idp import clock
from idp.cache import VersionedCache
from idp.db import get_session
from idp.services.realms import cached_realm
from tests.helpers import run_idp
from tests.support.queries import counted_queries

PERIOD = 3600
pytestmark = [pytest.mark.settings(key_cache_seconds=PERIOD), pytest.mark.slow]


def _discovery(realm: Any, **headers: str) -> requests.Response:
    return requests.get(realm.url(".well-known/openid-configuration"), headers=headers, timeout=10)


def _jwks(realm: Any, **headers: str) -> requests.Response:
    return requests.get(realm.endpoints["certs"], headers=headers, timeout=10)


def _kid(token: str) -> str:
    header = token.split(".", 1)[0]
    return json.loads(base64.urlsafe_b64decode(header + "=" * (-len(header) % 4)))["kid"]


def test_discovery_and_jwks_are_answered_from_memory_with_etag_and_cache_control(realm, app):
    first_discovery, first_jwks = _discovery(realm), _jwks(realm)
    with counted_queries(app) as queries:
        for _ in range(5):
            discovery, jwks = _discovery(realm), _jwks(realm)
            assert discovery.status_code == jwks.status_code == 200
    assert queries == []  # no database round trip within the cache period
    for first, again in ((first_discovery, discovery), (first_jwks, jwks)):
        assert again.content == first.content
        assert again.headers["Content-Type"] == "application/json"
        assert again.headers["Cache-Control"] == "public, max-age=60"
        assert again.headers["Access-Control-Allow-Origin"] == "*"
        assert again.headers["ETag"] == first.headers["ETag"]
    assert discovery.json()["issuer"] == realm.issuer
    assert [k["kid"] for k in jwks.json()["keys"]]

    # A client that has the document asks with its ETag and gets 304, no body.
    not_modified = _discovery(realm, **{"If-None-Match": discovery.headers["ETag"]})
    assert not_modified.status_code == 304 and not_modified.content == b""
    not_modified = _jwks(realm, **{"If-None-Match": jwks.headers["ETag"]})
    assert not_modified.status_code == 304 and not_modified.content == b""
    assert _jwks(realm, **{"If-None-Match": '"other"'}).status_code == 200


def test_a_key_rotation_by_the_cli_is_seen_after_the_cache_period(realm, rp, server):
    old = _jwks(realm)
    old_kids = [k["kid"] for k in old.json()["keys"]]
    assert _discovery(realm).json()["id_token_signing_alg_values_supported"] == ["RS256"]

    rotated = run_idp(server, "keys", "rotate", "--realm", realm.name, "--alg", "ES256", "--json")
    assert rotated.returncode == 0, rotated.stderr
    new_kid = json.loads(rotated.stdout)["kid"]

    # Within the period the process keeps what it has: same document, same signing key.
    assert _jwks(realm).content == old.content
    token = requests.post(
        realm.endpoints["token"],
        data={"grant_type": "client_credentials"},
        auth=(rp.client_id, rp.client_secret),
        timeout=10,
    ).json()["access_token"]
    assert _kid(token) in old_kids

    clock.travel(seconds=PERIOD + 1)
    fresh = _jwks(realm)
    assert [k["kid"] for k in fresh.json()["keys"]] == [*old_kids, new_kid]
    assert fresh.headers["ETag"] != old.headers["ETag"]
    assert _discovery(realm).json()["id_token_signing_alg_values_supported"] == [
        "ES256",
        "RS256",
    ]
    token = requests.post(
        realm.endpoints["token"],
        data={"grant_type": "client_credentials"},
        auth=(rp.client_id, rp.client_secret),
        timeout=10,
    ).json()["access_token"]
    assert _kid(token) == new_kid


def test_a_realm_change_by_the_cli_is_seen_after_the_cache_period_with_one_small_query(
    realm, app, server
):
    with app.app_context():
        assert cached_realm(get_session(), realm.name).display_name == f"Test {realm.name}"
    changed = run_idp(server, "realm", "set", realm.name, "--display-name", "Renamed Corp")
    assert changed.returncode == 0, changed.stderr

    with app.app_context(), counted_queries(app) as queries:
        assert cached_realm(get_session(), realm.name).display_name == f"Test {realm.name}"
    assert queries == []

    clock.travel(seconds=PERIOD + 1)
    with app.app_context(), counted_queries(app) as queries:
        snapshot = cached_realm(get_session(), realm.name)
        assert snapshot.display_name == "Renamed Corp"
        assert cached_realm(get_session(), realm.name) is snapshot
    assert len(queries) == 1 and "logo," not in queries[0]  # the logo's bytes stay out

    # Unchanged after another period: one query again, and the same object is kept.
    clock.travel(seconds=PERIOD + 1)
    with app.app_context(), counted_queries(app) as queries:
        assert cached_realm(get_session(), realm.name) is snapshot
    assert len(queries) == 1


def test_unknown_realms_are_not_cached(realm, app):
    with app.app_context():
        assert cached_realm(get_session(), "no-such-realm") is None
        assert cached_realm(get_session(), "Not A Name!") is None
    assert "no-such-realm" not in app.extensions["idp.caches"]["realms"]._entries
    assert _discovery(realm).status_code == 200
    missing = requests.get(
        f"{realm.base}/realms/no-such-realm/.well-known/openid-configuration", timeout=10
    )
    assert missing.status_code == 404


def test_versioned_cache_rebuilds_only_when_the_version_changes():
    cache: VersionedCache[str] = VersionedCache(lambda: 10)
    version, builds = ["v1"], []

    def fetch() -> tuple[str, str]:
        return version[0], version[0]

    def build(data: str, previous: str | None) -> str:
        builds.append((data, previous))
        return f"value of {data}"

    assert cache.get("k", fetch, build) == "value of v1"
    version[0] = "v2"
    assert cache.get("k", fetch, build) == "value of v1"  # within the period
    clock.travel(seconds=11)
    assert cache.get("k", fetch, build) == "value of v2"
    clock.travel(seconds=11)
    assert cache.get("k", fetch, build) == "value of v2"
    assert builds == [("v1", None), ("v2", "value of v1")]
    assert cache.peek("k") == "value of v2"
    cache.forget("k")
    assert cache.peek("k") is None
