"""How the authorization response reaches the relying party: the ``iss`` parameter of
RFC 9207 on every answer (against the mix-up attack), and the response modes of OAuth 2.0
Multiple Response Types / Form Post Response Mode (``query``, ``fragment``, ``form_post``).
Requests the provider does not support (request objects, unknown modes) are refused by the
spec's errors instead of being silently ignored. Everything goes through the real server."""

from __future__ import annotations

from typing import Any
from urllib.parse import parse_qs, urlsplit

import pytest
import requests

from tests.helpers import Browser, Page
from tests.support.protocol import auth_params as _params
from tests.support.protocol import auth_url as _auth_url
from tests.support.protocol import pkce as _pkce
from tests.support.protocol import redeem_ok as _redeem_ok


def _hidden_fields(page: Page) -> dict[str, str]:
    (form,) = page.forms
    return {name: value for name, value, kind in form["fields"] if kind == "hidden"}


def _callback(realm: Any, rp: Any, **extra: str) -> dict[str, str]:
    """Where an unsigned-in browser is sent back to at once (an error answer)."""
    _, challenge = _pkce()
    params = _params(rp.client_id, rp.redirect_uri, challenge, **extra)
    browser = realm.browser()
    page = browser.get(_auth_url(realm, params))
    assert browser.left_to, page.text
    callback = browser.callback_params()
    assert callback["state"] == params["state"]
    return callback


def _sign_in(browser: Browser, url: str, user: Any) -> Page:
    page = browser.get(url)
    assert page.status == 200, page.text
    return browser.submit(page, {"email": user.email, "password": user.password})


def test_discovery_lists_response_modes_and_the_iss_parameter(realm):
    meta = requests.get(f"{realm.issuer}/.well-known/openid-configuration", timeout=10).json()
    assert meta["response_modes_supported"] == ["query", "fragment", "form_post"]
    assert meta["authorization_response_iss_parameter_supported"] is True


def test_code_response_names_the_issuer(realm, rp):
    user = realm.user()
    verifier, challenge = _pkce()
    params = _params(rp.client_id, rp.redirect_uri, challenge)
    browser = realm.browser()
    _sign_in(browser, _auth_url(realm, params), user)
    callback = browser.callback_params()
    assert callback["iss"] == realm.issuer
    assert callback["state"] == params["state"]
    _redeem_ok(realm, rp, callback["code"], verifier)


def test_error_response_names_the_issuer(realm, rp):
    callback = _callback(realm, rp, prompt="none")
    assert callback["error"] == "login_required"
    assert callback["iss"] == realm.issuer


def test_an_iss_parameter_sent_by_the_client_is_not_echoed(realm, rp):
    """A forged ``iss`` in the request must not reach the answer: only the provider names
    itself."""
    _, challenge = _pkce()
    params = _params(rp.client_id, rp.redirect_uri, challenge, prompt="none")
    url = _auth_url(realm, params) + "&iss=https%3A%2F%2Fevil.example"
    browser = realm.browser()
    browser.get(url)
    query = parse_qs(urlsplit(browser.left_to or "").query)
    assert query["iss"] == [realm.issuer]


def test_form_post_answers_with_a_page_that_posts_the_code_to_the_redirect_uri(realm, rp):
    user = realm.user()
    verifier, challenge = _pkce()
    params = _params(rp.client_id, rp.redirect_uri, challenge, response_mode="form_post")
    browser = realm.browser()
    page = _sign_in(browser, _auth_url(realm, params), user)
    assert browser.left_to is None and page.status == 200, page.text
    (form,) = page.forms
    assert form["method"] == "post" and form["action"] == rp.redirect_uri
    fields = _hidden_fields(page)
    assert set(fields) == {"code", "state", "iss"}
    assert fields["state"] == params["state"] and fields["iss"] == realm.issuer
    # The page runs only its own script (no inline code) and is never cached.
    csp = page.response.headers["Content-Security-Policy"]
    assert "script-src 'self'" in csp and "unsafe-inline" not in csp
    assert "no-store" in page.response.headers["Cache-Control"]
    assert '<script src="/static/form_post.js">' in page.text
    script = requests.get(f"{realm.base}/static/form_post.js", timeout=10)
    assert script.status_code == 200 and ".submit()" in script.text
    _redeem_ok(realm, rp, fields["code"], verifier)
    # A second request rides the SSO session and is answered by form post at once.
    again = browser.get(_auth_url(realm, params | {"state": "second"}))
    assert browser.left_to is None and _hidden_fields(again)["state"] == "second"


def test_form_post_escapes_what_it_echoes(realm, rp):
    """The state is the client's string: it is echoed as a value, never as markup."""
    _, challenge = _pkce()
    state = '"><script>alert(1)</script>'
    params = _params(
        rp.client_id, rp.redirect_uri, challenge, response_mode="form_post", prompt="none"
    )
    params["state"] = state
    browser = realm.browser()
    page = browser.get(_auth_url(realm, params))
    assert "<script>alert(1)" not in page.text
    assert _hidden_fields(page)["state"] == state


def test_form_post_carries_errors_too(realm, rp):
    _, challenge = _pkce()
    params = _params(
        rp.client_id, rp.redirect_uri, challenge, response_mode="form_post", prompt="none"
    )
    browser = realm.browser()
    page = browser.get(_auth_url(realm, params))
    assert browser.left_to is None and page.status == 200
    assert page.forms[0]["action"] == rp.redirect_uri
    fields = _hidden_fields(page)
    assert fields["error"] == "login_required"
    assert fields["state"] == params["state"] and fields["iss"] == realm.issuer
    assert "code" not in fields


def test_fragment_response_mode_puts_the_answer_in_the_fragment(realm, rp):
    user = realm.user()
    _, challenge = _pkce()
    params = _params(rp.client_id, rp.redirect_uri, challenge, response_mode="fragment")
    browser = realm.browser()
    _sign_in(browser, _auth_url(realm, params), user)
    parts = urlsplit(browser.left_to or "")
    assert parts.query == ""
    answer = parse_qs(parts.fragment)
    assert answer["state"] == [params["state"]] and answer["iss"] == [realm.issuer]
    assert len(answer["code"][0]) > 20


def test_redirect_uri_with_its_own_query_keeps_it(realm):
    """A registered redirect URI may carry a query (RFC 6749 3.1.2); the answer adds to it."""
    redirect_uri = "http://127.0.0.1:9/cb?tenant=a&x="
    client_id, _secret = realm.client(redirect_uri=redirect_uri)
    user = realm.user()
    _, challenge = _pkce()
    for mode in ("query", "form_post"):
        params = _params(client_id, redirect_uri, challenge, response_mode=mode)
        browser = realm.browser()
        page = _sign_in(browser, _auth_url(realm, params), user)
        if mode == "query":
            answer = parse_qs(urlsplit(browser.left_to or "").query, keep_blank_values=True)
            assert answer["tenant"] == ["a"] and answer["x"] == [""]
            assert answer["iss"] == [realm.issuer] and "code" in answer
        else:
            assert page.forms[0]["action"] == redirect_uri
            assert set(_hidden_fields(page)) == {"code", "state", "iss"}


def test_unknown_response_mode_is_refused(realm, rp):
    callback = _callback(realm, rp, response_mode="web_message")
    assert callback["error"] == "invalid_request"
    assert "response_mode" in callback["error_description"]
    assert callback["iss"] == realm.issuer


@pytest.mark.parametrize(
    ("name", "error"),
    [
        ("request", "request_not_supported"),
        ("request_uri", "request_uri_not_supported"),
        ("registration", "registration_not_supported"),
    ],
)
def test_request_objects_are_refused_not_ignored(realm, rp, name, error):
    """OIDC Core 6: a provider without request objects says so; ignoring the parameter could
    let a signed request's stricter values be dropped silently."""
    callback = _callback(realm, rp, **{name: "eyJhbGciOiJub25lIn0"})
    assert callback["error"] == error
