"""SPEC V2: every step-up, for the console as for an application, is bound to the SSO session
it started from and dies with it: when that session is signed out, expires, or ends because
the password was reset, the step-up cannot go on at any stage (enrolment stores a key before
the sign-in finishes, so it is refused there too).

The attack the review ran: a thief holds a copy of an admin's password-only session on a
realm that requires 2FA of admins. The console sends the thief to enrolment; the session then
ends. The thief must not finish enrolment with their own authenticator app, get an admin
session at acr "2", nor leave their key on the admin's account, not even as the pending key
the admin's own enrolment would show next."""

from __future__ import annotations

import json
from typing import Any

import pytest
from sqlalchemy import update

from idp.db import utcnow
from idp.models import SsoSession
from tests.helpers import Browser, wait_for_step_room
from tests.oidc_rp import sign_in_password
from tests.support.app_db import in_app
from tests.support.dead_sign_ins import (
    CHANGES,
    NEW_PASSWORD,
    SSO_COOKIE,
    account_sign_in,
    code_for,
    emailed_link_param,
    is_dead_sign_in,
    is_enrol_page,
    shown_key,
    signed_in,
    steal_session,
    two_factor_enabled,
)
from tests.support.signin import make_rp

pytestmark = pytest.mark.slow

ESSENTIAL_2 = json.dumps({"id_token": {"acr": {"essential": True, "values": ["2"]}}})


def _sign_out(realm: Any, user: Any, owner: Browser, request: Any) -> str | None:
    """The owner signs out of that one session (the account menu's "Sign out"). Each ending
    returns the password the account has afterwards when it changed."""
    home = owner.get(realm.url("account/"))
    owner.submit(home, action="/account/sign-out")
    assert not signed_in(realm, owner)
    return None


def _expire(realm: Any, user: Any, owner: Browser, request: Any) -> str | None:
    """The session runs out (its end moved to the past, as time passing would)."""
    cookie = next(c for c in owner.session.cookies if c.name == SSO_COOKIE)
    in_app(
        realm,
        lambda db: db.execute(
            update(SsoSession)
            .where(SsoSession.user_id == user.id, SsoSession.ended_at.is_(None))
            .values(expires_at=utcnow())
        ),
    )
    assert cookie.value and not signed_in(realm, owner)
    return None


def _reset_by_link(realm: Any, user: Any, owner: Browser, request: Any) -> str | None:
    """The owner resets the password through the emailed link: every session ends."""
    CHANGES["emailed_link_resets_password"](realm, user, request)
    assert not signed_in(realm, owner)
    return NEW_PASSWORD


ENDINGS = {"signed_out": _sign_out, "expired": _expire, "password_reset": _reset_by_link}
PARAMS = ["signed_out", "expired", emailed_link_param("password_reset")]


@pytest.mark.parametrize("ending", PARAMS)
def test_v2_console_step_up_dies_with_the_stolen_session(realm, request, ending):
    admin = realm.user(admin=True)
    owner = realm.browser()
    account_sign_in(realm, owner, admin)  # a password-only session, before the policy
    realm.set_policy(require_2fa="admins")
    thief = realm.browser()
    steal_session(owner, thief)
    page = thief.get(realm.url("admin/users"))
    assert is_enrol_page(page), page.text
    thief_key = shown_key(page)

    new_password = ENDINGS[ending](realm, admin, owner, request)

    wait_for_step_room(2.0)
    after = thief.submit(page, {"code": code_for(thief_key)})
    assert is_dead_sign_in(after), after.text
    assert not two_factor_enabled(realm, admin)
    # No admin session for the thief: the console asks for a sign-in.
    console = thief.get(realm.url("admin/users"))
    assert 'name="password"' in console.text and "/admin/users" not in console.url

    # The admin's own next sign-in enrols a key of its own, never the one the thief saw,
    # and reaches the console at acr "2".
    admin.password = new_password or admin.password
    mine = realm.browser()
    page = sign_in_password(mine, realm.url("admin/users"), admin.email, admin.password)
    assert is_enrol_page(page), page.text
    key = shown_key(page)
    assert key != thief_key
    shown = mine.submit(page, {"code": code_for(key)})
    users = mine.submit(shown, action="/codes")
    assert users.status == 200 and users.url.endswith("/admin/users"), users.text


@pytest.mark.parametrize("ending", ["signed_out", "expired"])
def test_v2_application_step_up_dies_with_its_session(realm, rp, request, ending):
    """An application asks for acr "2" of a password-only session held by a thief too; the
    owner's session ends while the thief is at enrolment."""
    user = realm.user()
    client = make_rp(realm, rp)
    owner = realm.browser()
    flow = client.start()
    sign_in_password(owner, flow.url, user.email, user.password)
    client.finish(flow, owner)
    thief = realm.browser()
    steal_session(owner, thief)
    page = thief.get(client.start(claims=ESSENTIAL_2).url)
    assert is_enrol_page(page), page.text

    ENDINGS[ending](realm, user, owner, request)

    wait_for_step_room(2.0)
    after = thief.submit(page, {"code": code_for(shown_key(page))})
    assert is_dead_sign_in(after), after.text
    assert thief.left_to is None
    assert not two_factor_enabled(realm, user)


def test_v2_console_step_up_of_a_live_session_still_finishes(realm):
    """The binding refuses nothing else: the admin's own session steps up and stays in the
    console, at acr "2" (the session now carries the second factor)."""
    admin = realm.user(admin=True)
    browser = realm.browser()
    account_sign_in(realm, browser, admin)
    realm.set_policy(require_2fa="admins")
    page = browser.get(realm.url("admin/users"))
    assert is_enrol_page(page), page.text
    wait_for_step_room(2.0)
    shown = browser.submit(page, {"code": code_for(shown_key(page))})
    users = browser.submit(shown, action="/codes")
    assert users.status == 200 and users.url.endswith("/admin/users"), users.text
    assert browser.get(realm.url("admin/users")).url.endswith("/admin/users")
