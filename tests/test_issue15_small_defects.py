"""Issue 15, "Small defects", over real HTTP against the live server:

- the account page's enable form takes a code pasted as ``123 456``, as the sign-in pages do;
- the branding form keeps every submitted value (the default language too) when it refuses one;
- on the low-codes offer, the new codes come under the application's name and the account line;
- texts that misled: "2FA stays on" only to users with 2FA; no advice to disable 2FA where a
  policy forbids it (SPEC P5); "a new authenticator app" only to a user who had one."""

from __future__ import annotations

import html
import re
import secrets
from html.parser import HTMLParser
from typing import Any
from urllib.parse import urljoin

import pyotp
import pytest
from sqlalchemy import select, update

from idp.db import get_session, utcnow
from idp.models import BackupCode
from tests.helpers import Browser, Page, totp_code, wait_for_step_room
from tests.support.password_reset import reset_link
from tests.support.signin import make_rp
from tests.support.soft_key import SoftKey, page_options

pytestmark = pytest.mark.slow


# -- helpers ---------------------------------------------------------------------------------
class _Inputs(HTMLParser):
    def __init__(self) -> None:
        super().__init__()
        self.inputs: dict[str, dict[str, str | None]] = {}

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        found = dict(attrs)
        if tag == "input" and found.get("id"):
            self.inputs[str(found["id"])] = found


def input_by_id(page: Page, ident: str) -> dict[str, str | None]:
    parser = _Inputs()
    parser.feed(page.text)
    assert ident in parser.inputs, page.text
    return parser.inputs[ident]


def browser_accepts(field: dict[str, str | None], value: str) -> bool:
    """Whether a browser lets ``value`` through the field's ``pattern`` (matched whole, as
    ``^(?:pattern)$``) and ``maxlength``."""
    maxlength = field.get("maxlength")
    if maxlength is not None and len(value) > int(maxlength):
        return False
    pattern = field.get("pattern")
    return pattern is None or re.fullmatch(f"(?:{pattern})", value) is not None


def text_of(page: Page) -> str:
    return html.unescape(re.sub(r"\s+", " ", re.sub(r"<[^>]+>", " ", page.text)))


def sign_in(realm: Any, browser: Browser, path: str, user: Any, code: str | None = None) -> Page:
    page = browser.get(realm.url(path))
    assert 'name="password"' in page.text, page.text
    page = browser.submit(page, {"email": user.email, "password": user.password})
    if code is not None:
        assert "/totp" in page.url, page.text
        page = browser.submit(page, {"code": code})
    return page


def spaced(code: str) -> str:
    return f"{code[:3]} {code[3:]}"


# -- the enable form takes "123 456" ---------------------------------------------------------
def test_the_account_enable_form_takes_a_code_pasted_with_a_space(realm):
    user = realm.user()
    browser = realm.browser()
    sign_in(realm, browser, "account/", user)
    page = browser.get(realm.url("account/two-factor/enable"))
    assert page.status == 200, page.text
    field = input_by_id(page, "code")
    assert browser_accepts(field, "123 456"), field
    assert browser_accepts(field, "123456") and not browser_accepts(field, "12345"), field
    # The same input as the sign-in pages' code field.
    code_page = Browser(realm.base)
    other = realm.user(with_totp=True)
    sign_in_code = input_by_id(sign_in(realm, code_page, "account/", other), "code")
    assert (field["pattern"], field["maxlength"]) == (
        sign_in_code["pattern"],
        sign_in_code["maxlength"],
    )
    # The server takes the spaced code too.
    key = re.search(r'id="key"[^>]*>(.*?)</dd>', page.text, re.S)
    assert key, page.text
    secret = html.unescape(re.sub(r"<[^>]+>", "", key.group(1))).strip().replace(" ", "")
    done = browser.submit(page, {"code": spaced(pyotp.TOTP(secret).now())})
    assert done.status == 200 and "Two-factor authentication is enabled." in done.text, done.text


# -- the branding form keeps what was sent ---------------------------------------------------
def test_a_refused_branding_form_keeps_the_chosen_default_language(realm):
    admin = realm.user(admin=True)
    browser = realm.browser()
    page = sign_in(realm, browser, "admin/settings", admin)
    [form] = [f for f in page.forms if any(n == "display_name" for n, _, _ in f["fields"])]
    data = {n: v for n, v, t in form["fields"] if n and t != "file"}
    data.update(display_name="株式会社サンプル", default_locale="ja", accent_color="#f5a623")
    resp = browser.session.post(
        urljoin(page.url, form["action"]),
        data=data,
        files={"logo": ("", b"", "application/octet-stream")},
        allow_redirects=False,
        timeout=30,
    )
    refused = browser._follow(resp)  # the test browser's redirect handling
    assert refused.status == 400, refused.text
    select_box = re.search(r'<select id="default-locale".*?</select>', refused.text, re.S)
    assert select_box, refused.text
    chosen = re.findall(r'<option value="(\w+)"[^>]*\bselected\b', select_box.group(0))
    assert chosen == ["ja"], select_box.group(0)
    assert input_by_id(refused, "display-name")["value"] == "株式会社サンプル"
    assert input_by_id(refused, "accent-color")["value"] == "#f5a623"


# -- the low-codes offer ---------------------------------------------------------------------
def leave_codes(realm: Any, user: Any, left: int) -> None:
    with realm.server.app.app_context():
        db = get_session()
        ids = db.scalars(
            select(BackupCode.id)
            .where(BackupCode.user_id == user.id, BackupCode.used_at.is_(None))
            .order_by(BackupCode.id)
        ).all()
        db.execute(update(BackupCode).where(BackupCode.id.in_(ids[left:])).values(used_at=utcnow()))
        db.commit()


def test_new_codes_from_the_low_codes_offer_come_under_the_app_name_and_account_line(realm, rp):
    user = realm.user(with_totp=True)
    leave_codes(realm, user, 2)
    client = make_rp(realm, rp)
    browser = realm.browser()
    flow = client.start()
    wait_for_step_room()
    page = browser.submit(browser.get(flow.url), {"email": user.email, "password": user.password})
    page = browser.submit(page, {"code": totp_code(user.totp_secret)})
    assert page.url.endswith("/offer"), page.url
    codes = browser.submit(page, {"action": "new_codes"})
    assert codes.status == 200 and 'id="backup-codes"' in codes.text, codes.text
    text = codes.text
    heading = text.index("<h1>")
    app_name, account = text.index('class="app-name"'), text.index('class="account-line"')
    listed = text.index('id="backup-codes"')
    assert heading < app_name < listed and heading < account < listed, text
    assert "to continue to Test RP" in text_of(codes)


# -- the texts that misled -------------------------------------------------------------------
STAYS_ON = "two-factor authentication stays on"


def reset_form(realm: Any, user: Any, mailbox: Any) -> Page:
    browser = realm.browser()
    browser.session.headers["X-Forwarded-For"] = (
        f"10.61.{secrets.randbelow(250)}.{secrets.randbelow(250)}"
    )
    page = browser.get(realm.url("forgot-password"))
    browser.submit(page, {"email": user.email}, action="/forgot-password")
    form = browser.get(reset_link(mailbox, user.email))
    assert form.status == 200 and 'id="reset-form"' in form.text, form.text
    return form


@pytest.mark.settings(proxy_count=1)
def test_a_users_reset_form_says_2fa_stays_on_only_when_the_user_has_2fa(realm, mailbox):
    without = text_of(reset_form(realm, realm.user(), mailbox)).lower()
    assert "every device signed in to it is signed out" in without
    assert STAYS_ON not in without, without
    with_2fa = text_of(reset_form(realm, realm.user(with_totp=True), mailbox)).lower()
    assert STAYS_ON in with_2fa, with_2fa


def backup_notice(realm: Any, rp: Any, user: Any, lang: str = "en") -> Page:
    client = make_rp(realm, rp)
    browser = realm.browser()
    browser.session.headers["Accept-Language"] = lang
    page = browser.submit(
        browser.get(client.start().url), {"email": user.email, "password": user.password}
    )
    [backup] = [href for _, href in page.links if href.endswith("/backup-code")]
    page = browser.get(urljoin(page.url, backup))
    page = browser.submit(page, {"code": user.backup_codes[0]})
    assert page.url.endswith("/notice"), page.url
    return page


def test_the_backup_notice_advises_disabling_only_where_the_policy_allows_it(realm, rp):
    free = text_of(backup_notice(realm, rp, realm.user(with_totp=True)))
    assert "disable two-factor authentication and set it up again" in free, free
    realm.set_policy(require_2fa="all")
    required = text_of(backup_notice(realm, rp, realm.user(with_totp=True)))
    assert "disable" not in required.lower(), required
    assert "set up a new authenticator app" in required, required
    required_ja = text_of(backup_notice(realm, rp, realm.user(with_totp=True), "ja"))
    assert "解除" not in required_ja and "新しい認証アプリを設定してください" in required_ja


@pytest.mark.settings(localhost=True)
def test_a_security_key_only_user_is_offered_to_set_up_an_app_not_a_new_one(realm):
    user = realm.user()
    browser = realm.browser()
    sign_in(realm, browser, "account/", user)
    two_factor = browser.get(realm.url("account/two-factor"))
    page = browser.get(two_factor.link("Add a security key or passkey"))
    options = page_options(page.text)
    done = browser.submit(
        page, {"name": "YubiKey", "credential": SoftKey(realm.base).create(options)}
    )
    assert done.status == 200 and "Two-factor authentication is enabled" in done.text, done.text
    two_factor = browser.get(realm.url("account/two-factor"))
    links = [text for text, _ in two_factor.links]
    assert "Set up an authenticator app" in links, links
    assert "Set up a new authenticator app" not in links, links
    with_app = realm.user(with_totp=True)
    other = realm.browser()
    sign_in(realm, other, "account/", with_app, code=totp_code(with_app.totp_secret))
    links = [text for text, _ in other.get(realm.url("account/two-factor")).links]
    assert "Set up a new authenticator app" in links, links
