"""Security keys and the realm's sign-in policy (issue 10), over real HTTP with the software
authenticator (tests/support/soft_key.py):

- "Passkey-only sign-in (a realm setting, on by default)": the console's Realm settings and
  ``idp realm set --passkey-sign-in/--no-passkey-sign-in`` change it (audited); off, the
  sign-in page offers no "Sign in with a passkey" and a posted passkey assertion is refused,
  while keys still work after the password.
- Enrolment inside the sign-in where a policy requires 2FA (SPEC P1-P3): a security key is
  offered next to the authenticator app (where browsers allow WebAuthn), turns 2FA on, shows
  the backup codes and counts as the second factor (``amr`` with ``hwk``, ``acr "2"``).
- "Both kinds of sign-in are level 2 (acr "2", and the PAPE URI honoured)": a request for
  the PAPE multi-factor policy is satisfied by password + key and by a passkey alone.
"""

from __future__ import annotations

import json
import re
from typing import Any

import pytest

from idp.assurance import PAPE_MFA
from tests.helpers import Browser, Page, run_idp
from tests.oidc_rp import sign_in_password
from tests.support.app_db import audit_events as events
from tests.support.console import admin_on, audit_rows
from tests.support.pages import error_text, text_of
from tests.support.policy import realm_policy_of as policy
from tests.support.policy import set_client_flag, set_policy, two_factor_enabled
from tests.support.security_keys import keys_of, post_key, shown_codes, to_key_page, user_with_key
from tests.support.signin import finish_tokens, make_rp, to_code_page
from tests.support.soft_key import SoftKey, page_options

pytestmark = pytest.mark.slow

LOCALHOST = pytest.mark.settings(localhost=True)
ENROL_KEY = "/enrol/security-key"


def passkey_form(browser: Browser, flow: Any) -> Page:
    """The sign-in page's "Sign in with a passkey", followed."""
    start = browser.get(flow.url)
    assert start.status == 200 and 'id="passkey-link"' in start.text, start.text
    page = browser.get(start.link("Sign in with a passkey"))
    assert page.status == 200 and page.url.endswith("/passkey"), page.url
    return page


# -- the realm setting -----------------------------------------------------------------------
@LOCALHOST
def test_passkey_sign_in_is_on_by_default_and_the_console_turns_it_off_audited(realm):
    admin, browser, page = admin_on(realm)
    assert policy(realm)["passkey_sign_in"] is True
    assert "Sign in with a passkey" in page.text
    assert re.search(
        r'id="passkey-sign-in-yes" name="passkey_sign_in" value="yes" checked', page.text
    )

    page = browser.submit(page, {"passkey_sign_in": "no"})

    assert page.status == 200 and "The realm settings are saved." in page.text, page.text
    assert re.search(
        r'id="passkey-sign-in-no" name="passkey_sign_in" value="no" checked', page.text
    )
    stored = policy(realm)
    assert stored["passkey_sign_in"] is False and stored["require_2fa"] == "none"
    [event] = events(realm, "admin.realm.policy_changed")
    assert event.actor == f"admin:{admin.email}"
    assert event.detail == {"old": {"passkey_sign_in": True}, "new": {"passkey_sign_in": False}}
    rows = [r for r in audit_rows(browser.get(page.link("Audit log"))) if "realm" in r["type"]]
    assert [r["type"] for r in rows] == ["admin.realm.policy_changed"]
    assert "Sign in with a passkey" in rows[0]["detail"], rows[0]
    # A value other than yes/no changes nothing.
    refused = browser.submit(page, {"passkey_sign_in": "maybe"})
    assert refused.status == 400 and "Nothing was saved." in text_of(refused)
    assert policy(realm)["passkey_sign_in"] is False


@LOCALHOST
def test_passkey_sign_in_off_hides_the_link_and_refuses_a_posted_assertion(realm, rp):
    """The attack: a page fetched while passkeys were allowed (or a crafted post) submits a
    valid passkey assertion after the realm turned them off. It is refused unread: no
    sign-in, the key's counter untouched."""
    user, key, _ = user_with_key(realm)
    client = make_rp(realm, rp)
    browser = realm.browser()
    flow = client.start()
    page = passkey_form(browser, flow)
    response = key.get(page_options(page.text))
    set_policy(realm, passkey_sign_in=False)

    refused = browser.submit(page, {"credential": response}, action="/passkey")

    assert refused.status == 403, refused.text
    assert "Signing in with a passkey is turned off here" in error_text(refused)
    assert 'name="password"' in refused.text and 'id="passkey-link"' not in refused.text
    assert browser.left_to is None
    assert [k.sign_count for k in keys_of(realm, user)] == [0]
    # The sign-in page no longer offers it, and its address leads to the password.
    again = realm.browser()
    start = again.get(client.start().url)
    assert start.status == 200 and 'name="password"' in start.text
    assert 'id="passkey-link"' not in start.text and "Sign in with a passkey" not in start.text
    stale = again.get(start.url.rsplit("/", 1)[0] + "/passkey")
    assert stale.url.endswith("/password") and 'data-webauthn="get"' not in stale.text
    # The key still serves as the second factor after the password.
    b2, flow2, key_page = to_key_page(realm, client, user)
    post_key(b2, key_page, key.get(page_options(key_page.text)))
    _token, claims, _at = finish_tokens(client, flow2, b2)
    assert claims["amr"] == ["pwd", "hwk", "user", "mfa"] and claims["acr"] == "2"


@LOCALHOST
def test_cli_realm_set_passkey_sign_in_off_and_on(realm, server):
    off = run_idp(server, "realm", "set", realm.name, "--no-passkey-sign-in", "--json")
    assert off.returncode == 0, off.stderr
    assert json.loads(off.stdout)["passkey_sign_in"] is False
    assert policy(realm)["passkey_sign_in"] is False
    shown = run_idp(server, "realm", "show", realm.name)
    assert "passkey sign-in: off" in shown.stdout
    on = run_idp(server, "realm", "set", realm.name, "--passkey-sign-in")
    assert on.returncode == 0 and "passkey sign-in: on" in on.stdout, on.stderr
    # Leaving the option out keeps the value.
    other = run_idp(server, "realm", "set", realm.name, "--grace-days", "3")
    assert "passkey sign-in: on" in other.stdout
    changes = [e.detail for e in events(realm, "admin.realm.policy_changed")]
    assert changes[:2] == [
        {"old": {"passkey_sign_in": True}, "new": {"passkey_sign_in": False}},
        {"old": {"passkey_sign_in": False}, "new": {"passkey_sign_in": True}},
    ]
    assert {e.actor for e in events(realm, "admin.realm.policy_changed")} == {"operator"}


# -- enrolment inside the sign-in (SPEC P1-P3) ------------------------------------------------
def enrol_page(realm: Any, rp: Any, user: Any) -> tuple[Browser, Any, Any, Page]:
    client = make_rp(realm, rp)
    browser = realm.browser()
    flow = client.start()
    page = sign_in_password(browser, flow.url, user.email, user.password)
    assert page.status == 200 and page.url.endswith("/enrol"), page.text
    return client, browser, flow, page


@LOCALHOST
def test_p1_policy_user_enrols_a_security_key_inside_the_sign_in(realm, rp):
    set_policy(realm, require_2fa="all")
    user = realm.user()
    client, browser, flow, page = enrol_page(realm, rp, user)
    assert "Use a security key or passkey" in page.text and 'id="key"' in page.text  # and the app
    options = page_options(page.text)
    assert options["rp"]["id"] == "localhost" and options["attestation"] == "none"
    assert browser.left_to is None and not two_factor_enabled(realm, user)

    key = SoftKey(realm.base)
    done = browser.submit(
        page, {"name": "YubiKey", "credential": key.create(options)}, action=ENROL_KEY
    )

    assert done.status == 200 and "Two-factor authentication is enabled." in done.text, done.text
    assert len(shown_codes(done)) == 10
    browser.submit(done)  # Continue
    _token, claims, access = finish_tokens(client, flow, browser)
    assert claims["amr"] == ["pwd", "hwk", "user", "mfa"] and claims["acr"] == "2"
    assert access["acr"] == "2"
    assert [k.name for k in keys_of(realm, user)] == ["YubiKey"]
    assert [e.detail for e in events(realm, "mfa.webauthn.added")] == [
        {"key_name": "YubiKey", "first_factor": True}
    ]
    # The next sign-in asks for the key.
    _b, _flow, next_page = to_key_page(realm, client, user)
    assert "Use your security key" in next_page.text


@LOCALHOST
def test_p3_client_requiring_2fa_offers_a_key_at_enrolment_without_user_verification(realm, rp):
    """A touch-only key enrolled inside the sign-in does not claim user verification."""
    set_client_flag(realm, rp.client_id, True)
    user = realm.user()
    client, browser, flow, page = enrol_page(realm, rp, user)
    key = SoftKey(realm.base, user_verified=False)
    done = browser.submit(
        page, {"name": "Key", "credential": key.create(page_options(page.text))}, action=ENROL_KEY
    )
    assert "Two-factor authentication is enabled." in done.text, done.text
    browser.submit(done)
    _token, claims, _at = finish_tokens(client, flow, browser)
    assert claims["amr"] == ["pwd", "hwk", "mfa"] and claims["acr"] == "2"


@LOCALHOST
def test_p1_enrolment_refuses_a_key_response_for_another_origin_and_enables_nothing(realm, rp):
    set_policy(realm, require_2fa="all")
    user = realm.user()
    _client, browser, _flow, page = enrol_page(realm, rp, user)
    options = page_options(page.text)
    key = SoftKey(realm.base)
    evil = browser.submit(
        page,
        {"name": "K", "credential": key.create(options, origin="http://evil.localhost")},
        action=ENROL_KEY,
    )
    assert evil.status == 400 and "was not added" in error_text(evil)
    assert evil.url.endswith(ENROL_KEY) and 'id="key"' in evil.text  # the enrolment page again
    # Its challenge was spent: the same options with the right origin are refused too.
    again = browser.submit(page, {"name": "K", "credential": key.create(options)}, action=ENROL_KEY)
    assert again.status == 400
    assert browser.left_to is None and not two_factor_enabled(realm, user)
    assert keys_of(realm, user) == []


def test_p1_enrolment_offers_no_key_where_browsers_refuse_webauthn(realm, rp):
    """On an IP-address base URL (the server of the default tests) the page offers only the
    authenticator app, and a posted registration is not taken."""
    set_policy(realm, require_2fa="all")
    user = realm.user()
    _client, browser, _flow, page = enrol_page(realm, rp, user)
    assert 'data-webauthn="create"' not in page.text and 'id="key"' in page.text
    ignored = browser.submit(page, {"name": "K", "credential": "{}"}, action="/enrol")
    assert ignored.status == 400  # the code form's handler: no code, nothing enabled
    assert not two_factor_enabled(realm, user)


# -- PAPE multi-factor -----------------------------------------------------------------------
@LOCALHOST
def test_pape_multi_factor_is_satisfied_by_password_and_key(realm, rp):
    user, key, _ = user_with_key(realm)
    client = make_rp(realm, rp)
    browser, flow, page = to_code_page(realm, client, user, acr_values=PAPE_MFA)
    assert page.url.endswith("/security-key"), page.url
    post_key(browser, page, key.get(page_options(page.text)))
    _token, claims, access = finish_tokens(client, flow, browser)
    assert claims["acr"] == PAPE_MFA and access["acr"] == PAPE_MFA
    assert claims["amr"] == ["pwd", "hwk", "user", "mfa"]


@LOCALHOST
@pytest.mark.parametrize("how", ["acr_values", "essential"])
def test_pape_multi_factor_is_satisfied_by_a_passkey_alone(realm, rp, how):
    """A passkey alone is two factors: a PAPE request, voluntary or essential, is met
    without the password and without any further step."""
    user, key, _ = user_with_key(realm)
    client = make_rp(realm, rp)
    browser = realm.browser()
    if how == "acr_values":
        flow = client.start(acr_values=PAPE_MFA)
    else:
        wanted = {"id_token": {"acr": {"essential": True, "values": [PAPE_MFA]}}}
        flow = client.start(claims=json.dumps(wanted))
    page = passkey_form(browser, flow)
    browser.submit(page, {"credential": key.get(page_options(page.text))}, action="/passkey")
    _token, claims, _at = finish_tokens(client, flow, browser)
    assert claims["sub"] == user.sub
    assert claims["acr"] == PAPE_MFA and claims["amr"] == ["hwk", "user", "mfa"]
