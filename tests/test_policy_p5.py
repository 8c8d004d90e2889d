"""Where a policy requires 2FA of the user, they cannot disable it (SPEC P5): the 2FA page
offers a new authenticator app but no Disable, and says why; the disable page and action
refuse. An admin reset leads to enrolment at the next sign-in."""

from __future__ import annotations

import html
import re
from typing import Any

import pyotp
import pytest
from sqlalchemy import func, select

from idp.models import Authenticator, Realm, User
from idp.services import factors
from idp.services.realms import set_realm_policy
from tests.helpers import Browser, Page, totp_code
from tests.support.app_db import in_app
from tests.support.policy import set_client_flag
from tests.support.signin import account_sign_in, finish_tokens, is_code_page, make_rp, to_code_page

pytestmark = pytest.mark.slow

ENABLED = "Two-factor authentication is enabled."
REALM_WHY = (
    "Your organization requires two-factor authentication for your account, so you can set "
    "up a new authenticator app but not disable it."
)
CLIENT_WHY = (
    "An app you sign in to here requires two-factor authentication, so you can set up a new "
    "authenticator app but not disable it."
)


def set_policy(realm: Any, **kw: Any) -> None:
    in_app(
        realm,
        lambda db: set_realm_policy(
            db, db.get(Realm, realm.id), actor="test", client_address=None, **kw
        ),
    )


def factor_rows(realm: Any, user: Any) -> int:
    """The user's active authenticator apps."""
    return in_app(
        realm,
        lambda db: db.scalar(
            select(func.count(Authenticator.id)).where(
                Authenticator.user_id == user.id,
                Authenticator.type == "totp",
                Authenticator.status == "active",
            )
        ),
    )


def text(page: Page) -> str:
    return html.unescape(page.text)


def labels(page: Page) -> list[str]:
    return [label for label, _ in page.links]


def csrf(page: Page) -> str:
    for form in page.forms:
        for name, value, _ in form["fields"]:
            if name == "csrf_token" and value:
                return value
    raise AssertionError(f"no CSRF token on {page.url}")


def signed_in_with_code(realm: Any, user: Any) -> tuple[Browser, Page]:
    """A fresh sign-in with both factors (the disable page would open for it)."""
    browser = realm.browser()
    account_sign_in(realm, browser, user, code=totp_code(user.totp_secret, 0))
    return browser, browser.get(realm.url("account/two-factor"))


def assert_disable_refused(realm: Any, browser: Browser, user: Any, why: str) -> None:
    page = browser.get(realm.url("account/two-factor"))
    assert ENABLED in page.text
    assert "Set up a new authenticator app" in labels(page)
    assert "Disable" not in labels(page)
    assert why in text(page)
    # The confirmation page and the action itself refuse, saying why; nothing changes.
    page = browser.get(realm.url("account/two-factor/disable"))
    assert page.url.endswith("/account/two-factor"), page.url
    assert "Disable two-factor authentication?" not in text(page)
    assert why in text(page)
    resp = browser.session.post(
        realm.url("account/two-factor/disable"),
        data={"csrf_token": csrf(page)},
        allow_redirects=False,
        timeout=10,
    )
    assert resp.status_code in (302, 303)
    assert resp.headers["Location"].endswith("/account/two-factor")
    page = browser.get(realm.url("account/two-factor"))
    assert ENABLED in page.text and why in text(page)
    assert factor_rows(realm, user) == 1


def test_p5_required_policy_hides_disable_and_refuses_it(realm, rp):
    user = realm.user(with_totp=True)
    browser, page = signed_in_with_code(realm, user)
    assert "Disable" in labels(page)  # no policy yet
    # The realm requires 2FA of everyone.
    set_policy(realm, require_2fa="all")
    assert_disable_refused(realm, browser, user, REALM_WHY)
    # A new key is still allowed.
    page = browser.get(
        browser.get(realm.url("account/two-factor")).link("Set up a new authenticator app")
    )
    assert page.status == 200 and "<svg" in page.text, page.text
    # Of admins only: this user is not covered, Disable is back.
    set_policy(realm, require_2fa="admins")
    page = browser.get(realm.url("account/two-factor"))
    assert "Disable" in labels(page) and REALM_WHY not in text(page)
    # An app of the realm requires 2FA of its users.
    set_client_flag(realm, rp.client_id, True)
    assert_disable_refused(realm, browser, user, CLIENT_WHY)
    set_client_flag(realm, rp.client_id, False)
    page = browser.get(realm.url("account/two-factor"))
    assert "Disable" in labels(page) and CLIENT_WHY not in text(page)


def test_p5_admins_policy_covers_an_admin(realm):
    admin = realm.user(admin=True, with_totp=True)
    browser, _ = signed_in_with_code(realm, admin)
    set_policy(realm, require_2fa="admins")
    assert_disable_refused(realm, browser, admin, REALM_WHY)


def test_p5_without_policy_disable_still_works(realm, rp):
    user = realm.user(with_totp=True)
    realm.client(require_2fa=False)
    browser, page = signed_in_with_code(realm, user)
    assert REALM_WHY not in text(page) and CLIENT_WHY not in text(page)
    confirm = browser.get(page.link("Disable"))
    assert "Disable two-factor authentication?" in text(confirm)
    done = browser.submit(confirm)
    assert "Two-factor authentication is disabled." in done.text
    assert factor_rows(realm, user) == 0
    client = make_rp(realm, rp)
    b, flow, _ = to_code_page(realm, client, user)
    _, claims, _ = finish_tokens(client, flow, b)
    assert claims["amr"] == ["pwd"]


def test_p5_after_admin_reset_user_enrols_at_next_sign_in(realm, rp):
    set_policy(realm, require_2fa="all", grace_days=0)
    user = realm.user(with_totp=True)
    old_secret = user.totp_secret
    in_app(
        realm,
        lambda db: factors.reset_second_factors(
            db, db.get(User, user.id), actor="test", client_address=None
        ),
    )
    assert factor_rows(realm, user) == 0
    client = make_rp(realm, rp)
    browser, flow, page = to_code_page(realm, client, user)
    assert browser.left_to is None
    assert re.search(r"/login/[^/]+/enrol$", page.url), page.url
    assert "Later" not in page.text  # no grace period
    assert not is_code_page(page)
    match = re.search(r'id="key"><code>([^<]+)</code>', page.text)
    assert match, page.text
    key = match.group(1).replace(" ", "")
    assert key != old_secret
    page = browser.submit(page, {"code": pyotp.TOTP(key).now()})
    assert page.status == 200 and "backup" in page.text.lower(), page.text
    browser.submit(page)  # Continue, after the backup codes
    _, claims, _ = finish_tokens(client, flow, browser)
    assert claims["amr"] == ["pwd", "otp", "mfa"] and claims["acr"] == "2"
    # 2FA is enabled again, with the new key.
    user.totp_secret = key
    assert factor_rows(realm, user) == 1
    page = browser.get(realm.url("account/two-factor"))
    assert ENABLED in page.text and "Disable" not in labels(page)
