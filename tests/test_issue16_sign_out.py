"""Issue 16: one sign-out service (``services.sessions.sign_out``) for every path that ends a
user's sessions: the account page's Sign out, one session's Sign out, Sign out everywhere,
RP-initiated logout, and the console's and the operator's account actions.

For each path, what the user and the relying party see (the session cookie no longer signs
in, the refresh token is refused at the token endpoint, the access token is inactive at
introspection) and the audit event that says so. On main before this issue the account
page's Sign out, RP-initiated logout and the account actions ended sessions unaudited."""

from __future__ import annotations

import re
from typing import Any
from urllib.parse import urlencode

from sqlalchemy import select

from idp.models import AuditEvent
from tests.helpers import Browser, run_idp
from tests.oidc_rp import RP, sign_in_password
from tests.support.app_db import in_app
from tests.support.dead_sign_ins import console
from tests.support.password_reset import (
    refresh_status,
    sign_in_for_tokens,
    signed_in,
)
from tests.support.signin import make_rp

NEW_PASSWORD = "a passphrase set for the user"


def _events(realm: Any, kind: str) -> list[AuditEvent]:
    def find(db: Any) -> list[AuditEvent]:
        rows = db.scalars(
            select(AuditEvent)
            .where(AuditEvent.realm_id == realm.id, AuditEvent.type == kind)
            .order_by(AuditEvent.id)
        ).all()
        db.expunge_all()
        return list(rows)

    return in_app(realm, find)


def _signed_in_with_tokens(realm: Any, rp: Any, user: Any) -> tuple[RP, Browser, dict[str, Any]]:
    client = make_rp(realm, rp)
    browser, token = sign_in_for_tokens(
        realm, client, user.email, user.password, secret=user.totp_secret
    )
    assert signed_in(realm, browser)
    assert client.introspect(token["access_token"])["active"] is True
    return client, browser, token


def _assert_signed_out(
    realm: Any, rp: Any, client: RP, browser: Browser, token: dict[str, Any]
) -> None:
    """What the user and the relying party see once the session has ended."""
    assert not signed_in(realm, browser)
    assert refresh_status(client, rp, token["refresh_token"]) == (400, "invalid_grant")
    assert client.introspect(token["access_token"]) == {"active": False}


# -- the user's own paths ----------------------------------------------------------------------
def test_account_page_sign_out_ends_this_session_audited(realm, rp):
    user = realm.user()
    client, browser, token = _signed_in_with_tokens(realm, rp, user)
    home = browser.get(realm.url("account/"))
    out = browser.submit(home, action="/account/sign-out")
    assert out.status == 200 and "You are signed out" in out.text, out.text
    _assert_signed_out(realm, rp, client, browser, token)
    (event,) = _events(realm, "session.signed_out")
    assert event.actor == f"user:{user.email}" and event.subject == user.email
    assert event.detail["this_browser"] is True


def _account_home(realm: Any, browser: Browser, user: Any) -> Any:
    home = sign_in_password(browser, realm.url("account/"), user.email, user.password)
    assert "Account settings</h1>" in home.text, home.text
    return home


def _other_session_action(home: Any) -> str:
    """The Sign out form's action of the one listed session that is not this browser's."""
    rows = re.findall(r"<tr(?: class=\"current\")?>.*?</tr>", home.text, re.S)
    others = [r for r in rows if "/sessions/" in r and 'class="current"' not in r]
    assert len(others) == 1, rows
    action = re.search(r'action="([^"]+/sign-out)"', others[0])
    assert action, others[0]
    return action.group(1)


def test_account_page_signs_out_another_session_audited(realm, rp):
    user = realm.user()
    client, elsewhere, token = _signed_in_with_tokens(realm, rp, user)
    browser = realm.browser()
    home = _account_home(realm, browser, user)
    done = browser.submit(home, action=_other_session_action(home))
    assert "That session is signed out." in done.text, done.text
    _assert_signed_out(realm, rp, client, elsewhere, token)
    assert signed_in(realm, browser)
    (event,) = _events(realm, "session.signed_out")
    assert event.actor == f"user:{user.email}" and event.detail["this_browser"] is False


def test_sign_out_everywhere_ends_every_session_audited(realm, rp):
    user = realm.user()
    client, elsewhere, token = _signed_in_with_tokens(realm, rp, user)
    browser = realm.browser()
    home = _account_home(realm, browser, user)
    out = browser.submit(home, action="/account/sessions/sign-out-all")
    assert "You are signed out" in out.text, out.text
    _assert_signed_out(realm, rp, client, elsewhere, token)
    assert not signed_in(realm, browser)
    (event,) = _events(realm, "session.signed_out_all")
    assert event.actor == f"user:{user.email}" and event.detail == {"sessions": 2}


def test_rp_initiated_logout_ends_the_session_audited(realm, rp):
    user = realm.user()
    client, browser, token = _signed_in_with_tokens(realm, rp, user)
    query = urlencode(
        {
            "id_token_hint": token["id_token"],
            "post_logout_redirect_uri": rp.post_logout,
            "state": "bye",
        }
    )
    browser.get(f"{realm.endpoints['logout']}?{query}")
    assert browser.left_to == f"{rp.post_logout}?state=bye", browser.left_to
    _assert_signed_out(realm, rp, client, browser, token)
    (event,) = _events(realm, "session.signed_out_by_client")
    assert event.actor == f"user:{user.email}" and event.subject == user.email
    assert event.detail["client_id"] == rp.client_id


def test_rp_initiated_logout_confirmed_by_the_user_is_audited(realm, rp):
    """Without a hint the user confirms (SPEC V3); the confirmed POST is the same sign-out."""
    user = realm.user()
    client, browser, token = _signed_in_with_tokens(realm, rp, user)
    query = urlencode({"client_id": rp.client_id, "post_logout_redirect_uri": rp.post_logout})
    confirm = browser.get(f"{realm.endpoints['logout']}?{query}")
    assert confirm.status == 200 and "Sign out?" in confirm.text, confirm.text
    browser.submit(confirm)
    assert browser.left_to == rp.post_logout, browser.left_to
    _assert_signed_out(realm, rp, client, browser, token)
    (event,) = _events(realm, "session.signed_out_by_client")
    assert event.detail["client_id"] == rp.client_id


def test_rp_logout_without_a_session_records_nothing(realm, rp):
    browser = realm.browser()
    query = urlencode({"client_id": rp.client_id, "post_logout_redirect_uri": rp.post_logout})
    browser.submit(browser.get(f"{realm.endpoints['logout']}?{query}"))
    assert browser.left_to == rp.post_logout
    assert _events(realm, "session.signed_out_by_client") == []


# -- the console's and the operator's account actions -------------------------------------------
def _admin_ended(realm: Any, user: Any, actor_prefix: str, reason: str) -> None:
    (event,) = _events(realm, "session.ended_by_admin")
    assert event.actor.startswith(actor_prefix), event.actor
    assert event.subject == user.email
    assert event.detail == {"reason": reason, "sessions": 1}


def test_console_disable_signs_the_user_out_audited(realm, rp):
    user = realm.user()
    client, browser, token = _signed_in_with_tokens(realm, rp, user)
    admin = console(realm)
    confirm = admin.get(realm.url(f"admin/users/{user.id}/disable"))
    done = admin.submit(confirm, action="/status")
    assert f"The account {user.email} is disabled." in done.text, done.text
    _assert_signed_out(realm, rp, client, browser, token)
    _admin_ended(realm, user, "admin:", "account_disabled")


def test_console_password_reset_signs_the_user_out_audited(realm, rp):
    user = realm.user()
    client, browser, token = _signed_in_with_tokens(realm, rp, user)
    admin = console(realm)
    detail = admin.get(realm.url(f"admin/users/{user.id}"))
    done = admin.submit(detail, {"password": NEW_PASSWORD}, action="/password")
    assert f"The password of {user.email} is reset." in done.text, done.text
    _assert_signed_out(realm, rp, client, browser, token)
    _admin_ended(realm, user, "admin:", "password_reset")


def test_console_two_factor_reset_signs_the_user_out_audited(realm, rp):
    user = realm.user(with_totp=True)
    client, browser, token = _signed_in_with_tokens(realm, rp, user)
    admin = console(realm)
    done = admin.submit(admin.get(realm.url(f"admin/users/{user.id}/reset-2fa")))
    assert f"Two-factor authentication is disabled for {user.email}." in done.text, done.text
    _assert_signed_out(realm, rp, client, browser, token)
    _admin_ended(realm, user, "admin:", "mfa_reset")


def test_cli_set_password_signs_the_user_out_audited(realm, rp):
    user = realm.user()
    client, browser, token = _signed_in_with_tokens(realm, rp, user)
    result = run_idp(
        realm.server,
        *("user", "set-password", user.email, "--password-stdin", "--realm", realm.name),
        stdin=NEW_PASSWORD + "\n",
    )
    assert result.returncode == 0, result.stderr
    _assert_signed_out(realm, rp, client, browser, token)
    _admin_ended(realm, user, "operator", "password_reset")


def test_cli_reset_two_factor_signs_the_user_out_audited(realm, rp):
    user = realm.user(with_totp=True)
    client, browser, token = _signed_in_with_tokens(realm, rp, user)
    result = run_idp(realm.server, "user", "reset-2fa", "--realm", realm.name, user.email)
    assert result.returncode == 0, result.stderr
    _assert_signed_out(realm, rp, client, browser, token)
    _admin_ended(realm, user, "operator", "mfa_reset")


def test_an_account_action_on_a_user_without_sessions_says_none_ended(realm):
    user = realm.user()
    admin = console(realm)
    confirm = admin.get(realm.url(f"admin/users/{user.id}/disable"))
    admin.submit(confirm, action="/status")
    (event,) = _events(realm, "session.ended_by_admin")
    assert event.detail == {"reason": "account_disabled", "sessions": 0}


# -- what the service returns (what back-channel logout will tell) -------------------------------
def test_sign_out_returns_the_sessions_and_the_clients_of_their_tokens(realm, rp):
    from idp.models import Client, SsoSession, User
    from idp.services import sessions

    user = realm.user()
    _client, _browser, _token = _signed_in_with_tokens(realm, rp, user)

    def sign_out(db: Any) -> tuple[Any, str, int]:
        sid = db.scalar(select(SsoSession.sid).where(SsoSession.user_id == user.id))
        client_row = db.scalar(select(Client.id).where(Client.client_id == rp.client_id))
        ended = sessions.sign_out_by_admin(
            db,
            db.get(User, user.id),
            reason=sessions.AdminReason.ACCOUNT_DISABLED,
            actor="operator",
            client_address=None,
        )
        again = sessions.sign_out_by_admin(
            db,
            db.get(User, user.id),
            reason=sessions.AdminReason.ACCOUNT_DISABLED,
            actor="operator",
            client_address=None,
        )
        assert again.sids == () and again.tokens_revoked == 0 and again.clients == {}
        return ended, sid, client_row

    ended, sid, client_row = in_app(realm, sign_out)
    assert ended.user_id == user.id and ended.sids == (sid,)
    assert ended.clients == {sid: frozenset({client_row})}
    assert ended.tokens_revoked == 1  # one row: the access token and its refresh token
