"""Issue 17: OpenID Connect Front-Channel Logout 1.0 in Chromium, with two applications signed in
in one browser through the hosted pages: Apache httpd with mod_auth_openidc (software nobody
here wrote; its front-channel logout URI is its redirect URI with ``?logout=get``) and the
Authlib Flask app of tests/rp_app.py (``/frontchannel-logout``, which checks ``iss`` and
``sid``). The signed-out page loads both in hidden iframes; afterwards each application needs
a new sign-in.

Both applications run on 127.0.0.1 like the provider: they are same-site, so their cookies
(SameSite=Lax or unset) reach them in the provider's iframes. An application on another site
gets its cookies in the iframe only if they are ``SameSite=None; Secure`` and the browser
sends third-party cookies at all; mod_auth_openidc then still ends the session that ``sid``
names (it keeps sessions server-side), the Flask app, whose session is its cookie, cannot.
"""

from __future__ import annotations

import time
from collections.abc import Iterator
from typing import Any

import pytest
from playwright.sync_api import Page, expect

from tests.browser_support import (
    axe_violations,
    expect_at_rp,
    open_menu_item,
    sign_in_with_password,
)
from tests.rp_app import RunningRP, start_rp
from tests.support.apache import Apache, start_apache

pytestmark = [pytest.mark.browser, pytest.mark.interop]


@pytest.fixture
def apache(realm: Any) -> Iterator[Apache]:
    app = start_apache(realm, frontchannel=True)
    yield app
    app.stop()


@pytest.fixture
def flask_app(realm: Any) -> Iterator[RunningRP]:
    rp = start_rp(realm, frontchannel=True)
    yield rp
    rp.stop()


def _sign_in_to_both(page: Page, user: Any, apache: Apache, rp: RunningRP) -> None:
    """The hosted sign-in once (for Apache), then single sign-on into the Flask app."""
    page.goto(f"{apache.url}/app/whoami")
    sign_in_with_password(page, user.email, user.password)
    expect(page.locator("body")).to_contain_text(f"REMOTE_USER={user.email}")
    page.goto(rp.login_url)
    expect_at_rp(page, rp, user.email)
    page.goto(f"{rp.url}/me")
    expect(page.locator("#me")).to_contain_text(user.sub)


def _watch(page: Page) -> tuple[dict[str, int], list[str]]:
    """The responses the page (and its frames) got, URL to status, and its console messages
    about the Content-Security-Policy. (A response is what counts: mod_auth_openidc answers
    with ``X-Frame-Options: DENY`` by default (``OIDCLogoutXFrameOptions``), so Chromium
    does not draw that answer in the iframe, but the session has ended by then.)"""
    got: dict[str, int] = {}
    csp: list[str] = []
    page.on("response", lambda response: got.__setitem__(response.url, response.status))
    page.on(
        "console",
        lambda m: csp.append(m.text) if "Content Security Policy" in m.text else None,
    )
    return got, csp


def _wait_for(page: Page, condition: Any, what: str, seen: Any, seconds: float = 10) -> None:
    """Poll ``condition`` while Playwright delivers the page's events."""
    deadline = time.monotonic() + seconds
    while not condition():
        assert time.monotonic() < deadline, f"timed out waiting for {what}: {seen}"
        page.wait_for_timeout(50)


def _assert_signed_out_of_both(
    page: Page, realm: Any, apache: Apache, rp: RunningRP, sid: str, outcome: str
) -> None:
    # The Flask app was told once, with the provider's iss and the session's sid.
    calls = rp.app.config.get("FRONTCHANNEL_CALLS", [])
    assert calls == [({"iss": realm.issuer, "sid": sid}, outcome)], calls
    # The next visit to each application needs a new sign-in (the provider's session is over
    # too, so the sign-in page shows).
    for url in (f"{rp.url}/me", f"{apache.url}/app/whoami"):
        page.goto(url)
        expect(page.get_by_role("heading", name="Sign in")).to_be_visible()
        assert page.url.startswith(realm.issuer), (url, page.url, apache.log())


def test_account_sign_out_signs_both_applications_out(
    realm, apache, flask_app, new_context, axe_source
):
    user = realm.user()
    page = new_context()
    _sign_in_to_both(page, user, apache, flask_app)
    page.goto(f"{apache.url}/app/whoami")
    sid = _claim(page, "sid")
    responses, csp = _watch(page)

    page.goto(realm.url("account/"))
    open_menu_item(page, user.email, "Sign out")
    expect(page.get_by_role("heading", name="You are signed out")).to_be_visible()
    frames = page.locator("#frontchannel iframe")
    expect(frames).to_have_count(2)
    assert not frames.first.is_visible() and not frames.last.is_visible()
    assert axe_violations(page, axe_source) == []
    apache_fc = f"{apache.frontchannel_logout_uri}&"
    flask_fc = f"{flask_app.url}/frontchannel-logout?"
    _wait_for(
        page,
        lambda: (
            any(u.startswith(apache_fc) for u in responses)
            and any(u.startswith(flask_fc) for u in responses)
        ),
        "both front-channel URIs to load",
        responses,
    )
    assert csp == [], csp  # the page's frame-src lets exactly these frames load
    _assert_signed_out_of_both(page, realm, apache, flask_app, sid, "signed out")


@pytest.mark.parametrize("javascript", [True, False], ids=["script", "no-script"])
def test_rp_initiated_logout_signs_both_out_and_returns_to_the_app(
    realm, apache, flask_app, new_context, javascript
):
    """The Flask app's own Sign out (RP-initiated logout with id_token_hint, state and its
    post_logout_redirect_uri): the signed-out page loads both iframes, then returns to the
    app: with JavaScript as soon as both loaded, without it by the meta refresh."""
    user = realm.user()
    page = new_context(java_script_enabled=javascript)
    _sign_in_to_both(page, user, apache, flask_app)
    page.goto(f"{apache.url}/app/whoami")
    sid = _claim(page, "sid")
    responses, csp = _watch(page)

    # The app ends its own session first, then sends the browser to the provider; its
    # front-channel URI is loaded anyway (it finds no session: "no session").
    page.goto(f"{flask_app.url}/logout?state=bye-1")
    page.wait_for_url(f"{flask_app.url}/", timeout=15_000)
    assert any(u.startswith(f"{apache.frontchannel_logout_uri}&") for u in responses), responses
    assert any(u.startswith(f"{flask_app.url}/frontchannel-logout?") for u in responses), responses
    assert csp == [], csp
    # Back with the state the app sent (RP-Initiated Logout 1.0, section 3).
    assert responses.get(f"{flask_app.url}/signed-out?state=bye-1") == 302, responses
    # Which way it went on, without timing anything: with JavaScript on, the meta refresh
    # inside <noscript> is inert, so frontchannel.js moved the page; with it off, only the
    # meta refresh can have.
    _assert_signed_out_of_both(page, realm, apache, flask_app, sid, "no session")


def _claim(page: Page, name: str) -> str:
    """A claim of the ID token Apache received, from its claims page."""
    text = page.locator("body").inner_text()
    for line in text.splitlines():
        if line.startswith(f"OIDC_CLAIM_{name}="):
            return line.split("=", 1)[1]
    raise AssertionError(f"no {name} claim at Apache: {text}")
