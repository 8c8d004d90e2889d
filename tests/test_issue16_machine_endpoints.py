"""Issue 16: an endpoint is declared once (``idp/oidc/endpoint_table.py``), and the routes,
discovery, CORS, the CSRF exemptions and the fast path follow that declaration; an
authorization request is validated once, by Authlib with our checks as its extension, also
when it resumes after the sign-in.

The first tests walk the real table, so a row added later is checked the same way. The
query counts use a SQLAlchemy ``before_cursor_execute`` listener (``tests/support/queries``)
around one HTTP request."""

from __future__ import annotations

from typing import Any

import pytest
import requests
from authlib.oauth2.rfc6749.errors import OAuth2Error
from authlib.oidc.core.errors import RequestURINotSupportedError
from flask import g

from idp.oidc.endpoint_table import ENDPOINTS, FAST_PATH_ENDPOINTS, Cors, ProtocolEndpoint
from idp.well_known import DOCUMENT_PATH
from tests.oidc_rp import RP, sign_in_password
from tests.support.flows import CHALLENGE, authorize_url, password_until_resume
from tests.support.queries import counted_queries

APP_ORIGIN = "http://127.0.0.1:4200"
ELSEWHERE = "http://evil.example"
#: The CSRF refusal's page (idp/__init__.py's CSRFError handler).
CSRF_REFUSAL = "The form has expired"


def _ids(rows: tuple[ProtocolEndpoint, ...]) -> list[str]:
    return [row.name for row in rows]


@pytest.fixture
def discovered(realm) -> dict[str, Any]:
    resp = requests.get(f"{realm.issuer}/.well-known/openid-configuration", timeout=10)
    assert resp.status_code == 200
    return resp.json()


# -- (1) every declared endpoint, as declared ----------------------------------------------------
@pytest.mark.parametrize("row", ENDPOINTS, ids=_ids(ENDPOINTS))
def test_every_declared_endpoint_is_routed_with_its_methods(app, row):
    rules = [r for r in app.url_map.iter_rules() if r.endpoint == row.flask_endpoint]
    assert [r.rule for r in rules] == [f"/realms/<realm>{row.path}"]
    assert set(row.methods) <= rules[0].methods


@pytest.mark.parametrize("row", ENDPOINTS, ids=_ids(ENDPOINTS))
def test_every_declared_endpoint_is_advertised_by_discovery(realm, discovered, row):
    if row.discovery_key is None:  # the discovery document itself
        assert requests.get(realm.issuer + row.path, timeout=10).json() == discovered
    else:
        assert discovered[row.discovery_key] == realm.issuer + row.path


def test_discovery_advertises_no_endpoint_that_is_not_declared(discovered):
    advertised = {k for k in discovered if k.endswith("_endpoint") or k == "jwks_uri"}
    assert advertised == {row.discovery_key for row in ENDPOINTS if row.discovery_key}


@pytest.mark.parametrize("row", ENDPOINTS, ids=_ids(ENDPOINTS))
def test_every_declared_endpoint_answers_cors_as_declared(realm, row):
    realm.client(public=True, redirect_uri=f"{APP_ORIGIN}/callback")
    url = realm.issuer + row.path
    method = "POST" if "POST" in row.methods else "GET"
    preflight = {"Access-Control-Request-Method": method}
    ok = requests.options(url, headers={"Origin": APP_ORIGIN, **preflight}, timeout=10)
    evil = requests.options(url, headers={"Origin": ELSEWHERE, **preflight}, timeout=10)
    if row.cors is Cors.REGISTERED_ORIGINS:
        assert ok.status_code == 204
        assert ok.headers["Access-Control-Allow-Origin"] == APP_ORIGIN
        assert "POST" in ok.headers["Access-Control-Allow-Methods"]
        assert "Access-Control-Allow-Origin" not in evil.headers
    elif row.cors is Cors.ANY_ORIGIN:
        got = requests.get(url, headers={"Origin": ELSEWHERE}, timeout=10)
        assert got.status_code == 200
        assert got.headers["Access-Control-Allow-Origin"] == "*"
    else:
        assert ok.status_code < 500
        assert "Access-Control-Allow-Origin" not in ok.headers
        assert "Access-Control-Allow-Origin" not in evil.headers


def _id_token(realm, rp) -> str:
    user = realm.user()
    client = RP(realm.issuer, rp.client_id, rp.client_secret, rp.redirect_uri)
    browser = realm.browser()
    flow = client.start()
    sign_in_password(browser, flow.url, user.email, user.password)
    return client.finish(flow, browser)["id_token"]


def _cross_site_post(realm, rp, row: ProtocolEndpoint) -> dict[str, str]:
    """A form a page elsewhere could post (no CSRF token), with what the endpoint needs to
    reach its view."""
    if row.name == "authorize":
        return {
            "client_id": rp.client_id,
            "redirect_uri": rp.redirect_uri,
            "response_type": "code",
            "scope": "openid",
            "code_challenge": CHALLENGE,
            "code_challenge_method": "S256",
        }
    if row.name == "logout":
        # A hint of the session's own user ends it without the confirmation (whose POST
        # carries the view's own CSRF token: SPEC V3); here the browser has no session.
        return {"id_token_hint": _id_token(realm, rp)}
    return {"token": "x", "grant_type": "authorization_code", "code": "x"}


POSTED = tuple(row for row in ENDPOINTS if "POST" in row.methods)


@pytest.mark.parametrize("row", POSTED, ids=_ids(POSTED))
def test_every_declared_post_endpoint_takes_a_cross_site_post_without_csrf_token(realm, rp, row):
    assert row.csrf_exempt
    resp = requests.post(
        realm.issuer + row.path,
        data=_cross_site_post(realm, rp, row),
        headers={"Origin": ELSEWHERE, "Referer": f"{ELSEWHERE}/page"},
        allow_redirects=False,
        timeout=10,
    )
    assert CSRF_REFUSAL not in resp.text, (row.name, resp.status_code)
    if row.machine:
        assert resp.headers["Content-Type"].startswith("application/json"), resp.text
        assert resp.status_code in (400, 401), resp.text
    elif row.name == "authorize":
        assert resp.status_code in (302, 303) and "/login/" in resp.headers["Location"]
    else:
        assert resp.status_code == 200, resp.text


def test_the_fast_path_takes_exactly_the_declared_documents():
    for row in ENDPOINTS:
        path = f"/realms/r1{row.path}"
        assert bool(DOCUMENT_PATH.match(path)) is (row in FAST_PATH_ENDPOINTS), row.name


# -- (2) an authorization request is validated once ---------------------------------------------
def _client_reads(queries: list[str]) -> list[str]:
    return [q for q in queries if q.startswith("SELECT client.")]


def _nonce_checks(queries: list[str]) -> list[str]:
    return [q for q in queries if "authorization_code.nonce = " in q]


def test_a_resumed_authorization_looks_up_its_client_once_and_its_nonce_once(realm, rp, app):
    """Before issue 16: 2 client SELECTs and 2 nonce SELECTs (the resume validated the
    request, then Authlib validated it again to issue the code, and the nonce check read the
    client itself). Now one validation, whose nonce check uses the client it established
    (read from the process cache, so no SELECT once cached)."""
    user = realm.user()
    browser = realm.browser()
    client = RP(realm.issuer, rp.client_id, rp.client_secret, rp.redirect_uri)
    _, resume = password_until_resume(realm, browser, client, user)
    with counted_queries(app) as queries:
        browser.get(resume)
    assert "code" in browser.callback_params()
    assert len(_client_reads(queries)) <= 1, _client_reads(queries)
    assert len(_nonce_checks(queries)) == 1, _nonce_checks(queries)


def test_an_authorization_the_session_answers_checks_its_nonce_once(realm, rp, app):
    user = realm.user()
    browser = realm.browser()
    sign_in_password(browser, authorize_url(realm, rp, nonce="first"), user.email, user.password)
    assert "code" in browser.callback_params()
    with counted_queries(app) as queries:
        browser.get(authorize_url(realm, rp, nonce="second"))
    assert "code" in browser.callback_params()
    assert len(_client_reads(queries)) <= 1, _client_reads(queries)
    assert len(_nonce_checks(queries)) == 1, _nonce_checks(queries)


def test_our_checks_are_part_of_authlibs_validation(realm, rp, app):
    """``get_consent_grant`` alone refuses what only our checks refuse (a ``request_uri``,
    RFC 9126's parameter, not offered), addressed to the client with its ``state``."""
    params = {
        "client_id": rp.client_id,
        "redirect_uri": rp.redirect_uri,
        "response_type": "code",
        "scope": "openid",
        "state": "s",
        "code_challenge": CHALLENGE,
        "code_challenge_method": "S256",
        "request_uri": "urn:ietf:params:oauth:request_uri:x",
    }
    server = app.extensions["idp.server"]
    with app.test_request_context(f"/realms/{realm.name}/protocol/openid-connect/auth"):
        from idp.db import get_session
        from idp.models import Realm

        g.idp_realm = get_session().get(Realm, realm.id)
        request = server.resume_request(params, "http://localhost/auth")
        with pytest.raises(OAuth2Error) as refused:
            server.get_consent_grant(request=request, end_user=None)
    assert isinstance(refused.value, RequestURINotSupportedError)
    assert refused.value.redirect_uri == rp.redirect_uri and refused.value.state == "s"
