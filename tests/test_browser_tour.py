"""Issue 7, "Look": every page, in English and in Japanese, at 1280 px and at 360 px.

One walk through the sign-in, the account pages and the console, in their normal and error
states. At each page, in each language:
- a screenshot at 1280 px and at 360 px under the test output folder
  (``test-output/screenshots/<lang>/<page>-<width>.png``; the README shows some of them);
- axe-core's WCAG 2.1 A/AA rules pass;
- nothing scrolls sideways at 360 px;
- in Japanese, ``<html lang="ja">`` and no English sentence is left on the page.
Controls are found by names and ids that don't depend on the language.
"""

from __future__ import annotations

import time

import pyotp
import pytest
from playwright.sync_api import Page, expect

from tests.browser_support import PHONE, SHOTS, axe_violations, english_left, fits_the_screen

pytestmark = pytest.mark.browser

DESKTOP = {"width": 1280, "height": 900}


class Tour:
    def __init__(self, lang: str, axe_source: str, allowed: list[str]) -> None:
        self.lang = lang
        self.axe_source = axe_source
        self.allowed = allowed
        self.found: list[str] = []
        self.seen: list[str] = []
        (SHOTS / lang).mkdir(parents=True, exist_ok=True)

    def visit(self, page: Page, name: str) -> None:
        """Check and photograph the page the browser is on."""
        page.wait_for_load_state("load")
        assert page.locator("html").get_attribute("lang") == self.lang, (name, page.url)
        self.seen.append(name)
        page.set_viewport_size(DESKTOP)
        page.screenshot(path=str(SHOTS / self.lang / f"{name}-1280.png"), full_page=True)
        self.found += [f"{name}: {v}" for v in axe_violations(page, self.axe_source)]
        if self.lang == "ja":
            self.found += [f"{name}: English left: {t}" for t in english_left(page, *self.allowed)]
        page.set_viewport_size(PHONE)
        fits_the_screen(page)
        page.screenshot(path=str(SHOTS / self.lang / f"{name}-360.png"), full_page=True)
        page.set_viewport_size(DESKTOP)


def _brand(realm, name: str) -> None:
    """The realm's display name as a company would set it (the README shows these pages)."""
    from idp.db import get_session
    from idp.models import Realm
    from idp.services.realms import set_realm_branding

    with realm.server.app.app_context():
        db = get_session()
        set_realm_branding(
            db, db.get(Realm, realm.id), display_name=name, actor="test", client_address=None
        )
        db.commit()


def _password(page: Page, email: str, password: str) -> None:
    page.locator("input[name=email]").fill(email)
    page.locator("input[name=password]").fill(password)
    page.locator("form#sign-in-form button[type=submit]").click()


def _submit(page: Page, form: str) -> None:
    page.locator(f"{form} button[type=submit]").first.click()


def _mailed_link(mailbox, address: str, path_part: str) -> str:
    """The link of the newest message to ``address`` (issue 9's mail, via aiosmtpd)."""
    return next(link for link in mailbox.to(address)[-1].links() if path_part in link)


@pytest.mark.parametrize("lang", ["en", "ja"])
def test_every_page_in_both_languages_at_both_widths(
    lang, realm, test_rp, new_context, axe_source, mailbox
) -> None:
    locale = {"en": "en-US", "ja": "ja-JP"}[lang]
    _brand(realm, "Example Corp")
    user = realm.user(with_totp=True)
    admin = realm.user(admin=True)
    newcomer = realm.user()
    invitee = f"invitee-{lang}@example.com"
    names = [user.email, admin.email, newcomer.email, invitee, "Test RP", "Example Corp"]
    tour = Tour(lang, axe_source, [*names, realm.name, "Google Authenticator", "Microsoft"])
    # The pages' CSP forbids injected scripts, which is the point; axe runs with it bypassed.
    page = new_context(locale=locale, bypass_csp=True, viewport=DESKTOP)

    # -- sign-in at the application --------------------------------------------------------
    page.goto(test_rp.login_url)
    tour.visit(page, "sign-in")
    _password(page, user.email, "not the password")
    expect(page.locator("#error")).to_be_visible()
    tour.visit(page, "sign-in-error")
    _password(page, user.email, user.password)
    code = page.locator("input[name=code]")
    expect(code).to_be_visible()
    tour.visit(page, "code")
    code.fill("12345")
    page.locator("input[name=code]").evaluate("e => e.removeAttribute('pattern')")
    page.locator("input[name=code]").fill("000000")
    _submit(page, "form[action$='/totp']")
    expect(page.locator("#error")).to_be_visible()
    tour.visit(page, "code-error")
    page.locator("a[href$='/backup-code']").click()
    expect(page.locator("input[name=code]")).to_be_visible()
    tour.visit(page, "backup-code")
    page.locator("input[name=code]").fill(user.backup_codes[0])
    _submit(page, "form[action$='/backup-code']")
    expect(page.locator("form[action$='/notice']")).to_be_visible()
    tour.visit(page, "backup-code-notice")
    _submit(page, "form[action$='/notice']")
    expect(page.locator("#who")).to_contain_text(user.email)

    # -- the account pages -----------------------------------------------------------------
    for path, name in (
        ("account/", "account"),
        ("account/two-factor", "two-factor"),
        ("account/password", "password"),
        ("account/two-factor/backup-codes", "new-codes-confirm"),
        ("account/two-factor/disable", "disable-confirm"),
        ("account/two-factor/enable", "enable-replace"),
    ):
        page.goto(realm.url(path))
        tour.visit(page, name)
    # Issue 9: the address verification link, from the mail to the confirmation.
    page.goto(realm.url("account/"))
    _submit(page, "form#verify-email-form")
    verify_link = _mailed_link(mailbox, user.email, "/email/verify/")
    page.goto(verify_link)
    tour.visit(page, "verify-email")
    _submit(page, "form#verify-form")
    expect(page.locator("#verified")).to_be_visible()
    tour.visit(page, "email-verified")
    page.goto(verify_link)
    tour.visit(page, "link-not-valid")
    page.goto(realm.url("account/two-factor/backup-codes"))
    _submit(page, "main form[action$='/backup-codes']")
    expect(page.locator("ol.codes li")).to_have_count(10)
    tour.visit(page, "new-codes")
    page.reload()
    expect(page.locator("ol.codes li")).to_have_count(0)
    tour.visit(page, "new-codes-reloaded")
    # A page the user may not open: the 403 page with the account menu.
    page.goto(realm.url("admin/users"))
    tour.visit(page, "forbidden")
    page.goto(realm.url("account/"))
    page.locator("nav.menu summary").click()
    _submit(page, "form[action$='/account/sign-out']")
    tour.visit(page, "signed-out")
    page.goto(realm.url("login/no-such-sign-in"))
    tour.visit(page, "sign-in-unknown")
    page.goto(realm.url("protocol/openid-connect/auth?client_id=unknown"))
    tour.visit(page, "request-refused")
    page.goto(realm.url("no/such/page"))
    tour.visit(page, "not-found")

    # -- enrolment inside the sign-in (the realm requires 2FA of everyone) -------------------
    realm.set_policy(require_2fa="all")
    page.goto(test_rp.login_url)
    _password(page, newcomer.email, newcomer.password)
    expect(page.locator("#key")).to_be_visible()
    tour.visit(page, "sign-in-enrol")
    secret = "".join(page.locator("#key").inner_text().split())
    page.locator("input[name=code]").fill(pyotp.TOTP(secret).at(time.time()))
    _submit(page, "main form:has(input[name=code])")
    expect(page.locator("ol.codes li")).to_have_count(10)
    tour.visit(page, "sign-in-enrol-codes")
    realm.set_policy(require_2fa="none")

    # -- the console -------------------------------------------------------------------------
    console = new_context(locale=locale, bypass_csp=True, viewport=DESKTOP)
    console.goto(realm.url("admin/"))
    _password(console, admin.email, admin.password)
    for path, name in (
        ("admin/users", "admin-users"),
        ("admin/users?q=nobody-matches", "admin-users-empty"),
        (f"admin/users/{user.id}", "admin-user"),
        (f"admin/users/{user.id}/reset-2fa", "admin-reset-confirm"),
        (f"admin/users/{user.id}/disable", "admin-disable-confirm"),
        ("admin/audit", "admin-audit"),
        ("admin/settings", "admin-settings"),
        ("admin/clients", "admin-clients"),
    ):
        console.goto(realm.url(path))
        tour.visit(console, name)
    # Issue 9: inviting a user, the invited user's page, the invitee's password page.
    console.goto(realm.url("admin/users/invite"))
    tour.visit(console, "admin-invite")
    console.locator("input[name=email]").fill(invitee)
    _submit(console, "form#invite-form")
    expect(console.locator("#invitation-state")).to_be_visible()
    tour.visit(console, "admin-user-invited")
    console.locator("#revoke-invitation").click()
    expect(console.locator("main form[action$='/invitation']")).to_be_visible()
    tour.visit(console, "admin-revoke-invitation")
    invited = new_context(locale=locale, bypass_csp=True, viewport=DESKTOP)
    invited.goto(_mailed_link(mailbox, invitee, "/email/invitation/"))
    tour.visit(invited, "invitation")

    assert len(tour.seen) >= 35, tour.seen
    assert tour.found == [], "\n".join(tour.found)
