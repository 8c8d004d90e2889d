"""Realm branding (issue 7): display name, default language, accent colour and logo, set in
the console and by ``idp realm set``; the brand on the sign-in, account and error pages; the
public logo and theme.css; the refusals (low contrast, SVG, mismatched bytes, too large).

Over real HTTP against the live server, and the ``idp`` command as an operator runs it."""

from __future__ import annotations

import html
import os
import re
import secrets
import subprocess
import sys
from pathlib import Path
from typing import Any
from urllib.parse import urlencode, urljoin

import pytest
import requests
from sqlalchemy import select

from idp.db import get_session
from idp.models import AuditEvent, Realm
from idp.services import brand_checks as checks
from idp.services import realms as realm_service
from tests.helpers import Browser, Page, run_idp
from tests.support.images import png

pytestmark = pytest.mark.slow

ACCENT = "#0b5cad"
LOW_CONTRAST = "#ffcc00"


# -- images ----------------------------------------------------------------------------------
SVG = b'<?xml version="1.0"?>\n<svg xmlns="http://www.w3.org/2000/svg"><script>alert(1)</script></svg>'
JPEG = b"\xff\xd8\xff\xe0\x00\x10JFIF\x00\x01\x01\x00\x00\x01\x00\x01\x00\x00\xff\xd9"
WEBP = (
    b"RIFF\x1a\x00\x00\x00WEBPVP8L\x0d\x00\x00\x00"
    b"/\x00\x00\x00\x10\x07\x10\x11\x11\x88\x88\xfe\x07\x00"
)


# -- helpers ---------------------------------------------------------------------------------
def fetch(url: str, **kw: Any) -> requests.Response:
    return requests.get(url, timeout=10, **kw)


def stored(realm: Any) -> dict[str, Any]:
    with realm.server.app.app_context():
        row = get_session().get(Realm, realm.id)
        return {**realm_service.realm_branding(row), "logo": row.logo}


def events(realm: Any, kind: str = "admin.realm.branding_changed") -> list[AuditEvent]:
    with realm.server.app.app_context():
        db = get_session()
        rows = list(
            db.scalars(
                select(AuditEvent)
                .where(AuditEvent.realm_id == realm.id, AuditEvent.type == kind)
                .order_by(AuditEvent.id)
            )
        )
        db.expunge_all()
        return rows


def text_of(page: Page) -> str:
    return html.unescape(re.sub(r"\s+", " ", page.text))


def sign_in(realm: Any, browser: Browser, path: str, user: Any) -> Page:
    page = browser.get(realm.url(path))
    assert 'name="password"' in page.text, page.text
    return browser.submit(page, {"email": user.email, "password": user.password})


def admin_console(realm: Any, lang: str | None = None) -> tuple[Browser, Page]:
    admin = realm.user(admin=True)
    browser = realm.browser()
    if lang:
        browser.get(realm.url(f"account/?lang={lang}"))
    page = sign_in(realm, browser, "admin/settings", admin)
    assert page.status == 200 and page.url.endswith("admin/settings"), page.text
    return browser, page


def branding_form(page: Page) -> dict:
    [form] = [f for f in page.forms if any(n == "display_name" for n, _, _ in f["fields"])]
    return form


def post_branding(
    browser: Browser,
    page: Page,
    fields: dict[str, str] | None = None,
    logo: tuple[str, bytes, str] | None = None,
) -> Page:
    """Send the Branding form as a browser does (multipart, with the page's CSRF token and
    current values), with ``fields`` changed and ``logo`` (name, bytes, type) attached."""
    form = branding_form(page)
    data = {n: v for n, v, t in form["fields"] if n and t != "file"}
    select = re.search(r'<select id="default-locale".*?</select>', page.text, re.S)
    assert select, page.text
    chosen = re.search(r'<option value="(\w+)"[^>]*selected', select.group(0))
    data["default_locale"] = chosen.group(1) if chosen else "en"
    data.update(fields or {})
    files = {"logo": logo or ("", b"", "application/octet-stream")}
    resp = browser.session.post(
        urljoin(page.url, form["action"]), data=data, files=files, allow_redirects=False, timeout=30
    )
    return browser._follow(resp)  # the test browser's redirect handling


def brand_realm(realm: Any, **kw: Any) -> None:
    """Set the realm's branding as an operator would (service call)."""
    with realm.server.app.app_context():
        db = get_session()
        realm_service.set_realm_branding(
            db, db.get(Realm, realm.id), actor="test", client_address=None, **kw
        )
        db.commit()


def logo_url_of(page: Page, realm: Any) -> str:
    match = re.search(r'<img class="logo" src="([^"]+)" alt="([^"]*)"', page.text)
    assert match, page.text
    assert html.unescape(match.group(2)) == stored(realm)["display_name"]
    return urljoin(page.url, html.unescape(match.group(1)))


def assert_branded(page: Page, realm: Any, name: str) -> None:
    """The header carries the realm's name, logo and theme stylesheet."""
    header = re.search(r'<header class="top">.*?</header>', page.text, re.S)
    assert header, page.text
    assert name in html.unescape(header.group(0))
    logo = logo_url_of(page, realm)
    assert logo.endswith(f"/realms/{realm.name}/branding/logo")
    theme = re.search(r'<link rel="stylesheet" href="([^"]+/branding/theme\.css[^"]*)"', page.text)
    assert theme, page.text


# -- the console -----------------------------------------------------------------------------
def test_s8_console_sets_branding_and_audits_it(realm):
    browser, page = admin_console(realm)
    assert 'type="color"' in page.text and 'name="accent_color"' in page.text
    logo = png()
    page = post_branding(
        browser,
        page,
        {"display_name": "Acme Corp", "default_locale": "ja", "accent_color": ACCENT},
        ("acme.png", logo, "image/png"),
    )
    assert page.status == 200 and page.url.endswith("admin/settings"), page.text
    # The realm's default language now applies (the client sends no Accept-Language).
    assert '<html lang="ja">' in page.text
    assert "ブランディングと新しいロゴを保存しました。" in text_of(page)
    browser.session.headers["Accept-Language"] = "en"
    page = browser.get(realm.url("admin/settings"))
    assert stored(realm) == {
        "display_name": "Acme Corp",
        "default_locale": "ja",
        "accent_color": ACCENT,
        "logo_content_type": "image/png",
        "logo": logo,
    }
    # The current logo is shown on the form, with "Remove logo".
    assert re.search(r'<img src="[^"]+/branding/logo" alt="[^"]*Acme Corp"', page.text)
    assert "Remove logo" in page.text
    [event] = events(realm)
    assert event.actor.startswith("admin:") and event.client_address == "127.0.0.1"
    assert event.detail["new"] == {
        "display_name": "Acme Corp",
        "default_locale": "ja",
        "accent_color": ACCENT,
        "logo": {"content_type": "image/png", "bytes": len(logo)},
    }
    assert event.detail["old"]["accent_color"] is None and event.detail["old"]["logo"] is None
    assert "iVBOR" not in str(event.detail) and "PNG" not in str(event.detail)
    # The same values again: nothing changed, nothing audited.
    page = post_branding(browser, page)
    assert "Nothing changed." in text_of(page)
    assert len(events(realm)) == 1
    # "Remove logo" (its own small form) removes it; clearing the colour is allowed.
    [remove] = [f for f in page.forms if ("remove_logo", "yes", "hidden") in f["fields"]]
    page = browser.submit(Page(page.response, [remove], page.links))
    assert "The logo is removed." in text_of(page)
    page = post_branding(browser, page, {"accent_color": ""})
    assert stored(realm)["logo"] is None and stored(realm)["accent_color"] is None
    assert browser.get(realm.url("branding/logo")).status == 404
    assert [e.detail["new"] for e in events(realm)[1:]] == [{"logo": None}, {"accent_color": None}]


def test_s8_console_refuses_a_low_contrast_colour_and_keeps_the_stored_one(realm):
    brand_realm(realm, accent_color=ACCENT)
    browser, page = admin_console(realm)
    page = post_branding(browser, page, {"accent_color": LOW_CONTRAST, "display_name": "New"})
    assert page.status == 400, page.text
    text = text_of(page)
    ratio = checks.format_ratio(checks.contrast_ratio(LOW_CONTRAST))
    assert ratio == "1.51"
    assert f"The accent colour {LOW_CONTRAST} has a contrast of {ratio}:1 against white" in text
    assert "at least 4.5:1" in text
    # The error sits under the heading and the colour field points at it.
    assert re.search(r"</h1>\s*<p class=\"error\" role=\"alert\" id=\"error\">", page.text)
    field = re.search(r'<input type="text" id="accent-color"[^>]*>', page.text).group(0)
    assert 'aria-describedby="error accent-color-hint"' in field
    assert f'value="{LOW_CONTRAST}"' in field  # the refused value, to correct
    assert stored(realm)["accent_color"] == ACCENT
    assert stored(realm)["display_name"] != "New"  # nothing of the form is saved
    assert [e.actor for e in events(realm)] == ["test"]  # brand_realm's own
    for bad in ("0b5cad", "#0b5", "#0b5cadd", "blue", "#gggggg"):
        page = post_branding(browser, page, {"accent_color": bad})
        assert page.status == 400, bad
        assert "Write the accent colour as # and six hexadecimal digits" in text_of(page)
    assert stored(realm)["accent_color"] == ACCENT


def test_s8_console_refusal_reads_in_japanese(realm):
    browser, page = admin_console(realm, lang="ja")
    page = post_branding(browser, page, {"accent_color": LOW_CONTRAST})
    assert page.status == 400
    text = text_of(page)
    assert '<html lang="ja">' in page.text
    assert "1.51:1" in text and "4.5:1" in text and "コントラスト" in text, text


@pytest.mark.parametrize(
    ("upload", "message"),
    [
        (("logo.svg", SVG, "image/svg+xml"), "SVG logos are not accepted"),
        (("logo.png", SVG, "image/png"), "SVG logos are not accepted"),
        (("logo.jpg", png(), "image/jpeg"), "the file says image/jpeg, but it is a PNG image"),
        (("logo.png", b"GIF89a" + b"\x00" * 40, "image/png"), "must be a PNG, JPEG or WebP"),
        (("logo.png", b"<html><script>x</script></html>", "image/png"), "must be a PNG, JPEG"),
        (("logo.png", png(pad=256 * 1024), "image/png"), "at most 256 KiB"),
        (("logo.png", b"", "image/png"), "The logo file is empty."),
        (("", b"", "application/octet-stream"), None),  # a file input left empty
    ],
)
def test_s8_console_refuses_unsafe_or_mismatched_or_large_logos(realm, upload, message):
    browser, page = admin_console(realm)
    page = post_branding(browser, page, logo=upload)
    if message is None:
        assert page.status == 200 and stored(realm)["logo"] is None
        return
    assert page.status == 400, page.text
    assert message in text_of(page), text_of(page)
    field = re.search(r'<input type="file" id="logo"[^>]*>', page.text).group(0)
    assert 'aria-describedby="error logo-hint"' in field
    assert stored(realm)["logo"] is None and events(realm) == []


@pytest.mark.parametrize(
    ("name", "data", "kind"),
    [("a.png", png(), "image/png"), ("a.jpg", JPEG, "image/jpeg"), ("a.webp", WEBP, "image/webp")],
)
def test_s8_console_accepts_png_jpeg_and_webp(realm, name, data, kind):
    browser, page = admin_console(realm)
    page = post_branding(browser, page, logo=(name, data, kind))
    assert page.status == 200, page.text
    got = requests.get(realm.url("branding/logo"), timeout=10)
    assert got.content == data and got.headers["Content-Type"] == kind


def test_s8_a_too_large_upload_is_a_clear_page_not_a_500(realm):
    """Above the logo route's own body limit (it takes more than the app's 64 KiB) the
    request is refused before it is read: a 413 page that says the limit."""
    browser, page = admin_console(realm)
    # Within the route's limit, but above the app-wide 64 KiB: accepted.
    big = png(pad=200 * 1024)
    page = post_branding(browser, page, logo=("big.png", big, "image/png"))
    assert page.status == 200 and stored(realm)["logo"] == big, page.text
    page = browser.get(realm.url("admin/settings"))
    huge = png(pad=1024 * 1024)
    try:
        page = post_branding(browser, page, logo=("huge.png", huge, "image/png"))
    except requests.ConnectionError as exc:  # pragma: no cover - reported clearly
        pytest.fail(f"the server dropped the connection instead of answering 413: {exc}")
    assert page.status == 413, page.text
    text = text_of(page)
    assert "The logo is too large" in text and "at most 256 KiB" in text
    assert page.link("Back to realm settings").endswith(f"/realms/{realm.name}/admin/settings")
    assert_branded(page, realm, stored(realm)["display_name"])
    assert stored(realm)["logo"] == big
    # Other forms keep the app-wide limit.
    resp = browser.session.post(
        realm.url("admin/settings"), data={"grace_days": "x" * 100_000}, timeout=30
    )
    assert resp.status_code == 413 and "Request too large" in resp.text


def test_s8_non_admin_cannot_change_branding(realm):
    brand_realm(realm, accent_color=ACCENT)
    user = realm.user()
    browser = realm.browser()
    page = sign_in(realm, browser, "account/", user)
    token = next(v for f in page.forms for n, v, _ in f["fields"] if n == "csrf_token")
    url = realm.url("admin/settings/branding")
    resp = browser.session.post(
        url,
        data={"csrf_token": token, "accent_color": "#000000", "display_name": "Pwned"},
        files={"logo": ("x.png", png(), "image/png")},
        allow_redirects=False,
        timeout=30,
    )
    assert resp.status_code == 403
    resp = browser.session.post(
        url, data={"csrf_token": token, "remove_logo": "yes"}, allow_redirects=False, timeout=30
    )
    assert resp.status_code == 403
    assert stored(realm)["accent_color"] == ACCENT and stored(realm)["logo"] is None
    assert stored(realm)["display_name"] == f"Test {realm.name}"
    assert [e.actor for e in events(realm)] == ["test"]  # brand_realm's own
    # Not signed in at all: the sign-in page, nothing changed.
    anonymous = requests.post(
        url, data={"accent_color": "#000000"}, allow_redirects=False, timeout=10
    )
    assert anonymous.status_code in (302, 303, 400)
    assert stored(realm)["accent_color"] == ACCENT


# -- the brand on the pages ------------------------------------------------------------------
def test_s8_brand_on_sign_in_and_account_pages_and_the_logo_is_served(realm, rp):
    logo = png(3, 2)
    brand_realm(realm, display_name="Acme & Co", accent_color=ACCENT, logo=logo)
    user = realm.user()
    browser = realm.browser()
    query = urlencode(
        {
            "client_id": rp.client_id,
            "redirect_uri": rp.redirect_uri,
            "response_type": "code",
            "scope": "openid",
            "state": "s",
            "nonce": "n",
            "code_challenge": "E9Melhoa2OwvFrEMTJguCHaoeK1t8URWbuGwSWZ6Kzw",
            "code_challenge_method": "S256",
        }
    )
    page = browser.get(f"{realm.endpoints['auth']}?{query}")
    assert page.status == 200 and 'name="password"' in page.text, page.text
    assert_branded(page, realm, "Acme & Co")
    assert "<title>" in page.text and "Acme &amp; Co</title>" in page.text
    logo_url = logo_url_of(page, realm)
    got = requests.get(logo_url, timeout=10)
    assert got.status_code == 200 and got.content == logo
    assert got.headers["Content-Type"] == "image/png"
    assert got.headers["X-Content-Type-Options"] == "nosniff"
    assert "no-cache" in got.headers["Cache-Control"] and got.headers["ETag"]
    again = requests.get(logo_url, headers={"If-None-Match": got.headers["ETag"]}, timeout=10)
    assert again.status_code == 304 and again.content == b""
    # The account page carries the same brand.
    page = sign_in(realm, realm.browser(), "account/", user)
    assert page.url.endswith("/account/") and user.email in page.text
    assert_branded(page, realm, "Acme & Co")


def test_s8_theme_css_carries_the_accent_colour(realm):
    brand_realm(realm, accent_color="#7a1fa2")
    page = realm.browser().get(realm.url("account/"))  # the sign-in page
    href = re.search(r'<link rel="stylesheet" href="([^"]+/branding/theme\.css[^"]*)"', page.text)
    assert href, page.text
    url = urljoin(page.url, html.unescape(href.group(1)))
    assert url.endswith("theme.css?v=7a1fa2")
    got = requests.get(url, timeout=10)
    assert got.status_code == 200
    assert got.headers["Content-Type"].startswith("text/css")
    assert "--accent: #7a1fa2;" in got.text and "--accent-strong: #" in got.text
    assert got.headers["ETag"] and "max-age" in got.headers["Cache-Control"]
    assert fetch(url, headers={"If-None-Match": got.headers["ETag"]}).status_code == 304
    # The page itself has no inline style (the CSP stays style-src 'self').
    assert "style=" not in page.text and "<style" not in page.text
    csp = page.response.headers["Content-Security-Policy"]
    assert "style-src 'self';" in csp and "img-src 'self' data:;" in csp
    # Without a colour of its own the realm gets the built-in blue; an unknown realm a 404.
    brand_realm(realm, accent_color="")
    assert "--accent: #0b5cad;" in fetch(realm.url("branding/theme.css")).text
    assert fetch(f"{realm.base}/realms/no-such-realm/branding/theme.css").status_code == 404
    assert fetch(realm.url("branding/logo")).status_code == 404


# -- error pages -----------------------------------------------------------------------------
def test_s8_error_pages_carry_the_brand_of_a_known_realm(realm, rp):
    brand_realm(realm, display_name="Acme Corp", accent_color=ACCENT, logo=png())
    browser = realm.browser()
    page = browser.get(realm.url("no/such/page"))
    assert page.status == 404
    assert_branded(page, realm, "Acme Corp")
    assert "There is no page at this address." in page.text
    # The refused authorization request (unknown client) and a 400 (no CSRF token).
    page = browser.get(realm.url("protocol/openid-connect/auth?client_id=unknown"))
    assert page.status == 400 and "request was refused" in page.text
    assert_branded(page, realm, "Acme Corp")
    resp = browser.session.post(realm.url("admin/settings"), data={}, timeout=10)
    assert resp.status_code == 400 and "The form has expired" in resp.text
    assert_branded(Page(resp), realm, "Acme Corp")
    # In Japanese too.
    page = browser.get(realm.url("no/such/page?lang=ja"))
    assert page.status == 404 and '<html lang="ja">' in page.text
    assert "Acme Corp" in page.text and "There is no page" not in page.text


@pytest.mark.parametrize(
    "path",
    [
        "/realms/no-such-realm/account/",
        "/realms/no-such-realm/x",
        "/realms/" + "a" * 500 + "/x",
        "/realms/%E2%98%83/x",
        "/realms/..%2F..%2Fetc/x",
        "/realms/x'%20OR%201=1--/y",
        "/realms/%25/x",
        "/realms/-/",
        "/nothing/here",
    ],
)
def test_s8_unknown_realm_404_stays_unbranded(server, path):
    resp = requests.get(server.url + path, timeout=10)
    assert resp.status_code == 404, resp.text
    assert "Identity provider" in resp.text
    assert "/branding/" not in resp.text


def test_s8_403_page_has_the_brand_the_account_menu_and_the_account_link(realm):
    brand_realm(realm, display_name="Acme Corp", logo=png())
    user = realm.user()
    browser = realm.browser()
    sign_in(realm, browser, "account/", user)
    page = browser.get(realm.url("admin/settings"))
    assert page.status == 403
    assert_branded(page, realm, "Acme Corp")
    menu = re.search(r'<nav aria-label="Account menu" class="menu">.*?</nav>', page.text, re.S)
    assert menu and user.email in menu.group(0), page.text
    assert page.link("Go to your account page") == realm.url("account/")
    assert page.link("Account settings") == realm.url("account/")
    assert "Your account may not open this page." in page.text


# -- the command line ------------------------------------------------------------------------
def _idp_ja(server: Any, *args: str) -> subprocess.CompletedProcess:
    settings = server.app.extensions["idp.settings"]
    env = {
        **os.environ,
        "IDP_DATABASE_URL": settings.database_url,
        "IDP_INSTANCE_PATH": settings.instance_path,
        "IDP_BASE_URL": server.url,
        "LANG": "ja_JP.UTF-8",
    }
    env.pop("LC_ALL", None)
    env.pop("LC_MESSAGES", None)
    return subprocess.run(  # our own command
        [str(Path(sys.executable).parent / "idp"), *args],
        capture_output=True,
        text=True,
        env=env,
        timeout=60,
        check=False,
    )


def test_s8_cli_sets_branding(realm, server, tmp_path):
    logo = tmp_path / "logo.png"
    logo.write_bytes(png())
    result = run_idp(
        server,
        *("realm", "set", realm.name, "--display-name", "Acme Corp", "--accent-color", ACCENT),
        *("--default-locale", "ja", "--logo", str(logo), "--json"),
    )
    assert result.returncode == 0, result.stderr
    assert stored(realm) == {
        "display_name": "Acme Corp",
        "default_locale": "ja",
        "accent_color": ACCENT,
        "logo_content_type": "image/png",
        "logo": logo.read_bytes(),
    }
    [event] = events(realm)
    assert event.actor == "operator"
    shown = run_idp(server, "realm", "show", realm.name)
    assert "accent color: #0b5cad" in shown.stdout and "logo: image/png" in shown.stdout
    result = run_idp(server, "realm", "set", realm.name, "--remove-logo", "--accent-color", "")
    assert result.returncode == 0, result.stderr
    assert stored(realm)["logo"] is None and stored(realm)["accent_color"] is None


@pytest.mark.parametrize(
    ("args", "words"),
    [
        (("--accent-color", LOW_CONTRAST), ("#ffcc00", "1.51:1", "at least 4.5:1")),
        (("--accent-color", "red"), ("# and six hexadecimal digits",)),
        (("--logo", "logo.svg"), ("SVG logos are not accepted",)),
        (("--logo", "png-as.jpg"), ("the file says image/jpeg, but it is a PNG image",)),
        (("--logo", "big.png"), ("at most 256 KiB",)),
        (("--logo", "missing.png"), ("cannot read",)),
        (("--logo", "logo.png", "--remove-logo"), ("--logo or --remove-logo",)),
    ],
)
def test_s8_cli_refuses_with_a_clear_message_and_changes_nothing(
    realm, server, tmp_path, args, words
):
    brand_realm(realm, accent_color=ACCENT)
    (tmp_path / "logo.svg").write_bytes(SVG)
    (tmp_path / "png-as.jpg").write_bytes(png())
    (tmp_path / "big.png").write_bytes(png(pad=300 * 1024))
    (tmp_path / "logo.png").write_bytes(png())
    args = tuple(str(tmp_path / a) if a.endswith((".svg", ".jpg", ".png")) else a for a in args)
    result = run_idp(server, "realm", "set", realm.name, "--require-2fa", "all", *args)
    assert result.returncode != 0
    assert result.stderr.startswith("Error: "), result.stderr
    for word in words:
        assert word in result.stderr, result.stderr
    assert stored(realm)["accent_color"] == ACCENT and stored(realm)["logo"] is None
    with server.app.app_context():
        assert get_session().get(Realm, realm.id).require_2fa == "none"
    assert [e.actor for e in events(realm)] == ["test"]  # brand_realm's own


def test_s8_cli_refusal_in_the_operators_language(realm, server):
    result = _idp_ja(server, "realm", "set", realm.name, "--accent-color", LOW_CONTRAST)
    assert result.returncode != 0
    assert "1.51:1" in result.stderr and "4.5:1" in result.stderr
    assert "コントラスト" in result.stderr, result.stderr


# -- the rules themselves (no server) --------------------------------------------------------
def test_s8_contrast_rule_follows_wcag():
    assert round(checks.contrast_ratio("#000000"), 2) == 21.0
    assert round(checks.contrast_ratio("#ffffff"), 2) == 1.0
    assert round(checks.contrast_ratio("#767676"), 2) == 4.54  # the classic AA grey
    assert checks.check_accent_color("#767676") == "#767676"
    assert checks.check_accent_color(" #0B5CAD ") == "#0b5cad"
    with pytest.raises(checks.LowContrastColor) as refused:
        checks.check_accent_color("#777777")  # 4.48:1
    assert checks.format_ratio(refused.value.ratio) == "4.47"
    with pytest.raises(checks.InvalidColor):
        checks.check_accent_color("#fff")


def test_s8_logo_type_is_decided_by_its_bytes():
    assert checks.check_logo(png()) == "image/png"
    assert checks.check_logo(png(), "image/x-png") == "image/png"
    assert checks.check_logo(JPEG, "image/jpg") == "image/jpeg"
    assert checks.check_logo(WEBP, "application/octet-stream") == "image/webp"
    for data, declared, refusal in (
        (SVG, None, checks.LogoIsSvg),
        (b"\xef\xbb\xbf  <svg/>", None, checks.LogoIsSvg),
        (png(), "image/svg+xml", checks.LogoIsSvg),
        (png(), "image/webp", checks.LogoTypeMismatch),
        (b"RIFF\x00\x00\x00\x00WAVEfmt ", None, checks.LogoTypeUnknown),
        (b"", None, checks.LogoEmpty),
        (png(pad=checks.LOGO_MAX_BYTES), None, checks.LogoTooLarge),
    ):
        with pytest.raises(refusal):
            checks.check_logo(data, declared)


def test_s8_failure_page_is_branded_and_survives_a_failed_transaction(server):
    """A 500 inside a realm (here: a query that fails, leaving the transaction aborted) still
    gets the realm's brand: the handler ends the failed transaction before it looks the realm
    up, and shows no account menu."""
    from sqlalchemy import text

    from idp import create_app
    from idp.services.realms import create_realm

    settings = server.app.extensions["idp.settings"]
    app = create_app(
        {"database_url": settings.database_url, "instance_path": settings.instance_path}
    )

    @app.get("/realms/<realm>/boom")
    def boom(realm: str) -> str:
        get_session().execute(text("SELECT * FROM no_such_table"))
        return "unreachable"

    with app.app_context():
        db = get_session()
        name = f"boom{secrets.token_hex(4)}"
        create_realm(db, name, "Boom Corp")
        db.commit()
    resp = app.test_client().get(f"/realms/{name}/boom")
    assert resp.status_code == 500
    body = resp.get_data(as_text=True)
    assert "Something went wrong" in body and "Boom Corp" in body
    assert "Account menu" not in body
    # An unknown realm's failure stays unbranded.
    assert "Identity provider" in app.test_client().get("/realms/nope/boom").get_data(True)
    app.extensions["idp.engine"].dispose()
