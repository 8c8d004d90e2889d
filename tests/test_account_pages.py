"""The account pages of issue 7: new backup codes shown exactly once (POST/redirect/GET,
SPEC B1, B7), numbered on the page, in the file and on the 2FA page (B2, B5), the file's
name; the session that just enabled 2FA counts as having used it for the re-authentication
window; the list of one's own sessions with Sign out and Sign out everywhere."""

from __future__ import annotations

import base64
import re
import zlib
from typing import Any
from urllib.parse import urlsplit

import pytest
from playwright.sync_api import expect
from sqlalchemy import select

from idp import clock
from idp.models import AuditEvent, BackupCode, SsoSession
from idp.services.backup_codes import download_filename
from idp.services.sessions import browser_summary
from tests.browser_support import axe_violations, sign_in_with_password
from tests.helpers import Browser, Page, totp_code
from tests.support.app_db import in_app
from tests.support.pages import csrf_token as _csrf
from tests.support.pages import notices
from tests.support.signin import (
    account_sign_in,
    assert_refresh_refused,
    make_rp,
    refresh,
    sign_in_for_tokens,
    sign_in_with_backup_code,
    still_signed_in,
)
from tests.support.two_factor_pages import (
    ENABLED,
    backup_refused,
    enable_via_pages,
    is_reauth_page,
    new_user_enabled,
    open_two_factor,
    password_only_session,
    shown_codes,
)
from tests.support.two_factor_pages import issue_new_codes as _issue_new_codes

pytestmark = pytest.mark.slow

FIREFOX = "Mozilla/5.0 (Windows NT 10.0; Win64; x64; rv:128.0) Gecko/20100101 Firefox/128.0"
CHROME = (
    "Mozilla/5.0 (Macintosh; Intel Mac OS X 10_15_7) AppleWebKit/537.36 (KHTML, like Gecko) "
    "Chrome/126.0.0.0 Safari/537.36"
)
SHOWN_ALREADY = "These backup codes were shown already"


def _flask_session(browser: Browser) -> str:
    """The signed browser session's payload as text (what anyone holding the cookie reads)."""
    values = [c.value for c in browser.session.cookies if c.name == "idp_browser"]
    text = ""
    for value in values:
        compressed = value.startswith(".")
        payload = value.lstrip(".").split(".")[0]
        raw = base64.urlsafe_b64decode(payload + "=" * (-len(payload) % 4))
        text += (zlib.decompress(raw) if compressed else raw).decode()
    return text


def _events(realm: Any, kind: str) -> list[AuditEvent]:
    def find(db: Any) -> list[AuditEvent]:
        rows = db.scalars(
            select(AuditEvent).where(AuditEvent.realm_id == realm.id, AuditEvent.type == kind)
        ).all()
        db.expunge_all()
        return list(rows)

    return in_app(realm, find)


def _signed_in_user(realm: Any, user_agent: str | None = None, **kw: Any) -> tuple[Any, Browser]:
    user = realm.user(**kw)
    browser = realm.browser()
    if user_agent:
        browser.session.headers["User-Agent"] = user_agent
    code = totp_code(user.totp_secret, 0) if kw.get("with_totp") else None
    account_sign_in(realm, browser, user, code=code)
    return user, browser


# -- new codes survive a reload (POST/redirect/GET) ---------------------------------------------
def test_b1_new_codes_shown_once_and_a_reload_issues_none(realm, rp):
    user, browser = _signed_in_user(realm, with_totp=True)
    page = _issue_new_codes(browser, realm)
    assert page.url.endswith("/account/two-factor/backup-codes/new"), page.url
    assert "New backup codes" in page.text
    codes = [c.replace("-", "") for c in shown_codes(page)]
    assert len(codes) == 10
    issued = len(_events(realm, "mfa.backup_codes.issued"))
    # The codes travelled from the POST to the GET encrypted, and are gone once shown.
    carried = _flask_session(browser)
    assert not any(c in carried or f"{c[:4]}-{c[4:]}" in carried for c in codes)
    # A reload shows no codes, says why, points to the 2FA page and issues nothing.
    again = browser.get(page.url)
    assert again.status == 200
    assert SHOWN_ALREADY in again.text
    assert "<code>" not in again.text and 'name="code"' not in again.text
    assert again.link("Two-factor authentication").endswith("/account/two-factor")
    assert again.link("Issue new codes").endswith("/account/two-factor/backup-codes")
    assert len(_events(realm, "mfa.backup_codes.issued")) == issued
    # The set shown first still signs in.
    sign_in_with_backup_code(realm, make_rp(realm, rp), user, codes[0])
    assert not backup_refused(realm, rp, user, codes[1])


def test_b1_codes_of_enabling_survive_a_reload(realm, rp):
    user, browser, key, codes, page = new_user_enabled(realm)
    assert page.url.endswith("/account/two-factor/backup-codes/new"), page.url
    assert ENABLED in page.text
    again = browser.get(page.url)
    assert SHOWN_ALREADY in again.text and "<code>" not in again.text
    sign_in_with_backup_code(realm, make_rp(realm, rp), user, codes[0])


def test_b1_codes_shown_to_nobody_else(realm):
    """The set is bound to the browser that issued it: another browser, even of the same
    user, gets no codes from the page that shows them."""
    user, browser = _signed_in_user(realm, with_totp=True)
    confirm = browser.get(realm.url("account/two-factor/backup-codes"))
    resp = browser.session.post(
        realm.url("account/two-factor/backup-codes"),
        data={"csrf_token": _csrf(confirm)},
        allow_redirects=False,
        timeout=10,
    )
    assert resp.status_code == 303
    assert resp.headers["Location"].endswith("/account/two-factor/backup-codes/new")
    other = realm.browser()
    account_sign_in(realm, other, user, code=totp_code(user.totp_secret, 1))
    elsewhere = other.get(realm.url("account/two-factor/backup-codes/new"))
    assert SHOWN_ALREADY in elsewhere.text and "<code>" not in elsewhere.text
    shown = browser.get(realm.url("account/two-factor/backup-codes/new"))
    assert len(shown_codes(shown)) == 10


# -- numbers ---------------------------------------------------------------------------------
def _file_lines(text: str) -> list[tuple[int, str]]:
    return [
        (int(n), code)
        for n, code in re.findall(r"^ ?(\d{1,2})\. (\d{4}-\d{4})$", text, flags=re.MULTILINE)
    ]


def test_b2_codes_numbered_on_the_page_in_the_file_and_on_the_2fa_page(realm, rp):
    user, browser = _signed_in_user(realm, with_totp=True)
    page = _issue_new_codes(browser, realm)
    assert re.search(r'<ol class="codes" id="backup-codes"', page.text)
    shown = shown_codes(page)
    got = browser.submit(page, action="/backup-codes/download")
    numbered = _file_lines(got.response.text)
    assert numbered == list(enumerate(shown, start=1)), got.response.text

    def stored(db: Any) -> list[int | None]:
        return list(
            db.scalars(
                select(BackupCode.number)
                .where(BackupCode.user_id == user.id)
                .order_by(BackupCode.id)
            )
        )

    assert in_app(realm, stored) == list(range(1, 11))
    # Code No. 3 signs in; the 2FA page says No. 3 is used, and when.
    sign_in_with_backup_code(realm, make_rp(realm, rp), user, shown[2].replace("-", ""))
    status = browser.get(realm.url("account/two-factor"))
    used = re.search(r'<ul id="used-codes"[^>]*>(.*?)</ul>', status.text, re.S)
    assert used, status.text
    items = re.findall(r"<li>(.*?)</li>", used.group(1), re.S)
    assert len(items) == 1 and items[0].startswith("No. 3 used on "), items
    assert str(clock.now().year) in items[0]
    assert re.search(r'id="unused-numbers">1, 2, 4, 5, 6, 7, 8, 9, 10<', status.text)
    # The page names numbers, never codes.
    assert not any(c in status.text or c.replace("-", "") in status.text for c in shown)
    # In Japanese too.
    ja = browser.get(realm.url("account/two-factor") + "?lang=ja")
    assert "No. 3" not in ja.text and "3番" in ja.text, ja.text


def test_b2_download_file_name_carries_realm_and_account(realm):
    user, browser, key, codes, page = new_user_enabled(realm)
    got = browser.submit(page, action="/backup-codes/download")
    disposition = got.response.headers["Content-Disposition"]
    local, domain = user.email.split("@")
    assert disposition == f'attachment; filename="backup-codes-{realm.name}-{local}-{domain}.txt"'
    assert download_filename("acme", "alice@example.com") == (
        "backup-codes-acme-alice-example.com.txt"
    )
    assert download_filename("acme", '../"a b"@x.jp') == "backup-codes-acme-a-b-x.jp.txt"
    assert re.fullmatch(r"[A-Za-z0-9._-]+", download_filename("ü/..", "\r\n;=@"))


def test_b2_download_file_in_the_users_language(realm):
    user, browser, key, codes, page = new_user_enabled(realm)
    page = browser.get(realm.url("account/two-factor") + "?lang=ja")
    page = browser.get(page.link("バックアップコードをダウンロード"))
    assert "新しいバックアップコードを発行しますか" in page.text, page.text
    page = browser.submit(page)
    assert "<code>" in page.text
    text = browser.submit(page, action="/backup-codes/download").response.text
    assert f"{user.email}のバックアップコード" in text, text
    assert "発行日" in text
    assert len(_file_lines(text)) == 10


# -- the session that just enrolled ----------------------------------------------------------
def test_enabling_counts_as_the_second_factor_for_the_reauth_window(realm, rp, server):
    """Right after enabling 2FA (the code of the new key just typed, its time step spent),
    new codes and the download open without another sign-in, until the window ends."""
    user, browser, key, codes, page = new_user_enabled(realm)
    # The set just shown downloads.
    got = browser.submit(page, action="/backup-codes/download")
    assert "attachment" in got.response.headers["Content-Disposition"]
    # "Download backup codes" on the 2FA page issues a new set without a new sign-in.
    status = open_two_factor(browser, page)
    confirm = browser.get(status.link("Download backup codes"))
    assert not is_reauth_page(confirm, user) and "Issue new backup codes?" in confirm.text
    issued = browser.submit(confirm)
    new = [c.replace("-", "") for c in shown_codes(issued)]
    assert len(new) == 10 and not set(new) & set(codes)
    got = browser.submit(issued, action="/backup-codes/download")
    assert "attachment" in got.response.headers["Content-Disposition"]
    # The window still ends: after IDP_REAUTH_TTL the same page asks to sign in again.
    ttl = server.app.extensions["idp.settings"].reauth_ttl
    clock.travel(seconds=ttl + 1)
    later = browser.get(realm.url("account/two-factor/backup-codes"))
    assert is_reauth_page(later, user), later.text

    # The enrolment did not make the session a two-factor one for the applications.
    def amr(db: Any) -> list[list[str]]:
        rows = db.scalars(select(SsoSession.amr).where(SsoSession.user_id == user.id))
        return [list(a) for a in rows]

    assert ["pwd"] in in_app(realm, amr)


def test_enrolment_counts_only_for_the_session_that_enrolled(realm):
    """The note that this session typed the new key's code names the session: another
    password-only session of the user, even with a copy of this browser's signed session,
    is asked to sign in again."""
    user, browser = _signed_in_user(realm)
    enable_via_pages(realm, browser, browser.get(realm.url("account/")))
    other = realm.browser()
    password_only_session(realm, other, user)
    for cookie in browser.session.cookies:
        if cookie.name == "idp_browser":
            other.session.cookies.set_cookie(cookie)
    page = other.get(realm.url("account/two-factor/backup-codes"))
    assert is_reauth_page(page, user), page.text
    # The enrolling browser itself is let through.
    page = browser.get(realm.url("account/two-factor/backup-codes"))
    assert "Issue new backup codes?" in page.text


# -- sessions --------------------------------------------------------------------------------
def _session_rows(page: Page) -> list[list[str]]:
    body = re.search(r'<table id="sessions"[^>]*>.*?<tbody>(.*?)</tbody>', page.text, re.S)
    assert body, page.text
    return [
        [re.sub(r"\s+", " ", re.sub(r"<[^>]+>", " ", cell)).strip() for cell in cells]
        for cells in (
            re.findall(r"<td[^>]*>(.*?)</td>", row, re.S)
            for row in re.findall(r"<tr[^>]*>(.*?)</tr>", body.group(1), re.S)
        )
    ]


def _sign_out_forms(page: Page) -> list[str]:
    return [
        f["action"]
        for f in page.forms
        if re.search(r"/account/sessions/[^/]+/sign-out$", f["action"])
    ]


def test_account_page_shows_2fa_status_and_sessions(realm):
    user, firefox = _signed_in_user(realm, FIREFOX)
    chrome = realm.browser()
    chrome.session.headers["User-Agent"] = CHROME
    account_sign_in(realm, chrome, user)
    home = firefox.get(realm.url("account/"))
    assert re.search(r'<span class="badge off">Not enabled</span>', home.text), home.text
    rows = _session_rows(home)
    assert len(rows) == 2, rows
    by_browser = {r[0]: r for r in rows}
    assert set(by_browser) == {"Firefox on Windows This browser", "Chrome on macOS"}
    for row in rows:
        assert row[1] == "127.0.0.1"
        assert str(clock.now().year) in row[2]
        assert row[3] == "Sign out"

    # Neither the sid nor a row id is on the page: each session has an opaque handle.
    def ids(db: Any) -> list[tuple[int, str]]:
        return list(
            db.execute(select(SsoSession.id, SsoSession.sid).where(SsoSession.user_id == user.id))
        )

    for row_id, sid in in_app(realm, ids):
        assert sid not in home.text
        assert f"/sessions/{row_id}/" not in home.text
    for action in _sign_out_forms(home):
        assert re.fullmatch(r".*/sessions/[0-9a-f]{32}/sign-out", action), action
    # Japanese: the browser's words, the time and the badge.
    ja = firefox.get(realm.url("account/") + "?lang=ja")
    assert "WindowsのFirefox" in ja.text and "このブラウザ" in ja.text, ja.text
    assert re.search(r"\d{4}/\d{2}/\d{2} \d{1,2}:\d{2}", _session_rows(ja)[0][2]), ja.text
    # Enabled 2FA shows as such.
    home = firefox.get(realm.url("account/") + "?lang=en")
    enable_via_pages(realm, firefox, home)
    assert '<span class="badge on">Enabled</span>' in firefox.get(realm.url("account/")).text


def test_sign_out_one_session_ends_it_and_revokes_its_tokens(realm, rp):
    user = realm.user()
    client = make_rp(realm, rp)
    elsewhere, token = sign_in_for_tokens(realm, client, user.email, user.password)
    browser = realm.browser()
    home = account_sign_in(realm, browser, user)
    rows = _session_rows(home)
    assert len(rows) == 2
    here = [i for i, r in enumerate(rows) if "This browser" in r[0]]
    other_index = 1 - here[0]
    action = _sign_out_forms(home)[other_index]
    done = browser.submit(home, action=action)
    assert done.url.endswith("/account/"), done.url
    assert "That session is signed out." in notices(done)
    assert len(_session_rows(done)) == 1
    assert still_signed_in(realm, browser)
    assert not still_signed_in(realm, elsewhere)
    assert_refresh_refused(client, rp, token["refresh_token"])
    events = _events(realm, "session.signed_out")
    assert len(events) == 1 and events[0].actor == f"user:{user.email}"
    assert events[0].subject == user.email and events[0].detail["this_browser"] is False
    # Signing out this browser's own session signs this browser out.
    home = browser.get(realm.url("account/"))
    out = browser.submit(home, action=_sign_out_forms(home)[0])
    assert "You are signed out" in out.text
    assert not still_signed_in(realm, browser)
    assert len(_events(realm, "session.signed_out")) == 2


def test_sign_out_everywhere(realm, rp):
    user = realm.user()
    client = make_rp(realm, rp)
    elsewhere, token = sign_in_for_tokens(realm, client, user.email, user.password)
    browser = realm.browser()
    home = account_sign_in(realm, browser, user)
    out = browser.submit(home, action="/account/sessions/sign-out-all")
    assert out.status == 200 and "You are signed out" in out.text
    assert not still_signed_in(realm, browser)
    assert not still_signed_in(realm, elsewhere)
    assert_refresh_refused(client, rp, token["refresh_token"])
    events = _events(realm, "session.signed_out_all")
    assert len(events) == 1 and events[0].detail == {"sessions": 2}
    # The user signs in again as usual.
    again = realm.browser()
    assert "Account settings" in account_sign_in(realm, again, user).text


def test_another_users_session_cannot_be_ended(realm, rp):
    victim = realm.user()
    client = make_rp(realm, rp)
    victim_browser, token = sign_in_for_tokens(realm, client, victim.email, victim.password)
    victim_home = victim_browser.get(realm.url("account/"))
    victim_action = _sign_out_forms(victim_home)[0]
    intruder, intruder_browser = _signed_in_user(realm)
    home = intruder_browser.get(realm.url("account/"))
    assert victim.email not in home.text and len(_session_rows(home)) == 1
    base = f"{urlsplit(realm.url('')).scheme}://{urlsplit(realm.url('')).netloc}"

    # The victim's own handle, a made-up one, and the victim's row id and sid.
    def victim_ids(db: Any) -> tuple[int, str]:
        row = db.scalar(select(SsoSession).where(SsoSession.user_id == victim.id))
        return row.id, row.sid

    row_id, sid = in_app(realm, victim_ids)
    for target in (
        base + victim_action,
        realm.url(f"account/sessions/{'0' * 32}/sign-out"),
        realm.url(f"account/sessions/{row_id}/sign-out"),
        realm.url(f"account/sessions/{sid}/sign-out"),
    ):
        resp = intruder_browser.session.post(
            target, data={"csrf_token": _csrf(home)}, allow_redirects=True, timeout=10
        )
        assert resp.status_code == 200 and "That session has ended already." in resp.text
    assert still_signed_in(realm, victim_browser)
    assert still_signed_in(realm, intruder_browser)
    assert refresh(client, rp, token["refresh_token"]).status_code == 200
    assert _events(realm, "session.signed_out") == []


def test_browser_summary_short_forms():
    assert browser_summary(FIREFOX) == ("Firefox", "Windows")
    assert browser_summary(CHROME) == ("Chrome", "macOS")
    edge = CHROME.replace("Macintosh; Intel Mac OS X 10_15_7", "Windows NT 10.0") + " Edg/126.0"
    assert browser_summary(edge) == ("Edge", "Windows")
    iphone = (
        "Mozilla/5.0 (iPhone; CPU iPhone OS 17_5 like Mac OS X) AppleWebKit/605.1.15 "
        "(KHTML, like Gecko) Version/17.5 Mobile/15E148 Safari/604.1"
    )
    assert browser_summary(iphone) == ("Safari", "iPhone")
    assert browser_summary("python-requests/2.32.3") == ("python-requests", None)
    assert browser_summary("") == (None, None)
    assert browser_summary(None) == (None, None)


# -- in a real browser -------------------------------------------------------------------------
@pytest.mark.browser
def test_new_codes_copy_print_reload_and_sessions_in_a_browser(realm, new_context, axe_source):
    """Copy and Print appear with JavaScript (and only then); Copy puts the numbered list on
    the clipboard; a reload says the codes were shown already; the pages pass axe."""
    user = realm.user(with_totp=True)
    page = new_context(bypass_csp=True, permissions=["clipboard-read", "clipboard-write"])
    page.goto(realm.url("account/"))
    sign_in_with_password(page, user.email, user.password)
    page.get_by_label("Security code").fill(totp_code(user.totp_secret, 0))
    page.get_by_role("button", name="Sign in", exact=True).click()
    expect(page.get_by_role("heading", name="Account settings")).to_be_visible()
    expect(page.locator("#two-factor-status .badge")).to_have_text("Enabled")
    expect(page.locator("#sessions tbody tr")).to_have_count(1)
    expect(page.locator("#sessions tbody tr")).to_contain_text("This browser")
    found = axe_violations(page, axe_source)
    page.goto(realm.url("account/two-factor/backup-codes"))
    page.get_by_role("button", name="Issue new codes").click()
    expect(page.get_by_role("heading", name="New backup codes")).to_be_visible()
    shown = [c.strip() for c in page.locator("ol.codes li code").all_inner_texts()]
    assert len(shown) == 10
    found += axe_violations(page, axe_source)
    expect(page.get_by_role("button", name="Print")).to_be_visible()
    page.get_by_role("button", name="Copy").click()
    expect(page.locator("#copy-status")).to_have_text("The backup codes are copied.")
    copied = page.evaluate("navigator.clipboard.readText()")
    assert copied.splitlines() == [f"{i}. {code}" for i, code in enumerate(shown, start=1)]
    page.reload()
    expect(page.get_by_role("heading", name=SHOWN_ALREADY)).to_be_visible()
    assert page.locator("ol.codes").count() == 0
    found += axe_violations(page, axe_source)
    # Without JavaScript: the list and the download, no Copy or Print that would not work.
    plain = new_context(java_script_enabled=False)
    plain.goto(realm.url("account/"))
    sign_in_with_password(plain, user.email, user.password)
    plain.get_by_label("Security code").fill(totp_code(user.totp_secret, 1))
    plain.get_by_role("button", name="Sign in", exact=True).click()
    plain.goto(realm.url("account/two-factor/backup-codes"))
    plain.get_by_role("button", name="Issue new codes").click()
    expect(plain.locator("ol.codes li")).to_have_count(10)
    expect(plain.get_by_role("button", name="Download backup codes")).to_be_visible()
    expect(plain.locator("#copy-codes")).to_be_hidden()
    expect(plain.locator("#print-codes")).to_be_hidden()
    assert found == [], "\n".join(found)
