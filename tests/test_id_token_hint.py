"""``id_token_hint`` at the authorization endpoint, over real HTTP (OIDC Core 3.1.2.1,
SPEC P4).

A hint is one of the realm's own ID tokens (an expired one is fine: it names a user, it
grants nothing). A hint that is not ours, or names someone other than the session's user,
never gets a code: ``login_required`` with ``prompt=none``, a fresh sign-in otherwise. Each
attack is first shown to matter: the same request without the hint (or with the genuine
one) gets a code from the session."""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
from typing import Any

import pytest
from joserfc import jwt
from joserfc.jwk import import_key

from idp import clock
from idp.services.keys import realm_keys
from idp.services.realms import create_realm
from tests import conftest
from tests.helpers import Browser
from tests.oidc_rp import RP, sign_in_password
from tests.support.app_db import in_app
from tests.support.signin import finish_tokens, make_rp

pytestmark = pytest.mark.slow


# -- helpers ----------------------------------------------------------------------------------
def b64(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode()


def signed_in(realm: Any, client: RP, user: Any) -> tuple[Browser, str, dict]:
    """A password sign-in in a new browser; returns the browser, the raw ID token and its
    verified claims."""
    browser = realm.browser()
    flow = client.start()
    sign_in_password(browser, flow.url, user.email, user.password)
    token, claims, _ = finish_tokens(client, flow, browser)
    return browser, token["id_token"], claims


def ask(client: RP, browser: Browser, **params: Any) -> tuple[Any, dict[str, str]]:
    """An authorization request in a browser with a session; the answer at the client
    (empty when the browser stayed on the provider)."""
    flow = client.start(**params)
    page = browser.get(flow.url)
    answer = browser.callback_params() if browser.left_to else {}
    return flow, answer | {"_page": page}


def got_code(answer: dict) -> bool:
    return "code" in answer and "error" not in answer


def other_realm(realm: Any) -> conftest.TestRealm:
    name = f"{realm.name}o"

    def make(db: Any) -> int:
        return create_realm(db, name, "Other").id

    realm_id = in_app(realm, make)
    return conftest.TestRealm(name=name, id=realm_id, base=realm.base, server=realm.server)


def private_key(realm: Any) -> tuple[str, str, Any]:
    """The realm's active signing key (kid, alg, key), read as the provider holds it."""

    def read(db: Any) -> tuple[str, str, Any]:
        keys = realm_keys(db, realm.id)
        return keys.active_kid, keys.active_alg, keys.active_private.keys[0]

    return in_app(realm, read)


def resign(claims: dict, kid: str, alg: str, key: Any) -> str:
    return jwt.encode({"alg": alg, "kid": kid, "typ": "JWT"}, claims, key)


def hs256_with(secret: bytes, claims: dict, kid: str) -> str:
    """An HS256 token whose "secret" is public material (written out by hand, since JOSE
    libraries refuse to use key material of another type)."""
    head = b64(json.dumps({"alg": "HS256", "typ": "JWT", "kid": kid}).encode())
    body = b64(json.dumps(claims).encode())
    mac = hmac.new(secret, f"{head}.{body}".encode(), hashlib.sha256).digest()
    return f"{head}.{body}.{b64(mac)}"


def forge(kind: str, realm: Any, client: RP, genuine: str, claims: dict) -> str:
    """A hint naming the same user as ``genuine``, that the realm did not issue."""
    header = json.loads(base64.urlsafe_b64decode(genuine.split(".")[0] + "=="))
    kid = header["kid"]
    public = next(k for k in client.jwks().as_dict()["keys"] if k["kid"] == kid)
    if kind == "alg-none":
        head = b64(json.dumps({"alg": "none", "typ": "JWT", "kid": kid}).encode())
        return f"{head}.{b64(json.dumps(claims).encode())}."
    if kind == "alg-none-with-signature":
        head = b64(json.dumps({"alg": "none", "typ": "JWT", "kid": kid}).encode())
        return f"{head}.{b64(json.dumps(claims).encode())}.{genuine.split('.')[2]}"
    if kind == "hs256-public-jwk":
        return hs256_with(json.dumps(public).encode(), claims, kid)
    if kind == "hs256-public-pem":
        pem = import_key(public).as_pem(private=False)
        return hs256_with(pem, claims, kid)
    if kind == "other-realm-key":
        other = other_realm(realm)
        other_kid, alg, key = private_key(other)
        return resign(claims, other_kid, alg, key)
    if kind == "other-realm-issuer":
        # Our own key, but the issuer of another realm on the same server.
        own_kid, alg, key = private_key(realm)
        return resign(dict(claims, iss=f"{realm.base}/realms/{realm.name}o"), own_kid, alg, key)
    if kind == "tampered-payload":
        head, _, sig = genuine.split(".")
        return f"{head}.{b64(json.dumps(dict(claims, extra='x')).encode())}.{sig}"
    if kind == "garbage":
        return "not-a-jwt"
    raise AssertionError(kind)


FORGERIES = [
    "alg-none",
    "alg-none-with-signature",
    "hs256-public-jwk",
    "hs256-public-pem",
    "other-realm-key",
    "other-realm-issuer",
    "tampered-payload",
    "garbage",
]


# -- tests ------------------------------------------------------------------------------------
def test_hint_of_another_user_with_prompt_none_answers_login_required(realm, rp):
    client = make_rp(realm, rp)
    alice, bob = realm.user(), realm.user()
    browser, alice_token, _ = signed_in(realm, client, alice)
    _, bob_token, bob_claims = signed_in(realm, client, bob)
    assert bob_claims["sub"] != alice.sub
    # The attack would matter: Alice's session answers a silent request with a code...
    _, answer = ask(client, browser, prompt="none")
    assert got_code(answer), answer
    _, answer = ask(client, browser, prompt="none", id_token_hint=alice_token)
    assert got_code(answer), answer
    # ...but not one that says it is for Bob.
    _, answer = ask(client, browser, prompt="none", id_token_hint=bob_token, state="s-7")
    assert answer.get("error") == "login_required", answer
    assert "code" not in answer and answer["state"] == "s-7"


@pytest.mark.parametrize("kind", FORGERIES)
def test_forged_hint_with_prompt_none_answers_login_required(realm, rp, kind):
    client = make_rp(realm, rp)
    user = realm.user()
    browser, genuine, claims = signed_in(realm, client, user)
    forged = forge(kind, realm, client, genuine, claims)
    # The attack would matter: the genuine hint, naming the same user, gets a code.
    _, answer = ask(client, browser, prompt="none", id_token_hint=genuine)
    assert got_code(answer), answer
    _, answer = ask(client, browser, prompt="none", id_token_hint=forged)
    assert answer.get("error") == "login_required", answer
    assert "code" not in answer


def test_own_expired_hint_with_prompt_none_issues_a_code(realm, rp):
    client = make_rp(realm, rp)
    user = realm.user()
    browser, hint, claims = signed_in(realm, client, user)
    try:
        clock.travel(seconds=claims["exp"] - claims["iat"] + 60)
        assert clock.timestamp() > claims["exp"]  # the hint has expired
        flow, answer = ask(client, browser, prompt="none", id_token_hint=hint)
        assert got_code(answer), answer
        _, fresh, _ = finish_tokens(client, flow, browser)
    finally:
        clock.reset()
    assert fresh["sub"] == user.sub
    assert fresh["auth_time"] == claims["auth_time"]  # the same session, no new sign-in


@pytest.mark.parametrize("kind", ["another-user", "alg-none", "hs256-public-jwk"])
def test_mismatching_hint_without_prompt_none_shows_the_password_page(realm, rp, kind):
    client = make_rp(realm, rp)
    alice, bob = realm.user(), realm.user()
    browser, alice_token, alice_claims = signed_in(realm, client, alice)
    if kind == "another-user":
        _, hint, _ = signed_in(realm, client, bob)
    else:
        hint = forge(kind, realm, client, alice_token, alice_claims)
    # Without the hint the session answers at once, no page...
    _, answer = ask(client, browser)
    assert got_code(answer), answer
    # ...with it, a fresh sign-in starts: the password page, no code.
    flow, answer = ask(client, browser, id_token_hint=hint)
    page = answer["_page"]
    assert browser.left_to is None, browser.left_to
    assert page.status == 200 and 'name="password"' in page.text, page.text
    assert "/login/" in page.url and page.url.endswith("/password")
    # Signing in there is an ordinary new sign-in.
    who = bob if kind == "another-user" else alice
    browser.submit(page, {"email": who.email, "password": who.password})
    _, claims, _ = finish_tokens(client, flow, browser)
    assert claims["sub"] == who.sub
    assert claims["amr"] == ["pwd"]


def test_hint_with_prompt_none_and_no_session_answers_login_required(realm, rp):
    client = make_rp(realm, rp)
    user = realm.user()
    _, hint, _ = signed_in(realm, client, user)
    _, answer = ask(client, realm.browser(), prompt="none", id_token_hint=hint)
    assert answer.get("error") == "login_required" and "code" not in answer, answer


def test_an_access_token_is_not_a_hint(realm, rp):
    """The user's own access token (a JWT of this realm naming the same ``sub``) is not an
    ID token: as ``id_token_hint`` it is no hint, and ``prompt=none`` answers as for any
    hint that is not ours, while the genuine ID token gets a code."""
    client = make_rp(realm, rp)
    user = realm.user()
    browser = realm.browser()
    flow = client.start()
    sign_in_password(browser, flow.url, user.email, user.password)
    token, _, _ = finish_tokens(client, flow, browser)
    _, answer = ask(client, browser, prompt="none", id_token_hint=token["access_token"])
    assert answer.get("error") == "login_required" and not got_code(answer), answer
    _, answer = ask(client, browser, prompt="none", id_token_hint=token["id_token"])
    assert got_code(answer), answer
