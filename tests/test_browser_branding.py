"""The realm's brand in a real browser (Debian's chromium through Playwright): the branded
pages and the console's Branding form pass axe-core (WCAG 2.1 A/AA) in both languages, fit a
360 px screen, load the logo and theme.css under the CSP, and the accent reaches links and
buttons."""

from __future__ import annotations

import pytest
from playwright.sync_api import expect

from idp.db import get_session
from idp.models import Realm
from idp.services.realms import set_realm_branding
from tests.browser_support import (
    PHONE,
    SHOTS,
    axe_violations,
    fits_the_screen,
    sign_in_with_password,
)
from tests.support.images import png

pytestmark = pytest.mark.browser

ACCENT = "#7a1fa2"


def _brand(realm, **kw) -> None:
    with realm.server.app.app_context():
        db = get_session()
        set_realm_branding(db, db.get(Realm, realm.id), actor="test", client_address=None, **kw)
        db.commit()


def test_s8_branded_pages_pass_axe_and_fit_a_phone(realm, new_context, axe_source):
    _brand(realm, display_name="Acme Corp", accent_color=ACCENT, logo=png(40, 16))
    admin = realm.user(admin=True)
    user = realm.user()
    found: list[str] = []
    SHOTS.mkdir(parents=True, exist_ok=True)
    for lang in ("en", "ja"):
        for viewport in ({"width": 1280, "height": 900}, PHONE):
            wide = viewport["width"] == 1280
            page = new_context(bypass_csp=True, viewport=viewport, locale=lang)
            page.goto(realm.url(f"admin/settings?lang={lang}"))
            # The sign-in page carries the brand: the logo loads (naturalWidth > 0).
            logo = page.locator("header img.logo")
            expect(logo).to_have_attribute("alt", "Acme Corp")
            assert page.evaluate("document.querySelector('header img.logo').naturalWidth") == 40
            # The accent colour reaches the buttons (theme.css applied).
            bg = page.evaluate(
                "getComputedStyle(document.querySelector('main button')).backgroundColor"
            )
            assert bg == "rgb(122, 31, 162)", bg
            found += axe_violations(page, axe_source)
            if not wide:
                fits_the_screen(page)
            size = "1280" if wide else "360"
            page.screenshot(path=str(SHOTS / f"sign-in-branded-{lang}-{size}.png"), full_page=True)
            if lang == "en":
                sign_in_with_password(page, admin.email, admin.password)
            else:
                page.locator("#email").fill(admin.email)
                page.locator("#password").fill(admin.password)
                page.locator("main button[type=submit]").click()
            expect(page.locator("#branding")).to_be_visible()
            # The picker is shown (the script runs) and mirrors the hex field.
            expect(page.locator("#accent-picker")).to_be_visible()
            found += axe_violations(page, axe_source)
            if not wide:
                fits_the_screen(page)
            page.screenshot(path=str(SHOTS / f"realm-settings-{lang}-{size}.png"), full_page=True)
            # The error state: a low-contrast colour, the error under the heading.
            page.locator("#accent-color").fill("#ffcc00")
            page.locator("#branding button[type=submit]:not([form])").click()
            expect(page.locator("#error")).to_be_visible()
            found += axe_violations(page, axe_source)
            if not wide:
                fits_the_screen(page)
            page.screenshot(
                path=str(SHOTS / f"realm-settings-error-{lang}-{size}.png"), full_page=True
            )
            for path in ("admin/clients", "no/such/page"):
                page.goto(realm.url(path))
                found += axe_violations(page, axe_source)
                if not wide:
                    fits_the_screen(page)
            page.screenshot(path=str(SHOTS / f"not-found-{lang}-{size}.png"), full_page=True)
        # The 403 page of a signed-in user, with the account menu.
        page = new_context(bypass_csp=True, viewport=PHONE, locale=lang)
        page.goto(realm.url(f"account/?lang={lang}"))
        page.locator("#email").fill(user.email)
        page.locator("#password").fill(user.password)
        page.locator("main button[type=submit]").click()
        page.goto(realm.url("admin/settings"))
        expect(page.locator("#account-link")).to_be_visible()
        expect(page.locator("nav.menu summary")).to_have_text(user.email)
        found += axe_violations(page, axe_source)
        fits_the_screen(page)
        page.screenshot(path=str(SHOTS / f"forbidden-{lang}-360.png"), full_page=True)
    assert found == [], "\n".join(found)


def test_s8_logo_and_theme_load_under_the_csp(realm, new_context):
    """Without bypassing the CSP: the logo and theme.css are same-origin, so they load."""
    _brand(realm, accent_color=ACCENT, logo=png(8, 8))
    page = new_context()
    errors: list[str] = []
    page.on("console", lambda m: errors.append(m.text) if m.type == "error" else None)
    page.goto(realm.url("account/"))
    assert page.evaluate("document.querySelector('header img.logo').naturalWidth") == 8
    color = page.evaluate("getComputedStyle(document.querySelector('main button')).backgroundColor")
    assert color == "rgb(122, 31, 162)"
    assert not [e for e in errors if "Content Security Policy" in e], errors
