"""Issue 17: OpenID Connect Front-Channel Logout 1.0 on the signed-out page, over real HTTP.

The page that ends a session in this browser (RP-initiated logout, the account page's Sign out
and Sign out everywhere) loads, in hidden iframes, the ``frontchannel_logout_uri`` of each
application that signed in to an ended session: with ``iss`` and ``sid`` when the application
registered ``frontchannel_logout_session_required`` (section 2), as registered otherwise. Its
CSP allows exactly those frames; after RP-initiated logout it continues to the
``post_logout_redirect_uri`` with ``state`` (RP-Initiated Logout 1.0, section 3), by a meta
refresh without JavaScript and a Continue link. Without front-channel applications the logout
endpoint redirects at once, as before. The console and the ``idp`` command have no browser
of the user's: they draw no iframes. Chromium loading the frames for real:
tests/test_issue17_frontchannel_browser.py.
"""

from __future__ import annotations

import html
import re
import secrets
from dataclasses import dataclass
from html.parser import HTMLParser
from typing import Any
from urllib.parse import parse_qsl, urlencode, urlsplit

from tests.helpers import Browser, Page, run_idp
from tests.oidc_rp import RP
from tests.support.console import admin_browser
from tests.support.password_reset import sign_in_for_tokens, signed_in
from tests.support.signin import finish_tokens

FC_A = "http://127.0.0.1:9/fc?app=a"  # with session_required: gets iss and sid
FC_B = "http://localhost:7/logout"  # without: loaded exactly as registered


@dataclass
class App:
    client: RP
    post_logout: str


def _app(realm: Any, redirect_uri: str, **kw: Any) -> App:
    post_logout = redirect_uri.rsplit("/", 1)[0] + "/bye"
    client_id, secret = realm.client(redirect_uri=redirect_uri, post_logout=post_logout, **kw)
    return App(RP(realm.issuer, client_id, secret, redirect_uri), post_logout)


def _apps(realm: Any) -> tuple[App, App, App]:
    """A: front-channel with session_required; B: front-channel without; C: none."""
    a = _app(
        realm,
        "http://127.0.0.1:9/cb",
        frontchannel_logout_uri=FC_A,
        frontchannel_logout_session_required=True,
    )
    b = _app(realm, "http://localhost:7/cb", frontchannel_logout_uri=FC_B)
    c = _app(realm, "http://127.0.0.1:5/cb")
    return a, b, c


def _sso_tokens(client: RP, browser: Browser) -> dict[str, Any]:
    """The browser, already signed in at the provider, signs in to ``client`` too (SSO: no
    page in between); returns the verified ID-token claims."""
    flow = client.start()
    browser.get(flow.url)
    _, claims, _ = finish_tokens(client, flow, browser)
    return claims


class _Frames(HTMLParser):
    def __init__(self) -> None:
        super().__init__()
        self.iframes: list[dict[str, str | None]] = []
        self.meta: list[dict[str, str | None]] = []
        self.scripts: list[str | None] = []

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        if tag == "iframe":
            self.iframes.append(dict(attrs))
        elif tag == "meta":
            self.meta.append(dict(attrs))
        elif tag == "script":
            self.scripts.append(dict(attrs).get("src"))


def _parse(page: Page) -> _Frames:
    parser = _Frames()
    parser.feed(page.text)
    return parser


def _frame_urls(page: Page) -> list[str]:
    frames = _parse(page).iframes
    for frame in frames:
        # Hidden, with a title (a11y), no referrer (the page's policy says the same).
        assert "hidden" in frame and frame.get("title"), frame
        assert frame.get("referrerpolicy") == "no-referrer", frame
    return [str(f["src"]) for f in frames]


def _csp(page: Page) -> dict[str, str]:
    header = page.response.headers["Content-Security-Policy"]
    return {d.split()[0]: d for d in (p.strip() for p in header.split(";")) if d}


def _refresh(page: Page) -> str | None:
    """The URL of the page's meta refresh (after its wait), or None."""
    for meta in _parse(page).meta:
        if (meta.get("http-equiv") or "").lower() == "refresh":
            seconds, _, url = str(meta["content"]).partition(";url=")
            assert 1 <= int(seconds) <= 5, meta  # long enough for the frames, not a wait
            return url
    return None


def _default_csp(realm: Any, browser: Browser) -> dict[str, str]:
    """The CSP of an ordinary page of the provider (the sign-in page)."""
    page = browser.get(realm.url("account/"))
    assert "frame-src" not in page.response.headers["Content-Security-Policy"]
    return _csp(page)


def _logout(realm: Any, browser: Browser, **params: str) -> Page:
    return browser.get(f"{realm.endpoints['logout']}?{urlencode(params)}")


def _signed_in_to_all(realm: Any, user: Any, *apps: App) -> tuple[Browser, list[dict]]:
    first, *others = apps
    browser, token = sign_in_for_tokens(realm, first.client, user.email, user.password)
    claims = [first.client.verify_id_token(token["id_token"])]
    claims += [_sso_tokens(app.client, browser) for app in others]
    assert len({c["sid"] for c in claims}) == 1  # one provider session
    claims[0]["id_token"] = token["id_token"]
    return browser, claims


def _assert_a_and_b(realm: Any, frames: list[str], sid: str) -> None:
    """Exactly A's (with iss and sid) and B's (as registered) front-channel URLs."""
    assert len(frames) == 2, frames
    by_host = {urlsplit(u).hostname: u for u in frames}
    a, b = by_host["127.0.0.1"], by_host["localhost"]
    parts = urlsplit(a)
    assert (parts.scheme, parts.netloc, parts.path) == ("http", "127.0.0.1:9", "/fc")
    assert parse_qsl(parts.query) == [("app", "a"), ("iss", realm.issuer), ("sid", sid)]
    assert b == FC_B


# -- RP-initiated logout --------------------------------------------------------------------
def test_rp_initiated_logout_loads_each_front_channel_uri_and_continues(realm):
    user = realm.user()
    a, b, c = _apps(realm)
    browser, claims = _signed_in_to_all(realm, user, a, b, c)
    default = _default_csp(realm, realm.browser())

    page = _logout(
        realm,
        browser,
        id_token_hint=claims[0]["id_token"],
        post_logout_redirect_uri=a.post_logout,
        state="st-123",
    )
    assert page.status == 200 and browser.left_to is None, page.text
    assert "You are signed out" in page.text
    frames = _frame_urls(page)
    # A and B, not C (no front-channel URI): one iframe each.
    _assert_a_and_b(realm, frames, claims[0]["sid"])

    # The CSP allows exactly those frames, and is otherwise the provider's usual one.
    csp = _csp(page)
    assert csp.pop("frame-src").split()[1:] == ["http://127.0.0.1:9", "http://localhost:7"]
    assert csp == default and "'none'" in csp["frame-ancestors"]
    assert page.response.headers["X-Frame-Options"] == "DENY"

    # Then on to the application, with its state: the meta refresh (no JavaScript needed),
    # the Continue link, and the same-origin script that goes on once the frames loaded.
    back = f"{a.post_logout}?state=st-123"
    assert _refresh(page) == back
    assert '<noscript><meta http-equiv="refresh"' in page.text  # no race with the script
    assert html.unescape(page.link("Continue")) == back
    assert _parse(page).scripts == ["/static/frontchannel.js"]
    script = browser.session.get(f"{realm.base}/static/frontchannel.js", timeout=10)
    assert script.status_code == 200 and "javascript" in script.headers["Content-Type"]

    # The session is over at the provider.
    assert not signed_in(realm, browser)


def test_confirmed_logout_without_hint_shows_the_frames_and_goes_back(realm):
    """No id_token_hint: the user confirms (SPEC V3); the answer to the POST is the page."""
    user = realm.user()
    a, b, _ = _apps(realm)
    browser, claims = _signed_in_to_all(realm, user, a, b)
    confirm = _logout(
        realm,
        browser,
        client_id=a.client.client_id,
        post_logout_redirect_uri=a.post_logout,
        state="s2",
    )
    assert confirm.status == 200 and confirm.forms, confirm.text
    page = browser.submit(confirm)
    assert page.status == 200 and browser.left_to is None, page.text
    _assert_a_and_b(realm, _frame_urls(page), claims[0]["sid"])
    assert _refresh(page) == f"{a.post_logout}?state=s2"
    assert not signed_in(realm, browser)


def test_logout_without_a_redirect_shows_the_frames_and_stays(realm):
    """No post_logout_redirect_uri: the frames, and the page stays (nowhere to go)."""
    user = realm.user()
    a, b, _ = _apps(realm)
    browser, claims = _signed_in_to_all(realm, user, a, b)
    page = _logout(realm, browser, id_token_hint=claims[0]["id_token"])
    assert page.status == 200 and browser.left_to is None
    assert len(_frame_urls(page)) == 2
    assert _refresh(page) is None and "frontchannel.js" not in page.text
    assert "Sign in again" in page.text


def test_logout_without_front_channel_applications_still_redirects_at_once(realm):
    user = realm.user()
    _, _, c = _apps(realm)
    browser, claims = _signed_in_to_all(realm, user, c)
    resp = browser.session.get(
        f"{realm.endpoints['logout']}?"
        + urlencode(
            {
                "id_token_hint": claims[0]["id_token"],
                "post_logout_redirect_uri": c.post_logout,
                "state": "plain",
            }
        ),
        allow_redirects=False,
        timeout=10,
    )
    assert resp.status_code == 302, resp.text
    assert resp.headers["Location"] == f"{c.post_logout}?state=plain"
    assert not signed_in(realm, browser)


def _other_realm(server: Any) -> Any:
    from idp.db import get_session
    from idp.services.realms import create_realm
    from tests.conftest import TestRealm

    name = f"r{secrets.token_hex(5)}"
    with server.app.app_context():
        db = get_session()
        row = create_realm(db, name, f"Test {name}")
        db.commit()
        return TestRealm(name=name, id=row.id, base=server.url, server=server)


def test_another_realms_application_never_appears(realm, server):
    """The same browser is signed in to an application of another realm, which has a
    front-channel URI: signing out of this realm neither loads it nor ends that session."""
    other = _other_realm(server)
    user = realm.user()
    other_user = other.user(email=user.email)
    a, _, _ = _apps(realm)
    foreign = _app(
        other,
        "http://127.0.0.1:4/cb",
        frontchannel_logout_uri="http://127.0.0.1:4/fc",
        frontchannel_logout_session_required=True,
    )
    browser, claims = _signed_in_to_all(realm, user, a)
    flow = foreign.client.start()
    page = browser.submit(
        browser.get(flow.url), {"email": other_user.email, "password": other_user.password}
    )
    assert browser.left_to and browser.left_to.startswith("http://127.0.0.1:4/cb"), page.text
    finish_tokens(foreign.client, flow, browser)

    page = _logout(realm, browser, id_token_hint=claims[0]["id_token"])
    frames = _frame_urls(page)
    assert len(frames) == 1 and frames[0].startswith("http://127.0.0.1:9/fc?"), frames
    assert _csp(page)["frame-src"] == "frame-src http://127.0.0.1:9"
    assert not signed_in(realm, browser)
    assert signed_in(other, browser)  # the other realm's session goes on


# -- the account page -------------------------------------------------------------------------
def test_account_sign_out_loads_the_front_channel_uris(realm):
    user = realm.user()
    a, b, c = _apps(realm)
    browser, claims = _signed_in_to_all(realm, user, a, b, c)
    home = browser.get(realm.url("account/"))
    assert home.status == 200 and user.email in home.text
    page = browser.submit(home, action="/account/sign-out")
    assert page.status == 200 and "You are signed out" in page.text, page.text
    _assert_a_and_b(realm, _frame_urls(page), claims[0]["sid"])
    assert _csp(page)["frame-src"] == "frame-src http://127.0.0.1:9 http://localhost:7"
    # Nowhere to continue to: no refresh, no script; the page stays.
    assert _refresh(page) is None and "frontchannel.js" not in page.text
    assert not signed_in(realm, browser)


def test_sign_out_everywhere_loads_the_uris_of_every_ended_session(realm):
    """A in this browser, B in another: Sign out everywhere ends both sessions, and this
    page loads A's URI with this session's sid and B's (which asked for no sid)."""
    user = realm.user()
    a, b, _ = _apps(realm)
    here, claims_here = _signed_in_to_all(realm, user, a)
    there, claims_there = _signed_in_to_all(realm, user, b)
    assert claims_here[0]["sid"] != claims_there[0]["sid"]
    home = here.get(realm.url("account/"))
    page = here.submit(home, action="/sessions/sign-out-all")
    assert page.status == 200 and "You are signed out" in page.text, page.text
    _assert_a_and_b(realm, _frame_urls(page), claims_here[0]["sid"])
    assert not signed_in(realm, here) and not signed_in(realm, there)


def test_sign_out_page_without_front_channel_applications_has_no_frames(realm):
    user = realm.user()
    _, _, c = _apps(realm)
    browser, _ = _signed_in_to_all(realm, user, c)
    page = browser.submit(browser.get(realm.url("account/")), action="/account/sign-out")
    assert page.status == 200 and "You are signed out" in page.text
    assert _frame_urls(page) == [] and "frame-src" not in _csp(page)
    assert _csp(page) == _default_csp(realm, realm.browser())


# -- no browser of the user's: the console and the idp command --------------------------------
def test_console_and_cli_sign_outs_draw_no_frames(realm, server):
    user = realm.user()
    a, b, _ = _apps(realm)
    browser, _ = _signed_in_to_all(realm, user, a, b)
    _, admin, _ = admin_browser(realm)
    detail = admin.get(realm.url(f"admin/users/{user.id}"))
    done = admin.submit(admin.get(detail.link("Disable account")), action="/status")
    assert done.status == 200 and f"The account {user.email} is disabled." in done.text
    assert "<iframe" not in done.text and "frame-src" not in _csp(done)
    assert not signed_in(realm, browser)

    other = realm.user()
    browser, _ = _signed_in_to_all(realm, other, a, b)
    result = run_idp(
        server,
        "user",
        "set-password",
        other.email,
        "--password-stdin",
        "--realm",
        realm.name,
        stdin="another long passphrase\n",
    )
    assert result.returncode == 0, result.stderr
    assert "iframe" not in result.stdout + result.stderr
    assert "127.0.0.1:9" not in result.stdout + result.stderr
    assert not signed_in(realm, browser)


# -- registration ------------------------------------------------------------------------------
def test_idp_client_add_refuses_a_front_channel_uri_of_another_origin(realm, server):
    """Front-Channel Logout 1.0, section 2: the URI's scheme, host and port are those of one
    of the client's redirect URIs."""
    for wrong in (
        "http://127.0.0.1:8/fc",  # another port
        "https://127.0.0.1:9/fc",  # another scheme
        "http://localhost:9/fc",  # another host
    ):
        result = run_idp(
            server,
            "client",
            "add",
            "--name",
            "Mismatch",
            "--redirect-uri",
            "http://127.0.0.1:9/cb",
            "--frontchannel-logout-uri",
            wrong,
            "--realm",
            realm.name,
        )
        assert result.returncode != 0, result.stdout
        message = " ".join((result.stderr + result.stdout).split())
        assert wrong in message, message
        assert "must have the scheme, host and port of one of the client's redirect URIs" in (
            message
        )
        assert "Traceback" not in result.stderr
    listed = run_idp(server, "client", "list", "--realm", realm.name)
    assert "Mismatch" not in listed.stdout
    ok = run_idp(
        server,
        "client",
        "add",
        "--name",
        "Matching",
        "--redirect-uri",
        "http://127.0.0.1:9/cb",
        "--frontchannel-logout-uri",
        "http://127.0.0.1:9/fc",
        "--frontchannel-logout-session-required",
        "--realm",
        realm.name,
        "--json",
    )
    assert ok.returncode == 0, ok.stderr
    assert re.search(r'"frontchannel_logout_uri": "http://127.0.0.1:9/fc"', ok.stdout), ok.stdout


# -- the CSP's frame-src, from the URLs ------------------------------------------------------
def test_frame_src_names_origins_and_nothing_that_could_widen_the_policy():
    from idp.headers import CONTENT_SECURITY_POLICY, csp_with_frames, origin_of

    assert origin_of("https://App.Example/fc?x=1#f") == "https://app.example"
    assert origin_of("https://app.example:8443/fc") == "https://app.example:8443"
    assert origin_of("http://user:pw@127.0.0.1:9/fc") == "http://127.0.0.1:9"
    assert origin_of("http://[::1]:8080/fc") == "http://[::1]:8080"
    for unusable in ("http://a;script-src:9/", "http://*.example/", "javascript:alert(1)", "/fc"):
        assert origin_of(unusable) is None, unusable
    policy = csp_with_frames(
        [
            "http://127.0.0.1:9/fc?sid=1",
            "http://127.0.0.1:9/fc?sid=2",
            "http://a;b/",
            "https://x.test/",
        ]
    )
    assert policy == f"{CONTENT_SECURITY_POLICY}; frame-src http://127.0.0.1:9 https://x.test"
    assert csp_with_frames([]) == CONTENT_SECURITY_POLICY
