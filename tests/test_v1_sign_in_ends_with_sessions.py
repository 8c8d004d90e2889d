"""SPEC V1: any change that ends a user's sessions also ends the user's unfinished sign-ins,
and none of them can finish afterwards: a password change by the user, a password reset by an
admin, by the operator or through an emailed link, a 2FA reset by an admin or the operator,
the user's own 2FA disable, and disabling the account (even when it is enabled again).

The sign-in has passed its password step in another browser (someone who knows the password,
or the user on another device) and waits at the security-code page, or at the enrolment a
realm policy requires; after the change, continuing it shows the "no longer valid" page:
no code reaches the application and no authenticator is added to the account."""

from __future__ import annotations

import json
import re

import pyotp
import pytest

from tests.helpers import Browser, Page, totp_code, wait_for_step_room
from tests.oidc_rp import sign_in_password
from tests.support.dead_sign_ins import (
    CHANGES,
    account_sign_in,
    change_own_password,
    code_for,
    emailed_link_param,
    is_code_page,
    is_dead_sign_in,
    is_enrol_page,
    shown_key,
    signed_in,
    two_factor_enabled,
)
from tests.support.signin import make_rp

pytestmark = pytest.mark.slow

ESSENTIAL_2 = json.dumps({"id_token": {"acr": {"essential": True, "values": ["2"]}}})


def _params(names: list[str]) -> list:
    return [emailed_link_param(n) if n.startswith("emailed_link") else n for n in names]


@pytest.mark.parametrize("change", _params(list(CHANGES)))
def test_v1_sign_in_waiting_for_the_code_ends_with_the_sessions(realm, rp, request, change):
    user = realm.user(with_totp=True)
    client = make_rp(realm, rp)
    browser = realm.browser()
    page = sign_in_password(browser, client.start().url, user.email, user.password)
    assert is_code_page(page), page.text

    CHANGES[change](realm, user, request)

    # A good code (of the next step: the user's own sign-in used this one) finishes nothing.
    after = browser.submit(page, {"code": totp_code(user.totp_secret, 1)})
    assert browser.left_to is None, f"the ended sign-in reached the application: {browser.left_to}"
    assert is_dead_sign_in(after), after.text
    assert not signed_in(realm, browser)


@pytest.mark.parametrize(
    "change",
    _params(
        [
            "admin_resets_password",
            "operator_resets_password",
            "emailed_link_resets_password",
            "admin_disables_account_then_enables_it",
        ]
    ),
)
def test_v1_sign_in_at_required_enrolment_ends_with_the_sessions(realm, rp, request, change):
    """The case the review found: a sign-in stopped at the enrolment a realm policy requires
    went on after the reset and got a code with acr "2", with its own authenticator app."""
    realm.set_policy(require_2fa="all")
    user = realm.user()
    client = make_rp(realm, rp)
    browser = realm.browser()
    page = sign_in_password(browser, client.start().url, user.email, user.password)
    assert is_enrol_page(page), page.text
    key = shown_key(page)

    CHANGES[change](realm, user, request)

    wait_for_step_room(2.0)
    after = browser.submit(page, {"code": code_for(key)})
    assert is_dead_sign_in(after), after.text
    assert browser.left_to is None
    # The key the ended sign-in was shown is not on the account.
    assert not two_factor_enabled(realm, user)


def test_v1_own_password_change_keeps_the_session_but_ends_its_step_up(realm, rp):
    """The user changes their password on the account page: that browser's session stays,
    but a step-up started from it (here: an application's request for acr "2", waiting at
    enrolment) ends like every other unfinished sign-in; the application's next request
    starts a new one, which finishes."""
    user = realm.user()
    client = make_rp(realm, rp)
    browser = realm.browser()
    flow = client.start()
    sign_in_password(browser, flow.url, user.email, user.password)
    client.finish(flow, browser)
    page = browser.get(client.start(claims=ESSENTIAL_2).url)
    assert is_enrol_page(page), page.text
    key = shown_key(page)

    # The same browser (another tab) changes the password on the account page.
    change_own_password(realm, browser, user)

    wait_for_step_room(2.0)
    after = browser.submit(page, {"code": code_for(key)})
    assert is_dead_sign_in(after), after.text
    assert browser.left_to is None and not two_factor_enabled(realm, user)
    assert signed_in(realm, browser)

    # The application asks again: a new step-up from the same session finishes at acr "2".
    flow = client.start(claims=ESSENTIAL_2)
    page = browser.get(flow.url)
    assert is_enrol_page(page), page.text
    wait_for_step_room(2.0)
    shown = browser.submit(page, {"code": code_for(shown_key(page))})
    browser.submit(shown, action="/codes")
    token = client.finish(flow, browser)
    assert client.verify_id_token(token["id_token"], nonce=flow.nonce)["acr"] == "2"


# -- a factor changed on the account page (outside review of the V1 fix, finding F1) -------------
def _shown_codes(page: Page) -> list[str]:
    block = re.search(r'<ol class="codes" id="backup-codes"[^>]*>(.*?)</ol>', page.text, re.S)
    assert block, page.text
    return [c.replace("-", "") for c in re.findall(r"<code>([^<]*)</code>", block.group(1))]


def _to_backup_notice(realm, client, user, code: str, browser: Browser | None = None):
    """Password, then a backup code: the sign-in stops at "you used a backup code"."""
    browser = browser or realm.browser()
    flow = client.start()
    page = sign_in_password(browser, flow.url, user.email, user.password)
    assert is_code_page(page), page.text
    page = browser.get(page.link("Use a backup code instead"))
    notice = browser.submit(page, {"code": code})
    assert notice.status == 200 and "signed in with a backup code" in notice.text, notice.text
    return browser, flow, notice


def test_v1_replacing_the_app_ends_a_sign_in_that_used_an_old_backup_code(realm, rp):
    """An attacker's sign-in proved the password and one of the old backup codes and waits at
    the notice; the user then sets up a new authenticator app on the account page. Neither
    "Get new backup codes" (which would void the user's fresh set) nor "Continue" goes on,
    and the user's new codes still work."""
    user = realm.user(with_totp=True)
    client = make_rp(realm, rp)
    attacker, _, notice = _to_backup_notice(realm, client, user, user.backup_codes[0])

    owner = realm.browser()
    account_sign_in(realm, owner, user, code=totp_code(user.totp_secret, 0))
    status = owner.get(realm.url("account/two-factor"))
    page = owner.get(status.link("Set up a new authenticator app"))
    key = re.search(r'<dd id="key"><code>([^<]*)</code></dd>', page.text)
    assert key, page.text
    done = owner.submit(page, {"code": pyotp.TOTP(key.group(1).replace(" ", "")).now()})
    assert "Two-factor authentication is enabled." in done.text, done.text
    new_codes = _shown_codes(done)

    for action in ("new_codes", "continue"):
        after = attacker.submit(notice, {"action": action})
        assert attacker.left_to is None, f"the ended sign-in reached the app: {attacker.left_to}"
        assert is_dead_sign_in(after), after.text
    assert not signed_in(realm, attacker)

    # The user's new set is intact: its first code signs in.
    browser, flow, notice = _to_backup_notice(realm, client, user, new_codes[0])
    browser.submit(notice, {"action": "continue"})
    token = client.finish(flow, browser)
    assert client.verify_id_token(token["id_token"], nonce=flow.nonce)["acr"] == "2"


def _app_form(page: Page) -> Page:
    """The enrolment page with only its authenticator-app form (not the security key's)."""
    forms = [f for f in page.forms if f["action"].endswith("/enrol")]
    return Page(page.response, forms, page.links)


@pytest.mark.settings(localhost=True)
def test_v1_a_first_security_key_on_the_account_page_ends_other_sign_ins(realm, rp):
    """A user in a grace period has a sign-in (elsewhere) waiting at the enrolment page, and
    adds a first security key on the account page: the waiting sign-in is over, neither its
    "Later" nor an authenticator app of its own goes on."""
    from tests.support.soft_key import SoftKey, page_options

    realm.set_policy(require_2fa="all", grace_days=7)
    user = realm.user()
    client = make_rp(realm, rp)
    other = realm.browser()
    page = sign_in_password(other, client.start().url, user.email, user.password)
    assert is_enrol_page(page), page.text
    key = shown_key(page)

    owner = realm.browser()
    home = sign_in_password(owner, realm.url("account/"), user.email, user.password)
    assert is_enrol_page(home), home.text
    home = owner.submit(_app_form(home), {"action": "later"})
    assert "Account settings</h1>" in home.text, home.text
    add = owner.get(realm.url("account/two-factor/security-keys/add"))
    done = owner.submit(
        add, {"name": "YubiKey", "credential": SoftKey(realm.base).create(page_options(add.text))}
    )
    assert "Two-factor authentication is enabled" in done.text, done.text

    later = other.submit(_app_form(page), {"action": "later"})
    assert is_dead_sign_in(later), later.text
    wait_for_step_room(2.0)
    enrol = other.submit(_app_form(page), {"code": code_for(key)})
    assert is_dead_sign_in(enrol), enrol.text
    assert other.left_to is None and not signed_in(realm, other)
