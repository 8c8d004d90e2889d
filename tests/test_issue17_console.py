"""Issue 17 (single sign-out), the console's part, through the live server over real HTTP:

- a client's page shows its URIs and edits its logout settings (OpenID Connect Back- and
  Front-Channel Logout 1.0 metadata); a bad URI is a form error that keeps what was typed
  and saves nothing;
- the user's page lists their sessions, each with the applications it signed in to; its
  Sign out ends that session only, at the provider (the refresh token is refused,
  introspection says ``active: false``) and at the applications that take back-channel
  logout (a logout token each, POSTed by the outbox to a receiver the test runs); a session
  is named by an opaque handle, looked up among this user's sessions of this realm only;
- the recent deliveries list failures first, with what the receiver answered.
"""

from __future__ import annotations

import html
import re
import secrets
import socket
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

import pytest
from joserfc import jwt
from sqlalchemy import select

from idp import clock
from idp.mail.sender import send_pending
from idp.models import Client, DeliveryAttempt, OutboxMessage, SsoSession
from idp.services import sessions
from idp.services.clients import create_client, find_client
from idp.services.logout import BACKCHANNEL, LOGOUT_EVENT
from idp.services.realms import create_realm
from idp.services.users import find_user_by_email
from tests.helpers import Browser, Page
from tests.oidc_rp import RP, sign_in_password
from tests.support.app_db import audit_events, in_app
from tests.support.console import admin_browser
from tests.support.logout_receiver import LogoutReceiver
from tests.support.pages import csrf_token, notices
from tests.support.password_reset import refresh_status, signed_in

REDIRECT_HOST = "http://127.0.0.1:9"


# -- a relying party's back-channel logout endpoint -------------------------------------------
@dataclass
class Receiver:
    """Two live back-channel logout endpoints (``tests.support.logout_receiver``): ``/ok``
    answers 204, ``/fail`` answers 500; each records the logout tokens POSTed to it."""

    endpoints: dict[str, LogoutReceiver]

    def url(self, path: str) -> str:
        return self.endpoints[path].uri

    def tokens(self, path: str) -> list[str]:
        return [r.token for r in self.endpoints[path].received]


@pytest.fixture
def receiver(realm: Any) -> Iterator[Receiver]:
    ok, fail = LogoutReceiver(realm.issuer), LogoutReceiver(realm.issuer)
    ok.status, fail.status = 204, 500
    yield Receiver({"/ok": ok, "/fail": fail})
    ok.stop()
    fail.stop()


def closed_port_url() -> str:
    """A loopback URL nobody listens on (the connection is refused)."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    return f"http://127.0.0.1:{port}/gone"


# -- applications and sign-ins --------------------------------------------------------------
def add_app(realm: Any, name: str, **logout: Any) -> RP:
    """A confidential client named ``name`` (with ``logout`` settings) and its relying party."""
    redirect_uri = f"{REDIRECT_HOST}/cb-{secrets.token_hex(3)}"

    def create(db: Any) -> tuple[str, str | None]:
        new = create_client(db, realm.row(db), name, [redirect_uri], **logout)
        return new.client.client_id, new.client_secret

    client_id, secret = in_app(realm, create)
    return RP(realm.issuer, client_id, secret, redirect_uri)


def sign_in_to(realm: Any, browser: Browser, app: RP, user: Any) -> dict[str, Any]:
    """Sign ``user`` in to ``app`` in ``browser`` (with the password the first time, by the
    browser's session after) and exchange the code: the tokens."""
    flow = app.start()
    page = browser.get(flow.url)
    if browser.left_to is None:
        assert page.status == 200 and 'name="password"' in page.text, page.text
        page = browser.submit(page, {"email": user.email, "password": user.password})
    assert browser.left_to and browser.left_to.startswith(app.redirect_uri), page.text
    return app.finish(flow, browser)


def active_sids(realm: Any, user: Any) -> list[str]:
    def read(db: Any) -> list[str]:
        row = find_user_by_email(db, realm.row(db), user.email)
        return [s.sid for s in sessions.list_active_sessions(db, row)]

    return in_app(realm, read)


def client_row(realm: Any, client_id: str) -> Client:
    def read(db: Any) -> Client:
        row = find_client(db, realm.row(db), client_id)
        assert row is not None
        db.expunge(row)
        return row

    return in_app(realm, read)


def logout_messages(realm: Any) -> list[OutboxMessage]:
    def read(db: Any) -> list[OutboxMessage]:
        rows = db.scalars(
            select(OutboxMessage)
            .where(OutboxMessage.realm_id == realm.id, OutboxMessage.kind == BACKCHANNEL)
            .order_by(OutboxMessage.id)
        ).all()
        db.expunge_all()
        return list(rows)

    return in_app(realm, read)


# -- reading the pages ----------------------------------------------------------------------
def cells(row: str) -> list[str]:
    return [
        " ".join(html.unescape(re.sub(r"<[^>]+>", " ", cell)).split())
        for cell in re.findall(r"<td[^>]*>(.*?)</td>", row, re.S)
    ]


def table_rows(page: Page, table_id: str) -> list[str]:
    body = re.search(rf'<table id="{table_id}"[^>]*>.*?<tbody>(.*?)</tbody>', page.text, re.S)
    assert body, page.text
    return re.findall(r"<tr[^>]*>.*?</tr>", body.group(1), re.S)


def session_rows(page: Page) -> list[dict[str, Any]]:
    """The user page's sessions: browser, applications (text) and the Sign out form's
    handle."""
    found = []
    for row in table_rows(page, "sessions"):
        browser, _address, _signed_in, applications, _action = cells(row)
        handle = re.search(r'name="session" value="([^"]+)"', row)
        assert handle, row
        found.append({"browser": browser, "applications": applications, "handle": handle[1]})
    return found


def sign_out_form(page: Page, handle: str) -> Page:
    """The page narrowed to the Sign out form of the session ``handle``."""
    forms = [f for f in page.forms if ("session", handle, "hidden") in f["fields"]]
    assert len(forms) == 1, page.text
    return Page(page.response, forms, page.links)


def field_value(page: Page, name: str) -> str:
    match = re.search(rf'<input[^>]*name="{name}"[^>]*>', page.text)
    assert match, page.text
    value = re.search(r'value="([^"]*)"', match[0])
    return html.unescape(value[1]) if value else ""


def checked(page: Page, name: str) -> bool:
    match = re.search(rf'<input[^>]*name="{name}"[^>]*>', page.text)
    assert match, page.text
    return " checked" in match[0]


def error_text(page: Page) -> str:
    match = re.search(r'<p class="error" role="alert" id="error">(.*?)</p>', page.text, re.S)
    assert match, page.text
    return html.unescape(match[1])


LOGOUT_FIELDS = {
    "backchannel_logout_uri": "",
    "backchannel_logout_session_required": "",
    "frontchannel_logout_uri": "",
    "frontchannel_logout_session_required": "",
}


def save_logout(browser: Browser, page: Page, **values: str) -> Page:
    """Submit the client page's logout form with exactly ``values`` (an unchecked box is
    not sent)."""
    raw = [(name, value) for name, value in {**LOGOUT_FIELDS, **values}.items() if value]
    return browser.submit(page, raw=raw, action="/admin/clients/")


# -- the client's page ----------------------------------------------------------------------
def test_client_page_shows_and_edits_the_logout_settings(realm):
    app = add_app(realm, "Payroll")
    admin, browser, _ = admin_browser(realm)
    listed = browser.get(realm.url("admin/clients"))
    (row,) = [r for r in table_rows(listed, "clients") if f"<code>{app.client_id}</code>" in r]
    assert cells(row)[3] == "None"
    page = browser.get(listed.link("Payroll"))
    assert page.status == 200 and page.url.endswith(f"/admin/clients/{app.client_id}")
    assert "<h1>Payroll</h1>" in page.text
    assert f'<code id="client-id">{app.client_id}</code>' in page.text
    assert f"<li><code>{app.redirect_uri}</code></li>" in page.text
    assert '<span id="post-logout-redirect-uris">—</span>' in page.text
    assert field_value(page, "backchannel_logout_uri") == ""

    backchannel = "https://payroll.example/backchannel-logout?x=1"
    frontchannel = f"{REDIRECT_HOST}/frontchannel-logout"
    saved = save_logout(
        browser,
        page,
        backchannel_logout_uri=f"  {backchannel} ",
        backchannel_logout_session_required="yes",
        frontchannel_logout_uri=frontchannel,
        frontchannel_logout_session_required="yes",
    )

    assert saved.status == 200 and saved.url.endswith(f"/admin/clients/{app.client_id}")
    assert notices(saved) == [f"The logout settings of Payroll ({app.client_id}) are saved."]
    assert field_value(saved, "backchannel_logout_uri") == backchannel
    assert field_value(saved, "frontchannel_logout_uri") == frontchannel
    assert checked(saved, "backchannel_logout_session_required")
    assert checked(saved, "frontchannel_logout_session_required")
    assert "sid required" in saved.text and "iss and sid required" in saved.text
    stored = client_row(realm, app.client_id)
    assert stored.backchannel_logout_uri == backchannel
    assert stored.backchannel_logout_session_required is True
    assert stored.frontchannel_logout_uri == frontchannel
    assert stored.frontchannel_logout_session_required is True
    (row,) = [
        r
        for r in table_rows(browser.get(realm.url("admin/clients")), "clients")
        if f"<code>{app.client_id}</code>" in r
    ]
    assert cells(row)[3] == "Back-channel Front-channel"
    (event,) = audit_events(realm, "admin.client.policy_changed")
    assert event.actor == f"admin:{admin.email}" and event.subject == f"client:{app.client_id}"
    assert event.detail["new"] == {
        "backchannel_logout_uri": backchannel,
        "backchannel_logout_session_required": True,
        "frontchannel_logout_uri": frontchannel,
        "frontchannel_logout_session_required": True,
    }

    # The same form again changes nothing; an empty URI (and an unchecked box) removes it.
    again = save_logout(
        browser,
        saved,
        backchannel_logout_uri=backchannel,
        backchannel_logout_session_required="yes",
        frontchannel_logout_uri=frontchannel,
        frontchannel_logout_session_required="yes",
    )
    assert notices(again) == ["Nothing changed."]
    removed = save_logout(browser, again, frontchannel_logout_uri=frontchannel)
    assert "are saved" in notices(removed)[0]
    stored = client_row(realm, app.client_id)
    assert stored.backchannel_logout_uri is None
    assert stored.backchannel_logout_session_required is False
    assert stored.frontchannel_logout_uri == frontchannel
    assert len(audit_events(realm, "admin.client.policy_changed")) == 2


@pytest.mark.parametrize(
    ("values", "field", "why"),
    [
        (
            {"backchannel_logout_uri": "ftp://payroll.example/logout"},
            "backchannel_logout_uri",
            "The back-channel logout URI must be an absolute http:// or https:// URI",
        ),
        (
            {"backchannel_logout_uri": "https://payroll.example/logout#part"},
            "backchannel_logout_uri",
            "without a fragment",
        ),
        (
            {
                "backchannel_logout_uri": "https://payroll.example/ok",
                "frontchannel_logout_uri": "https://elsewhere.example/logout",
            },
            "frontchannel_logout_uri",
            "with the scheme, host and port of one of the client's redirect URIs",
        ),
        (
            {"frontchannel_logout_uri": "/relative"},
            "frontchannel_logout_uri",
            "The front-channel logout URI must be an absolute http:// or https:// URI",
        ),
    ],
)
def test_client_page_refuses_a_bad_uri_and_saves_nothing(realm, values, field, why):
    app = add_app(realm, "Payroll")
    _, browser, _ = admin_browser(realm)
    page = browser.get(realm.url(f"admin/clients/{app.client_id}"))

    refused = save_logout(browser, page, backchannel_logout_session_required="yes", **values)

    assert refused.status == 400, refused.text
    assert error_text(refused).startswith("Nothing was saved. ") and why in error_text(refused)
    # What the admin typed stays in the form, and the refused field says it is the one.
    for name, value in values.items():
        assert field_value(refused, name) == value
    assert checked(refused, "backchannel_logout_session_required")
    assert re.search(rf'<input[^>]*name="{field}"[^>]*aria-invalid="true"', refused.text)
    stored = client_row(realm, app.client_id)
    assert stored.backchannel_logout_uri is None and stored.frontchannel_logout_uri is None
    assert stored.backchannel_logout_session_required is False
    assert audit_events(realm, "admin.client.policy_changed") == []


def test_client_page_of_an_unknown_or_another_realms_client_is_404(realm, server):
    other = in_app(realm, lambda db: create_realm(db, f"{realm.name}o", "Other").id)

    def other_client(db: Any) -> str:
        from idp.models import Realm

        row = db.get(Realm, other)
        return create_client(db, row, "Theirs", [f"{REDIRECT_HOST}/cb"]).client.client_id

    theirs = in_app(realm, other_client)
    _, browser, home = admin_browser(realm)
    for client_id in (theirs, "no-such-client"):
        assert browser.get(realm.url(f"admin/clients/{client_id}")).status == 404
        answer = browser.session.post(
            realm.url(f"admin/clients/{client_id}"),
            data={"csrf_token": csrf_token(home), "backchannel_logout_uri": "https://x.example/"},
            allow_redirects=False,
            timeout=10,
        )
        assert answer.status_code == 404


# -- the user's sessions ------------------------------------------------------------------------
def test_user_page_lists_sessions_with_the_applications_they_signed_in_to(realm):
    payroll, wiki = add_app(realm, "Payroll"), add_app(realm, "Wiki")
    user = realm.user()
    both = realm.browser()
    sign_in_to(realm, both, payroll, user)
    sign_in_to(realm, both, wiki, user)
    account_only = realm.browser()
    sign_in_password(account_only, realm.url("account/"), user.email, user.password)
    _, browser, _ = admin_browser(realm)

    page = browser.get(realm.url(f"admin/users/{user.id}"))

    rows = session_rows(page)
    # Newest first: the account page's session, then the one that signed in to both apps.
    assert [r["applications"] for r in rows] == ["—", "Payroll, Wiki"], rows
    assert all(r["browser"] == "python-requests" for r in rows)

    # The page names a session by an opaque handle only: neither its sid nor its row id.
    def rows_of(db: Any) -> list[tuple[str, int]]:
        found = db.execute(
            select(SsoSession.sid, SsoSession.id).where(SsoSession.user_id == user.id)
        ).all()
        return [(sid, row_id) for sid, row_id in found]

    for sid, row_id in in_app(realm, rows_of):
        assert sid not in page.text
        assert f'value="{row_id}"' not in page.text
    assert "Sign out of every session" in page.text


def test_sign_out_ends_that_session_only_and_tells_its_applications(realm, receiver):
    payroll = add_app(realm, "Payroll", backchannel_logout_uri=receiver.url("/ok"))
    wiki = add_app(
        realm,
        "Wiki",
        backchannel_logout_uri=receiver.url("/ok"),
        backchannel_logout_session_required=True,
    )
    notes = add_app(realm, "Notes")  # no back-channel URI: told nothing
    user = realm.user()
    ended = realm.browser()
    tokens = {app.client_id: sign_in_to(realm, ended, app, user) for app in (payroll, wiki, notes)}
    (ended_sid,) = active_sids(realm, user)
    kept = realm.browser()
    kept_token = sign_in_to(realm, kept, payroll, user)
    admin, browser, _ = admin_browser(realm)
    page = browser.get(realm.url(f"admin/users/{user.id}"))
    (target,) = [r for r in session_rows(page) if r["applications"] == "Payroll, Wiki, Notes"]

    done = browser.submit(sign_out_form(page, target["handle"]))

    assert done.status == 200 and done.url.endswith(f"/admin/users/{user.id}"), done.text
    assert notices(done) == [
        "The session on python-requests is signed out. 2 applications are told by "
        "back-channel logout: Payroll, Wiki."
    ]
    assert [r["applications"] for r in session_rows(done)] == ["Payroll"]
    # At the provider: that browser is signed out, its tokens are dead; the other lives on.
    assert not signed_in(realm, ended)
    for app in (payroll, wiki, notes):
        token = tokens[app.client_id]
        assert refresh_status(app, app, token["refresh_token"]) == (400, "invalid_grant")
        assert app.introspect(token["access_token"]) == {"active": False}
    assert signed_in(realm, kept)
    assert payroll.introspect(kept_token["access_token"])["active"] is True
    assert active_sids(realm, user) != [] and ended_sid not in active_sids(realm, user)
    # At the applications: one logout token each for the two with a back-channel URI.
    queued = logout_messages(realm)
    assert sorted(m.topic for m in queued) == sorted([payroll.client_id, wiki.client_id])
    send_pending(realm.server.app)
    received = receiver.tokens("/ok")
    assert len(received) == 2
    keys = payroll.jwks()
    audiences = set()
    for token in received:
        decoded = jwt.decode(token, keys)
        assert decoded.header["typ"] == "logout+jwt"
        claims = decoded.claims
        assert claims["iss"] == realm.issuer and claims["sub"] == user.sub
        assert claims["sid"] == ended_sid and LOGOUT_EVENT in claims["events"]
        assert "nonce" not in claims
        audiences.add(claims["aud"])
    assert audiences == {payroll.client_id, wiki.client_id}
    # Audited: the admin ended one session of the user.
    (event,) = audit_events(realm, "session.ended_by_admin")
    assert event.actor == f"admin:{admin.email}" and event.subject == user.email
    assert event.detail["reason"] == "session" and event.detail["sessions"] == 1


def test_sign_out_of_every_session(realm, receiver):
    payroll = add_app(realm, "Payroll", backchannel_logout_uri=receiver.url("/ok"))
    user = realm.user()
    first, second = realm.browser(), realm.browser()
    tokens = [sign_in_to(realm, b, payroll, user) for b in (first, second)]
    admin, browser, _ = admin_browser(realm)
    page = browser.get(realm.url(f"admin/users/{user.id}"))
    assert len(session_rows(page)) == 2

    done = browser.submit(page, action="/sessions/sign-out-all")

    assert notices(done) == [
        f"2 sessions of {user.email} are signed out. 1 application is told by back-channel "
        "logout: Payroll."
    ]
    assert '<p class="empty" id="no-sessions">' in done.text
    assert not signed_in(realm, first) and not signed_in(realm, second)
    for token in tokens:
        assert payroll.introspect(token["access_token"]) == {"active": False}
    assert len(logout_messages(realm)) == 2
    (event,) = audit_events(realm, "session.ended_by_admin")
    assert event.actor == f"admin:{admin.email}"
    assert event.detail == {"reason": "signed_out", "sessions": 2}


def test_sign_out_needs_a_recent_sign_in(realm):
    user = realm.user()
    session = realm.browser()
    sign_in_password(session, realm.url("account/"), user.email, user.password)
    admin, browser, _ = admin_browser(realm)
    page = browser.get(realm.url(f"admin/users/{user.id}"))
    (row,) = session_rows(page)
    clock.travel(seconds=400)  # past IDP_REAUTH_TTL; the admin's session itself lives on
    asked = browser.submit(sign_out_form(page, row["handle"]))
    assert 'name="password"' in asked.text, asked.text
    assert signed_in(realm, session)
    assert audit_events(realm, "session.ended_by_admin") == []


def test_a_forged_or_foreign_handle_signs_nothing_out(realm):
    user, other = realm.user(), realm.user()
    own, others = realm.browser(), realm.browser()
    sign_in_password(own, realm.url("account/"), user.email, user.password)
    sign_in_password(others, realm.url("account/"), other.email, other.password)
    (sid,) = active_sids(realm, user)
    _, browser, _ = admin_browser(realm)
    page = browser.get(realm.url(f"admin/users/{user.id}"))
    (row,) = session_rows(page)
    (other_row,) = session_rows(browser.get(realm.url(f"admin/users/{other.id}")))
    form = sign_out_form(page, row["handle"])
    row_id = in_app(realm, lambda db: db.scalar(select(SsoSession.id).where(SsoSession.sid == sid)))
    forged = [secrets.token_hex(16), sid, str(row_id), other_row["handle"], "", "x" * 5000]
    for handle in forged:
        answer = browser.submit(form, raw=[("session", handle)])
        assert answer.status == 200, answer.text
        assert notices(answer) == ["That session has ended already."]
    # A repeated field is refused outright.
    twice = browser.submit(form, raw=[("session", row["handle"]), ("session", row["handle"])])
    assert twice.status == 400
    assert signed_in(realm, own) and signed_in(realm, others)
    assert audit_events(realm, "session.ended_by_admin") == []


def test_another_realms_admin_cannot_sign_out_this_realms_sessions(realm, server):
    from tests.conftest import TestRealm

    user = realm.user()
    session = realm.browser()
    sign_in_password(session, realm.url("account/"), user.email, user.password)
    _, browser, _ = admin_browser(realm)
    (row,) = session_rows(browser.get(realm.url(f"admin/users/{user.id}")))
    other_id = in_app(realm, lambda db: create_realm(db, f"{realm.name}x", "Other").id)
    other = TestRealm(name=f"{realm.name}x", id=other_id, base=server.url, server=server)
    _, intruder, home = admin_browser(other)
    token = csrf_token(home)
    attempts = {
        # This realm's user through the other realm's console: no such user there.
        other.url(f"admin/users/{user.id}/sessions/sign-out"): 404,
        other.url(f"admin/users/{user.id}/sessions/sign-out-all"): 404,
        # This realm's console: the other realm's admin is not signed in here.
        realm.url(f"admin/users/{user.id}/sessions/sign-out"): 303,
        realm.url(f"admin/users/{user.id}/sessions/sign-out-all"): 303,
    }
    for url, status in attempts.items():
        answer = intruder.session.post(
            url,
            data={"csrf_token": token, "session": row["handle"]},
            allow_redirects=False,
            timeout=10,
        )
        assert answer.status_code == status, url
        if status == 303:
            assert "/login/" in answer.headers["Location"], answer.headers["Location"]
    assert signed_in(realm, session)
    assert audit_events(realm, "session.ended_by_admin") == []
    assert audit_events(other, "session.ended_by_admin") == []


# -- recent deliveries -----------------------------------------------------------------------
def test_deliveries_list_failures_first_with_what_the_receiver_answered(realm, receiver, server):
    good = add_app(realm, "Good", backchannel_logout_uri=receiver.url("/ok"))
    broken = add_app(realm, "Broken", backchannel_logout_uri=receiver.url("/fail"))
    gone = add_app(realm, "Gone", backchannel_logout_uri=closed_port_url())
    user = realm.user()
    earlier, later = realm.browser(), realm.browser()
    for app in (good, broken):
        sign_in_to(realm, earlier, app, user)
    (earlier_sid,) = active_sids(realm, user)
    for app in (gone, good):
        sign_in_to(realm, later, app, user)

    def end(sid: str) -> None:
        def run(db: Any) -> None:
            row = db.scalar(select(SsoSession).where(SsoSession.sid == sid))
            owner = find_user_by_email(db, realm.row(db), user.email)
            sessions.sign_out_session_by_admin(db, owner, row, actor="test", client_address=None)

        in_app(realm, run)

    # The earlier session's failing delivery gives up after its last retry (logout.RETRIES:
    # six attempts); the later one's fails once and is retrying.
    end(earlier_sid)
    send_pending(server.app)
    for _ in range(5):
        clock.travel(seconds=301)
        send_pending(server.app)
    (later_sid,) = active_sids(realm, user)
    end(later_sid)
    send_pending(server.app)
    # Another realm's delivery is never listed here.
    other_id = in_app(realm, lambda db: create_realm(db, f"{realm.name}d", "Other").id)

    def foreign(db: Any) -> None:
        db.add(
            OutboxMessage(
                kind=BACKCHANNEL,
                realm_id=other_id,
                recipient="https://foreign.example/logout",
                topic="foreign-client",
                status="failed",
            )
        )

    in_app(realm, foreign)
    _, browser, _ = admin_browser(realm)
    clients_page = browser.get(realm.url("admin/clients"))

    page = browser.get(clients_page.link("Recent back-channel logout deliveries"))

    assert page.status == 200 and page.url.endswith("/admin/deliveries"), page.text
    assert '<p class="hint" id="timezone">Times in UTC.</p>' in page.text
    assert "foreign" not in page.text
    rows = table_rows(page, "deliveries")
    listed = [
        (state, cells(r)[1], cells(r)[3], cells(r)[4])
        for r in rows
        for state in re.findall(r'<tr data-state="(\w+)">', r)
    ]
    states = [state for state, *_ in listed]
    assert states == ["failed", "retrying", "sent", "sent"], listed
    failed, retrying, newer_sent, older_sent = listed
    assert failed[1] == f"Broken {broken.client_id}"
    assert failed[2] == "Failed HTTP 500" and failed[3].startswith("6 (last ")
    assert retrying[1] == f"Gone {gone.client_id}"
    # What the receiver's absence was recorded as (a refused connection), shown as it is.
    recorded = in_app(
        realm,
        lambda db: db.scalar(
            select(DeliveryAttempt.result)
            .join(OutboxMessage, OutboxMessage.id == DeliveryAttempt.message_id)
            .where(OutboxMessage.realm_id == realm.id, OutboxMessage.topic == gone.client_id)
        ),
    )
    assert recorded and retrying[2].startswith("Retrying, next at ")
    assert retrying[2].endswith(f" {recorded}"), retrying
    assert retrying[3].startswith("1 (last ")
    for sent in (newer_sent, older_sent):
        assert sent[1] == f"Good {good.client_id}"
        assert sent[2] == "Delivered HTTP 204" and sent[3].startswith("1 (last ")
    assert receiver.url("/fail") in page.text
    assert len(receiver.tokens("/fail")) == 6 and len(receiver.tokens("/ok")) == 2


def test_deliveries_page_without_any(realm):
    _, browser, _ = admin_browser(realm)
    page = browser.get(realm.url("admin/deliveries"))
    assert page.status == 200
    assert '<p class="empty" id="no-deliveries">No logout token has been sent yet.</p>' in (
        page.text
    )


def test_console_pages_of_issue_17_are_admins_only(realm):
    app = add_app(realm, "Payroll")
    user = realm.user()
    browser = realm.browser()
    home = sign_in_password(browser, realm.url("account/"), user.email, user.password)
    for path in ("admin/deliveries", f"admin/clients/{app.client_id}"):
        assert browser.get(realm.url(path)).status == 403, path
    for path in (
        f"admin/clients/{app.client_id}",
        f"admin/users/{user.id}/sessions/sign-out",
        f"admin/users/{user.id}/sessions/sign-out-all",
    ):
        answer = browser.session.post(
            realm.url(path),
            data={"csrf_token": csrf_token(home), "backchannel_logout_uri": "https://x.example/"},
            allow_redirects=False,
            timeout=10,
        )
        assert answer.status_code == 403, path
    assert signed_in(realm, browser)
    assert client_row(realm, app.client_id).backchannel_logout_uri is None


def test_audit_event_of_a_session_sign_out_reads_in_words(realm):
    user = realm.user()
    session = realm.browser()
    sign_in_password(session, realm.url("account/"), user.email, user.password)
    _, browser, _ = admin_browser(realm)
    page = browser.get(realm.url(f"admin/users/{user.id}"))
    (row,) = session_rows(page)
    browser.submit(sign_out_form(page, row["handle"]))
    audit = browser.get(realm.url(f"admin/audit?user={user.email}&type=session.ended_by_admin"))
    assert "Sessions ended by an admin" in audit.text
    assert "one session signed out" in audit.text
