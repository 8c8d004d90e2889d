"""Who may introspect a token (RFC 7662 section 4): the token's own client, or a client of
the realm registered as a resource server (``idp client add/set --resource-server``). Any
other authenticated client is told ``{"active": false}`` and learns nothing."""

from __future__ import annotations

import json
from typing import Any

import pytest
import requests

from idp import clock
from idp.db import get_session
from idp.models import Realm
from idp.services.clients import create_client, find_client, set_client_resource_server
from idp.services.errors import InvalidInput
from tests.helpers import run_idp
from tests.oidc_rp import RP, sign_in_password

pytestmark = pytest.mark.slow

INACTIVE = {"active": False}


def _user_tokens(realm: Any, rp: Any) -> dict[str, Any]:
    """Access and refresh token of a user signed in to ``rp``."""
    user = realm.user()
    client = RP(realm.issuer, rp.client_id, rp.client_secret, rp.redirect_uri)
    browser = realm.browser()
    flow = client.start()
    sign_in_password(browser, flow.url, user.email, user.password)
    token = client.finish(flow, browser)
    assert token.get("refresh_token")
    return token


def _introspect(realm: Any, client: tuple[str, str | None], token: str) -> dict[str, Any]:
    resp = requests.post(
        realm.endpoints["introspect"], data={"token": token}, auth=client, timeout=10
    )
    assert resp.status_code == 200, resp.text
    return resp.json()


def test_own_client_introspects_its_tokens(realm, rp):
    tokens = _user_tokens(realm, rp)
    mine = (rp.client_id, rp.client_secret)
    access = _introspect(realm, mine, tokens["access_token"])
    assert access["active"] is True and access["client_id"] == rp.client_id
    refresh = _introspect(realm, mine, tokens["refresh_token"])
    assert refresh["active"] is True and refresh["token_type"] == "refresh_token"


def test_another_client_learns_nothing_of_a_token(realm, rp):
    """Client B authenticates fine, but A's tokens are not its own: inactive, no claims."""
    tokens = _user_tokens(realm, rp)
    other = realm.client()
    for value in (tokens["access_token"], tokens["refresh_token"]):
        assert _introspect(realm, other, value) == INACTIVE
    service = requests.post(
        realm.endpoints["token"],
        data={"grant_type": "client_credentials"},
        auth=(rp.client_id, rp.client_secret),
        timeout=10,
    ).json()["access_token"]
    assert _introspect(realm, other, service) == INACTIVE
    # The tokens are still live for their own client: B's question changed nothing.
    assert _introspect(realm, (rp.client_id, rp.client_secret), service)["active"] is True


def test_resource_server_introspects_every_token_of_its_realm(realm, rp):
    tokens = _user_tokens(realm, rp)
    api = realm.client(resource_server=True)
    access = _introspect(realm, api, tokens["access_token"])
    assert access["active"] is True
    assert access["client_id"] == rp.client_id and access["acr"]
    assert _introspect(realm, api, tokens["refresh_token"])["active"] is True


def test_resource_server_of_another_realm_learns_nothing(realm, rp, server):
    from tests.conftest import TestRealm

    tokens = _user_tokens(realm, rp)
    with server.app.app_context():
        from idp.services.realms import create_realm

        db = get_session()
        row = create_realm(db, realm.name + "x", "Other")
        db.commit()
        other = TestRealm(name=row.name, id=row.id, base=realm.base, server=server)
    api = other.client(resource_server=True)
    # Asked at its own realm's endpoint, the token is unknown there.
    assert _introspect(other, api, tokens["access_token"]) == INACTIVE
    # At this realm's endpoint it is not a client at all.
    resp = requests.post(
        realm.endpoints["introspect"], data={"token": tokens["access_token"]}, auth=api, timeout=10
    )
    assert resp.status_code == 401


def test_a_public_client_cannot_be_a_resource_server(realm, server):
    with server.app.app_context():
        db = get_session()
        row = db.get(Realm, realm.id)
        with pytest.raises(InvalidInput):
            create_client(
                db, row, "SPA", ["http://127.0.0.1:9/cb"], public=True, resource_server=True
            )
        spa = create_client(db, row, "SPA", ["http://127.0.0.1:9/cb"], public=True).client
        with pytest.raises(InvalidInput):
            set_client_resource_server(db, spa, True, actor="test", client_address=None)
        db.rollback()


def test_cli_registers_and_unregisters_a_resource_server(realm, rp, server):
    tokens = _user_tokens(realm, rp)
    added = run_idp(
        server, "client", "add", "--name", "API", "--grant-type", "client_credentials",
        "--resource-server", "--realm", realm.name, "--json",
    )  # fmt: skip
    assert added.returncode == 0, added.stderr
    data = json.loads(added.stdout)
    assert data["resource_server"] is True
    api = (data["client_id"], data["client_secret"])
    assert _introspect(realm, api, tokens["access_token"])["active"] is True

    unset = run_idp(
        server, "client", "set", data["client_id"], "--no-resource-server",
        "--realm", realm.name, "--json",
    )  # fmt: skip
    assert unset.returncode == 0, unset.stderr
    assert json.loads(unset.stdout)["resource_server"] is False
    # The provider's process caches clients for IDP_KEY_CACHE_SECONDS (5 s): past that
    # period the change holds.
    clock.travel(seconds=6)
    assert _introspect(realm, api, tokens["access_token"]) == INACTIVE

    again = run_idp(
        server, "client", "set", rp.client_id, "--resource-server", "--realm", realm.name
    )
    assert again.returncode == 0 and "resource_server=yes" in again.stdout
    listed = json.loads(run_idp(server, "client", "list", "--realm", realm.name, "--json").stdout)
    assert {c["client_id"]: c["resource_server"] for c in listed}[rp.client_id] is True
    with server.app.app_context():
        db = get_session()
        assert find_client(db, realm.id, rp.client_id).resource_server is True
