"""Issue 17, "Proof, with applications nobody here wrote": OpenID Connect Back-Channel Logout
1.0 received by relying-party software of other projects, as real processes over real HTTP:

- an Express app on **express-openid-connect** (``clients/node/eoc-rp.cjs``, the library's
  ``backchannelLogout`` on, its route ``/backchannel-logout``);
- **Apache httpd with mod_auth_openidc** (its back-channel URI is its redirect URI with
  ``?logout=backchannel``).

A user signs in to the app through the hosted pages, the app's protected page shows their
claims; the user is then signed out at the provider, in each of the ways issue 17 lists; the
outbox worker (``send_pending``) POSTs the logout tokens; and the app's next answer is a
redirect to the provider's authorization endpoint: a new sign-in. The logout tokens are
checked by the receiving library, not by our code: the negative tests send tokens with a
foreign signature, another audience, another issuer, no ``events`` member or a ``nonce``,
and the library refuses each while the user stays signed in.

The apps and the realm live for the module (one node process per Express app, one Apache),
on a provider of the module's own (``proxy_count=1``, so that the forgot-password requests
come from a client address of their own); every test has users of its own.
"""

from __future__ import annotations

import secrets
from collections.abc import Callable, Iterator
from typing import Any
from urllib.parse import urljoin

import pytest
from sqlalchemy import select

from idp.db import get_session
from idp.models import Client, Realm
from idp.services.logout import logout_token
from tests.helpers import Browser, run_idp
from tests.support import dead_sign_ins
from tests.support.backchannel import (
    App,
    deliver,
    foreign_key,
    into_app,
    last_attempt_id,
    make_logout_token,
    open_app,
    post_logout_token,
    realm_signing_key,
    sign_in,
    start_apache_app,
    start_eoc,
    still_signed_in,
)
from tests.support.password_reset import ask_for_link, choose_password, reset_link
from tests.support.signin import account_sign_in
from tests.support.two_factor_pages import enable_via_pages

pytestmark = pytest.mark.interop


# -- the module's provider, realm and applications ---------------------------------------------
@pytest.fixture(scope="module")
def bc_server(live: Any, database_url: str, instance_dir: str) -> Iterator[Any]:
    """A provider of the module's own on the suite's database (``live`` migrated it)."""
    from tests.conftest import start_server

    own = start_server(database_url, instance_dir, proxy_count=1)
    yield own
    own.stop()


@pytest.fixture(scope="module")
def bc_realm(bc_server: Any) -> Any:
    from idp.services.realms import create_realm
    from tests.conftest import TestRealm

    name = f"r{secrets.token_hex(5)}"
    with bc_server.app.app_context():
        db = get_session()
        row = create_realm(db, name, f"Test {name}")
        db.commit()
        return TestRealm(name=name, id=row.id, base=bc_server.url, server=bc_server)


def _running(app: App) -> Iterator[App]:
    try:
        yield app
    finally:
        app.stop()


@pytest.fixture(scope="module")
def eoc_a(bc_realm: Any) -> Iterator[App]:
    yield from _running(start_eoc(bc_realm))


@pytest.fixture(scope="module")
def eoc_b(bc_realm: Any) -> Iterator[App]:
    yield from _running(start_eoc(bc_realm))


@pytest.fixture(scope="module")
def apache(bc_realm: Any) -> Iterator[App]:
    yield from _running(start_apache_app(bc_realm))


@pytest.fixture(scope="module")
def eoc_without_uri(bc_realm: Any) -> Iterator[App]:
    """An Express app whose client registered no back-channel logout URI."""
    yield from _running(start_eoc(bc_realm, backchannel=False))


@pytest.fixture
def bc_mailbox(bc_server: Any, smtp_server: Any) -> Iterator[Any]:
    """The module's provider sends mail to the suite's SMTP server during the test."""
    from tests.support.smtp import Mailbox

    settings = bc_server.app.extensions["idp.settings"]
    saved = (settings.smtp_host, settings.smtp_port)
    settings.smtp_host, settings.smtp_port = "127.0.0.1", smtp_server.port
    smtp_server.handler.refuse = False
    yield Mailbox(bc_server.app, smtp_server)
    settings.smtp_host, settings.smtp_port = saved


@pytest.fixture
def app_of(request: pytest.FixtureRequest) -> Callable[[str], App]:
    """``app_of("eoc")`` / ``app_of("apache")``: the module's app of that library."""
    return lambda kind: request.getfixturevalue({"eoc": "eoc_a", "apache": "apache"}[kind])


def browser(realm: Any) -> Browser:
    """A browser that stays on the provider (its pages all live under /realms/) and stops at
    a redirect to an app, whose port may start with the provider's digits."""
    return Browser(realm.base + "/realms/")


class Deliveries:
    """The realm's back-channel deliveries from now on."""

    def __init__(self, realm: Any) -> None:
        self.realm = realm
        self.since = last_attempt_id(realm.server.app)

    def run(self) -> dict[str, list[str]]:
        """Deliver what is queued; each receiving URI's results (``HTTP 204``...)."""
        found: dict[str, list[str]] = {}
        for d in deliver(self.realm.server.app, self.realm.id, self.since):
            found.setdefault(d.recipient, []).append(f"{d.outcome}: {d.result}")
        return found


def accepted(results: dict[str, list[str]], app: App) -> bool:
    """The app's library took one logout token (2xx) on its first try."""
    got = results.get(app.backchannel_logout_uri, [])
    return len(got) == 1 and got[0].startswith("sent: HTTP 20")


# -- RP-initiated logout: one app logs out, every other app of the session is told -----------
def _logout_at_provider(realm: Any, b: Browser, via: App | None, other: App) -> None:
    if via is not None:
        # The library's own logout: its session ends, and it sends the browser to the
        # provider's end_session_endpoint with the session's ID token as id_token_hint.
        resp = b.session.get(via.logout_url(), allow_redirects=False)
        assert resp.status_code in (302, 303), (resp.status_code, resp.text, via.log())
        end = resp.headers["Location"]
        assert end.startswith(realm.endpoints["logout"] + "?") and "id_token_hint=" in end, end
        b.get(end)
        assert b.left_to and b.left_to.startswith(via.post_logout), b.left_to
        return
    # No hint: the provider asks the user to confirm (RP-Initiated Logout 1.0, section 2).
    page = b.get(
        realm.endpoints["logout"]
        + f"?client_id={other.client_id}&post_logout_redirect_uri={other.post_logout}"
    )
    assert page.status == 200 and page.forms, page.text
    b.submit(page)
    assert b.left_to and b.left_to.startswith(other.post_logout), b.left_to


@pytest.mark.parametrize("via", ["eoc", "apache", "confirmation"])
def test_rp_initiated_logout_signs_the_other_apps_of_the_session_out(
    bc_realm, eoc_a, eoc_b, apache, via
):
    """Issue 17: one app logs out at the provider (with its ID token as hint, or without and
    the user confirms: SPEC V3); every app the session signed in to gets a logout token and
    needs a new sign-in: the other apps of both libraries too."""
    realm = bc_realm
    user = realm.user()
    b = browser(realm)
    apps = [eoc_a, eoc_b, apache]
    for app in apps:
        claims = sign_in(realm, b, app, user)
        assert claims["sid"], claims
    assert {sign_in_claims_sid(realm, b, app, user) for app in apps} == {claims["sid"]}
    deliveries = Deliveries(realm)
    logging_out = {"eoc": eoc_a, "apache": apache, "confirmation": None}[via]
    _logout_at_provider(realm, b, logging_out, eoc_b)
    # Until the logout tokens arrive, the other apps know nothing (their sessions are their
    # own): what signs them out below is the token.
    for app in apps:
        if app is not logging_out:
            assert still_signed_in(realm, b, app, user), (app.name, app.log())
    results = deliveries.run()
    for app in apps:
        assert accepted(results, app), (app.name, results, app.log())
        assert not still_signed_in(realm, b, app, user), (app.name, app.log())


def sign_in_claims_sid(realm: Any, b: Browser, app: App, user: Any) -> str:
    """The ``sid`` of the session the app's page shows (the browser is signed in there)."""
    resp = open_app(b, app)
    assert resp.status_code == 200, (resp.status_code, resp.text)
    sid: str = app.claims(resp)["sid"]
    return sid


# -- the account page --------------------------------------------------------------------------
@pytest.mark.parametrize("kind", ["eoc", "apache"])
def test_account_page_sign_out_signs_the_app_out(bc_realm, app_of, kind):
    """Issue 17: the account page's menu "Sign out" ends this browser's session, and the app
    it signed in to is told."""
    realm, app = bc_realm, app_of(kind)
    user = realm.user()
    b = browser(realm)
    sign_in(realm, b, app, user)
    deliveries = Deliveries(realm)
    home = b.get(realm.url("account/"))
    assert "Account settings</h1>" in home.text, home.text
    done = b.submit(home, action="/account/sign-out")
    assert done.status == 200, done.text
    assert still_signed_in(realm, b, app, user), "the app has not been told yet"
    assert accepted(deliveries.run(), app)
    assert not still_signed_in(realm, b, app, user), app.log()


@pytest.mark.parametrize(
    ("kind", "other_session_ends"),
    [pytest.param("apache", False, id="apache"), pytest.param("eoc", True, id="eoc")],
)
def test_signing_one_session_out_ends_that_session_at_the_app(
    bc_realm, app_of, kind, other_session_ends
):
    """The user is signed in to the app in two browsers (two sessions at the provider) and
    signs out in one. The logout token names the session (``sid``) and the user (``sub``):
    mod_auth_openidc ends the one session the sid names, and the other browser stays signed
    in; express-openid-connect's default store remembers the ``sub`` too and so ends every
    session of the user at the app (the library's choice: a custom ``onLogoutToken`` that
    records the sid only keeps the others)."""
    realm, app = bc_realm, app_of(kind)
    user = realm.user()
    here, elsewhere = browser(realm), browser(realm)
    sign_in(realm, here, app, user)
    sign_in(realm, elsewhere, app, user)
    deliveries = Deliveries(realm)
    here.submit(here.get(realm.url("account/")), action="/account/sign-out")
    assert accepted(deliveries.run(), app), app.log()
    assert not still_signed_in(realm, here, app, user), app.log()
    assert still_signed_in(realm, elsewhere, app, user) is not other_session_ends, app.log()


# -- every other path that ends the user's sessions, with the app in a browser of its own ------
def _sign_out_everywhere(realm: Any, user: Any, request: Any) -> None:
    """The user, in another browser, on the account page: "Sign out everywhere"."""
    b = browser(realm)
    home = account_sign_in(realm, b, user)
    done = b.submit(home, action="/sessions/sign-out-all")
    assert done.status == 200, done.text


def _password_reset_by_emailed_link(realm: Any, user: Any, request: Any) -> None:
    """Forgot password, in another browser: the link in the mail, a new password."""
    mailbox = request.getfixturevalue("bc_mailbox")
    b = browser(realm)
    b.session.headers["X-Forwarded-For"] = "10." + ".".join(
        str(secrets.randbelow(250) + 1) for _ in range(3)
    )
    ask_for_link(b, realm, user.email)
    done = choose_password(b, reset_link(mailbox, user.email), "a passphrase from the link")
    assert done.status == 200, done.text


def _cli(*args: str) -> Callable[[Any, Any, Any], None]:
    """The operator runs ``idp user <args> EMAIL`` (the CLI's sign-out and disable)."""

    def run(realm: Any, user: Any, request: Any) -> None:
        done = run_idp(realm.server, "user", *args, user.email, "--realm", realm.name)
        assert done.returncode == 0, done.stderr

    return run


def _console_signs_each_session_out(realm: Any, user: Any, request: Any) -> None:
    """An admin, on the user's page in the console, presses Sign out on the user's session
    (the one listed with the application)."""
    admin = dead_sign_ins.console(realm)
    page = admin.get(realm.url(f"admin/users/{user.id}"))
    (form,) = [f for f in page.forms if f["action"].endswith("/sessions/sign-out")]
    fields = [(n, v) for n, v, t in form["fields"] if n and t == "hidden"]
    answer = admin.session.post(urljoin(page.url, form["action"]), data=fields, timeout=30)
    assert answer.status_code == 200 and "The session on" in answer.text, answer.text


BOTH = ("eoc", "apache")
PATHS: dict[str, tuple[Callable[[Any, Any, Any], None], bool, tuple[str, ...]]] = {
    # name: (what ends the sessions, whether the user has 2FA, the apps it is tried with)
    "account_sign_out_everywhere": (_sign_out_everywhere, False, BOTH),
    "console_disables_the_account": (
        dead_sign_ins.admin_disables_account_then_enables_it,
        False,
        BOTH,
    ),
    "console_resets_the_password": (dead_sign_ins.admin_resets_password, False, BOTH),
    "console_resets_2fa": (dead_sign_ins.admin_resets_two_factor, True, BOTH),
    "cli_set_password": (dead_sign_ins.operator_resets_password, False, BOTH),
    "cli_reset_2fa": (dead_sign_ins.operator_resets_two_factor, True, BOTH),
    "cli_sign_out": (_cli("sign-out"), False, BOTH),
    "console_signs_the_session_out": (_console_signs_each_session_out, False, BOTH),
    "cli_disable": (_cli("disable"), False, BOTH),
    "password_reset_by_emailed_link": (_password_reset_by_emailed_link, False, BOTH),
    "own_password_change_elsewhere": (dead_sign_ins.user_changes_password, False, BOTH),
}


@pytest.mark.parametrize(
    ("path", "kind"), [(path, kind) for path, (_, _, kinds) in PATHS.items() for kind in kinds]
)
def test_each_way_of_ending_the_users_sessions_signs_the_app_out(
    bc_realm, app_of, request, path, kind
):
    """Issue 17, "every path that ends a session notifies" (the changes of SPEC V1, A3): the
    user is signed in to the app in one browser; the user elsewhere, an admin in the console,
    the operator with the CLI or an emailed link ends the user's sessions; the app is told
    and asks for a new sign-in."""
    realm, app = bc_realm, app_of(kind)
    end_sessions, with_totp, _ = PATHS[path]
    user = realm.user(with_totp=with_totp)
    b = browser(realm)
    sign_in(realm, b, app, user)
    deliveries = Deliveries(realm)
    end_sessions(realm, user, request)
    assert still_signed_in(realm, b, app, user), "the app has not been told yet"
    assert accepted(deliveries.run(), app), app.log()
    assert not still_signed_in(realm, b, app, user), app.log()


@pytest.mark.parametrize(("kind", "here_stays"), [("apache", True), ("eoc", False)])
def test_turning_2fa_on_signs_the_other_browsers_app_session_out(
    bc_realm, app_of, kind, here_stays
):
    """Issue 17: turning 2FA on in the account page ends the user's other sessions: the app
    in another browser is signed out. The app in the browser that turned it on stays signed
    in with mod_auth_openidc (it ends the one session the token's sid names);
    express-openid-connect's default store ends every session of the token's sub."""
    realm, app = bc_realm, app_of(kind)
    user = realm.user()
    here, elsewhere = browser(realm), browser(realm)
    sign_in(realm, elsewhere, app, user)
    home = account_sign_in(realm, here, user)
    sign_in(realm, here, app, user)
    deliveries = Deliveries(realm)
    enable_via_pages(realm, here, home)
    results = deliveries.run()
    assert accepted(results, app), (results, app.log())
    assert not still_signed_in(realm, elsewhere, app, user), app.log()
    assert still_signed_in(realm, here, app, user) is here_stays, app.log()


# -- a step-up that replaces the session -------------------------------------------------------
@pytest.mark.parametrize("ask", ["prompt=login", "max_age=0"])
def test_step_up_replaces_the_session_and_signs_the_other_apps_out(
    bc_realm, eoc_a, eoc_b, apache, ask
):
    """Issue 17: app A asks for a new sign-in (``prompt=login`` or ``max_age=0``, through its
    library's login) in a browser whose session app B and Apache signed in to. The sign-in
    replaces the session (SPEC V2: the step-up is bound to the session it started from): B and
    Apache are told and need a new sign-in; A, which receives the new session's tokens in the
    same response, is not told and stays signed in, with the new session's sid."""
    realm = bc_realm
    user = realm.user()
    b = browser(realm)
    before = sign_in(realm, b, eoc_a, user)
    for app in (eoc_b, apache):
        sign_in(realm, b, app, user)
    deliveries = Deliveries(realm)
    path = "/step-up" if ask == "prompt=login" else "/step-up?max_age"
    first = b.session.get(f"{eoc_a.url}{path}", allow_redirects=False)
    assert first.status_code == 302 and ask in first.headers["Location"], first.text
    page = b.get(first.headers["Location"])
    assert b.left_to is None and page.forms, f"{ask} asks for the password again"
    page = b.submit(page, {"email": user.email, "password": user.password})
    resp = into_app(b, eoc_a, page)
    assert resp.status_code == 200, resp.text
    after = resp.json()
    assert after["sub"] == user.sub and after["sid"] != before["sid"], (before, after)
    results = deliveries.run()
    assert eoc_a.backchannel_logout_uri not in results, results
    assert accepted(results, eoc_b) and accepted(results, apache), (results, apache.log())
    assert not still_signed_in(realm, b, eoc_b, user)
    assert not still_signed_in(realm, b, apache, user), apache.log()
    assert still_signed_in(realm, b, eoc_a, user)


# -- an app without a back-channel URI ---------------------------------------------------------
def test_an_app_without_a_backchannel_uri_gets_nothing_and_stays_signed_in(
    bc_realm, eoc_a, eoc_without_uri
):
    """Issue 17: a client that registered no back-channel logout URI is sent nothing; its own
    session lives on until its own expiry (the library cannot know), while the app that
    registered one is signed out."""
    realm = bc_realm
    user = realm.user()
    b = browser(realm)
    sign_in(realm, b, eoc_a, user)
    sign_in(realm, b, eoc_without_uri, user)
    deliveries = Deliveries(realm)
    home = b.get(realm.url("account/"))
    b.submit(home, action="/account/sign-out")
    results = deliveries.run()
    assert list(results) == [eoc_a.backchannel_logout_uri], results
    assert not still_signed_in(realm, b, eoc_a, user)
    assert still_signed_in(realm, b, eoc_without_uri, user)


# -- negative tests: the receiving library checks the token ----------------------------------
#: Each bad token, and what each library says when it refuses it: express-openid-connect in
#: its 400 answer's error_description, mod_auth_openidc in Apache's error log.
BAD_TOKENS = {
    "foreign_signature": ("signature verification failed", "signature could not be validated"),
    "wrong_aud": ('unexpected "aud" claim value', 'did not match the "aud" claim value'),
    "wrong_iss": ('unexpected "iss" claim value', 'does not match received "iss" value'),
    "no_events": ("must contain events claim", '"events" claim could not be found'),
    "nonce": ("must not contain nonce claim", 'since it contains a "nonce" claim'),
    "no_sub_no_sid": ("must contain sub or sid claim", 'no "sub" and no "sid" claim found'),
}


def _bad_token(realm: Any, app: App, other: App, user: Any, sid: str, bad: str) -> str:
    """A logout token for the user's session at ``app``, wrong in the way ``bad`` says; all
    but the first signed with the realm's own key."""
    key, kid, alg = realm_signing_key(realm.server.app, realm.id)
    good: dict[str, Any] = {"iss": realm.issuer, "aud": app.client_id, "sub": user.sub, "sid": sid}
    if bad == "foreign_signature":
        return make_logout_token(foreign_key(), kid=kid, alg="RS256", **good)
    changed = {
        "wrong_aud": {"aud": other.client_id},
        "wrong_iss": {"iss": realm.issuer + "-other"},
        "no_events": {"events": False},
        "nonce": {"nonce": "n-0S6_WzA2Mj"},
        "no_sub_no_sid": {"sub": None, "sid": None},
    }[bad]
    return make_logout_token(key, kid=kid, alg=alg, **{**good, **changed})


def _provider_token_for(realm: Any, app: App, user: Any, sid: str) -> str:
    """The logout token the provider itself would send ``app`` (its own code, its key)."""
    with realm.server.app.app_context():
        db = get_session()
        client = db.scalar(select(Client).where(Client.client_id == app.client_id))
        realm_row = db.get(Realm, realm.id)
        assert client is not None and realm_row is not None
        return logout_token(realm_row, client, sub=user.sub, sid=sid, db=db)


@pytest.mark.parametrize("bad", list(BAD_TOKENS))
def test_express_openid_connect_refuses_a_bad_logout_token(bc_realm, eoc_a, eoc_b, bad):
    """Back-Channel Logout 1.0, section 2.6, as express-openid-connect applies it: a token
    signed by another key, for another audience, from another issuer, without the logout
    event, with a nonce, or naming neither a user nor a session is refused (400, the
    library's reason) and the user stays signed in."""
    realm = bc_realm
    user = realm.user()
    b = browser(realm)
    sid = sign_in(realm, b, eoc_a, user)["sid"]
    resp = post_logout_token(eoc_a, _bad_token(realm, eoc_a, eoc_b, user, sid, bad))
    assert resp.status_code == 400, (resp.status_code, resp.text)
    assert resp.json()["error"] == "invalid_request", resp.text
    assert BAD_TOKENS[bad][0] in resp.json()["error_description"], resp.text
    assert still_signed_in(realm, b, eoc_a, user)


@pytest.mark.parametrize("bad", list(BAD_TOKENS))
def test_mod_auth_openidc_refuses_a_bad_logout_token(bc_realm, apache, eoc_a, bad):
    """The same checks as mod_auth_openidc applies them: refused (400, the module's reason
    in Apache's error log), and the user stays signed in."""
    realm = bc_realm
    user = realm.user()
    b = browser(realm)
    sid = sign_in(realm, b, apache, user)["sid"]
    logged = len(apache.log())
    resp = post_logout_token(apache, _bad_token(realm, apache, eoc_a, user, sid, bad))
    assert resp.status_code == 400, (resp.status_code, resp.text, apache.log())
    assert BAD_TOKENS[bad][1] in apache.log()[logged:], apache.log()[logged:]
    assert still_signed_in(realm, b, apache, user), apache.log()


@pytest.mark.parametrize("kind", ["eoc", "apache"])
def test_a_token_for_another_session_leaves_this_one_signed_in(bc_realm, app_of, kind):
    """The ``sid`` is the library's to match: a genuine token (the provider's key, this app's
    audience) that names another session of the provider is taken, and this session stays
    signed in. (express-openid-connect ends every session of a token's ``sub`` too, so its
    token names the session only, as the spec allows.)"""
    realm, app = bc_realm, app_of(kind)
    user = realm.user()
    b = browser(realm)
    sign_in(realm, b, app, user)
    key, kid, alg = realm_signing_key(realm.server.app, realm.id)
    token = make_logout_token(
        key,
        kid=kid,
        alg=alg,
        iss=realm.issuer,
        aud=app.client_id,
        sub=user.sub if kind == "apache" else None,
        sid=secrets.token_urlsafe(16),
    )
    resp = post_logout_token(app, token)
    assert resp.status_code in (200, 204), (resp.status_code, resp.text, app.log())
    assert still_signed_in(realm, b, app, user), app.log()


@pytest.mark.parametrize("pair", ["eoc_to_eoc", "eoc_to_apache", "apache_to_eoc"])
def test_the_providers_token_for_one_app_is_refused_by_another(
    bc_realm, eoc_a, eoc_b, apache, pair
):
    """The provider's own logout token for one app (its ``aud``) posted to another app is
    refused there, and the user stays signed in; posted to its own app it is taken, and the
    user is signed out (the token was good, only not for that app)."""
    realm = bc_realm
    user = realm.user()
    b = browser(realm)
    meant, wrong = {
        "eoc_to_eoc": (eoc_b, eoc_a),
        "eoc_to_apache": (eoc_a, apache),
        "apache_to_eoc": (apache, eoc_a),
    }[pair]
    sid = sign_in(realm, b, meant, user)["sid"]
    sign_in(realm, b, wrong, user)
    token = _provider_token_for(realm, meant, user, sid)
    refused = post_logout_token(wrong, token)
    assert refused.status_code >= 400, (refused.status_code, refused.text, wrong.log())
    assert still_signed_in(realm, b, wrong, user), wrong.log()
    taken = post_logout_token(meant, token)
    assert taken.status_code in (200, 204), (taken.status_code, taken.text, meant.log())
    assert not still_signed_in(realm, b, meant, user), meant.log()
    assert still_signed_in(realm, b, wrong, user), wrong.log()
