"""Clients cached per process (issue 8: "realms and client rows cached per process, with a
cheap version check"), and the statements left per token and introspection request.

A client removed, or given a new secret, by another process is seen within
IDP_KEY_CACHE_SECONDS; after that period a removed client never authenticates, and a
replaced secret never works again, not even while the database is down. Time moves with
``idp.clock.travel``."""

from __future__ import annotations

from typing import Any

import pytest
import requests
from sqlalchemy import create_engine, text
from sqlalchemy.exc import OperationalError

from idp import clock
from idp.cache import VersionedCache
from idp.services.crypto import digest
from tests.helpers import run_idp
from tests.support.queries import counted_queries

PERIOD = 3600
pytestmark = [pytest.mark.settings(key_cache_seconds=PERIOD), pytest.mark.slow]


def _token(realm: Any, client_id: str, secret: str | None) -> requests.Response:
    return requests.post(
        realm.endpoints["token"],
        data={"grant_type": "client_credentials"},
        auth=(client_id, secret or ""),
        timeout=10,
    )


def _introspect(realm: Any, client_id: str, secret: str | None, token: str) -> requests.Response:
    return requests.post(
        realm.endpoints["introspect"],
        data={"token": token},
        auth=(client_id, secret or ""),
        timeout=10,
    )


def test_a_client_removed_by_the_cli_never_authenticates_after_the_period(realm, server):
    client_id, secret = realm.client()
    assert _token(realm, client_id, secret).status_code == 200
    access = _token(realm, client_id, secret).json()["access_token"]
    removed = run_idp(server, "client", "remove", client_id, "--realm", realm.name)
    assert removed.returncode == 0, removed.stderr

    clock.travel(seconds=PERIOD + 1)
    for _ in range(3):  # and it is not cached as "absent" either
        refused = _token(realm, client_id, secret)
        assert refused.status_code == 401 and refused.json()["error"] == "invalid_client"
        assert _introspect(realm, client_id, secret, access).status_code == 401


def test_a_secret_replaced_by_another_process_is_seen_after_the_period(realm, server):
    client_id, old_secret = realm.client()
    assert _token(realm, client_id, old_secret).status_code == 200
    new_secret = "new-secret-" + "x" * 32
    # Another process (the console, another worker) writes the client's row.
    other = create_engine(server.app.extensions["idp.settings"].database_url)
    try:
        with other.begin() as conn:
            conn.execute(
                text("UPDATE client SET secret_digest = :d WHERE client_id = :c"),
                {"d": digest(new_secret), "c": client_id},
            )
    finally:
        other.dispose()
    clock.travel(seconds=PERIOD + 1)
    assert _token(realm, client_id, old_secret).status_code == 401
    assert _token(realm, client_id, new_secret).status_code == 200
    assert _token(realm, client_id, old_secret).status_code == 401


def test_a_token_request_is_one_insert_and_an_introspection_one_select(realm, app):
    client_id, secret = realm.client()
    access = _token(realm, client_id, secret).json()["access_token"]  # the client cached
    assert _introspect(realm, client_id, secret, access).json()["active"] is True
    with counted_queries(app) as queries:
        assert _token(realm, client_id, secret).status_code == 200
    assert len(queries) == 1 and queries[0].startswith("INSERT INTO token")
    with counted_queries(app) as queries:
        assert _introspect(realm, client_id, secret, access).json()["active"] is True
    assert len(queries) == 1 and queries[0].startswith("SELECT")


def test_an_unknown_client_is_refused_and_not_cached(realm, app):
    assert _token(realm, "no-such-client", "secret").status_code == 401
    assert not any(
        key[1] == "no-such-client" for key in app.extensions["idp.caches"]["clients"]._entries
    )


def test_a_client_is_not_served_stale_while_the_database_is_down():
    """Realms and keys are served as last known during an outage (stale-if-error); a
    client is not: past its period, a failed check is an error (503), never a success."""
    cache: VersionedCache[str] = VersionedCache(lambda: 10)

    def ok() -> tuple[str, str]:
        return "v1", "v1"

    def down() -> tuple[str, str]:
        raise OperationalError("SELECT", {}, Exception("connection refused"))

    assert cache.get("c", ok, lambda data, _prev: data) == "v1"
    clock.travel(seconds=11)
    with pytest.raises(OperationalError):
        cache.get("c", down, lambda data, _prev: data, stale_if_error=False)
    assert cache.get("c", down, lambda data, _prev: data) == "v1"  # what realms get
