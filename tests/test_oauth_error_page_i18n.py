"""The page shown for a request that can't go back to the application (unknown client,
unregistered redirect URI, a logout request that doesn't hold together) is written in the
reader's language: the error code, and the reason in words (issue 15, review 3c). A reason
the provider has no translation for stays behind a "Details" disclosure."""

from __future__ import annotations

import re
from html.parser import HTMLParser
from typing import Any
from urllib.parse import urlencode

import pytest
import requests
from authlib.oauth2.rfc6749.errors import InvalidRequestError

from idp.web.oauth_errors import error_page
from tests import conftest
from tests.oidc_rp import RP, sign_in_password

pytestmark = pytest.mark.slow

#: Three English words in a row: a sentence left untranslated.
_ENGLISH = re.compile(r"[A-Za-z'’]{2,}(?:[\s,;:.()]+[A-Za-z'’]{2,}){2,}")


class _MainText(HTMLParser):
    """The text of ``<main>``, without ``<details>`` bodies (which may keep an untranslated
    detail) but with their ``<summary>``."""

    def __init__(self) -> None:
        super().__init__(convert_charrefs=True)
        self.depth = 0
        self.details = 0
        self.summary = 0
        self.text: list[str] = []
        self.hidden: list[str] = []

    def handle_starttag(self, tag: str, attrs: list) -> None:
        if tag == "main":
            self.depth += 1
        elif tag == "details":
            self.details += 1
        elif tag == "summary":
            self.summary += 1

    def handle_endtag(self, tag: str) -> None:
        if tag == "main":
            self.depth -= 1
        elif tag == "details":
            self.details -= 1
        elif tag == "summary":
            self.summary -= 1

    def handle_data(self, data: str) -> None:
        if self.depth <= 0:
            return
        if self.details and not self.summary:
            self.hidden.append(data)
        else:
            self.text.append(data)


def _main_text(html: str) -> tuple[str, str]:
    parser = _MainText()
    parser.feed(html)
    return " ".join(" ".join(parser.text).split()), " ".join(" ".join(parser.hidden).split())


def _auth(realm: conftest.TestRealm, params: list[tuple[str, str]] | dict[str, str]) -> str:
    return f"{realm.endpoints['auth']}?{urlencode(params)}"


def _cases(realm: conftest.TestRealm, rp: Any) -> dict[str, str]:
    base = {"response_type": "code", "scope": "openid", "state": "s"}
    return {
        "unregistered-redirect": _auth(
            realm,
            base | {"client_id": rp.client_id, "redirect_uri": "http://evil.example/cb"},
        ),
        "unknown-client": _auth(
            realm, base | {"client_id": "no-such-app", "redirect_uri": rp.redirect_uri}
        ),
        "no-client": _auth(realm, base | {"redirect_uri": rp.redirect_uri}),
        "no-redirect": _auth(realm, base | {"client_id": rp.client_id}),
        "duplicate": _auth(
            realm,
            [*base.items(), ("client_id", rp.client_id), ("client_id", rp.client_id)],
        ),
        "bad-response-type": _auth(
            realm,
            base | {"response_type": "token", "client_id": "no-such-app"},
        ),
    }


CASES = [
    "unregistered-redirect",
    "unknown-client",
    "no-client",
    "no-redirect",
    "duplicate",
    "bad-response-type",
]


@pytest.mark.parametrize("case", CASES)
def test_bad_request_page_in_japanese_has_no_english_sentence(realm, rp, case):
    url = _cases(realm, rp)[case]
    resp = requests.get(url, headers={"Accept-Language": "ja"}, allow_redirects=False, timeout=10)
    assert resp.status_code == 400 and "Location" not in resp.headers, resp.text[:300]
    shown, hidden = _main_text(resp.text)
    assert "エラーコード" in shown and re.search(r"invalid_\w+|unsupported_\w+", shown), shown
    assert "移動元のアプリケーション" in shown, shown
    assert not _ENGLISH.search(shown), shown
    assert not hidden, hidden  # the reason is translated: nothing left behind "Details"


def test_bad_request_page_in_english_states_the_reason(realm, rp):
    url = _cases(realm, rp)["unregistered-redirect"]
    resp = requests.get(url, headers={"Accept-Language": "en"}, allow_redirects=False, timeout=10)
    assert resp.status_code == 400
    shown, _ = _main_text(resp.text)
    assert "invalid_request" in shown
    assert "The 'redirect_uri' is not registered for this client." in shown, shown


def _id_token(realm: conftest.TestRealm, rp: Any) -> str:
    user = realm.user()
    client = RP(realm.issuer, rp.client_id, rp.client_secret, rp.redirect_uri)
    flow = client.start()
    browser = realm.browser()
    sign_in_password(browser, flow.url, user.email, user.password)
    return client.finish(flow, browser)["id_token"]


def test_logout_error_page_in_japanese(realm, rp):
    token = _id_token(realm, rp)
    other_id, _ = realm.client(redirect_uri="http://127.0.0.1:9/other")
    query = urlencode({"id_token_hint": token, "client_id": other_id})
    resp = requests.get(
        f"{realm.endpoints['logout']}?{query}",
        headers={"Accept-Language": "ja"},
        allow_redirects=False,
        timeout=10,
    )
    assert resp.status_code == 400, resp.text[:300]
    shown, hidden = _main_text(resp.text)
    assert "エラーコード" in shown and not _ENGLISH.search(shown), shown
    assert not hidden


@pytest.mark.parametrize("hint", ["tampered", "not-a-jwt"])
def test_bad_logout_hint_is_explained_and_the_detail_stays_behind_details(realm, rp, hint):
    """The hint's fault comes from the JOSE library, in English: the Japanese page says in
    Japanese that the hint is not a valid ID token and keeps the library's words (if any)
    inside <details>."""
    if hint == "tampered":
        head, payload, signature = _id_token(realm, rp).split(".")
        flipped = "A" if signature[5] != "A" else "B"
        value = ".".join([head, payload, signature[:5] + flipped + signature[6:]])
    else:
        value = "abc"
    resp = requests.get(
        f"{realm.endpoints['logout']}?{urlencode({'id_token_hint': value})}",
        headers={"Accept-Language": "ja"},
        allow_redirects=False,
        timeout=10,
    )
    assert resp.status_code == 400, resp.text[:300]
    shown, hidden = _main_text(resp.text)
    assert "エラーコード" in shown and "有効なIDトークンではありません" in shown, shown
    assert not _ENGLISH.search(shown), shown
    if hint == "not-a-jwt":
        assert "詳細" in shown and "Invalid JSON Web Signature" in hidden


def test_a_reason_without_translation_is_behind_details(app):
    """Any other description (none reaches a page today) is not shown in English in the
    open: the code, and the description inside <details>."""
    with app.test_request_context("/", headers={"Accept-Language": "ja"}):
        html = error_page(InvalidRequestError("Something new went wrong here.")).get_data(True)
    shown, hidden = _main_text(html)
    assert "エラーコード" in shown and "詳細" in shown and not _ENGLISH.search(shown), shown
    assert hidden == "Something new went wrong here."
