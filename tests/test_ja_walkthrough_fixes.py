"""Issue 15, the native reader's walk through the pages at 390 and 1280 px (after the first
round of Japanese fixes): what each page says, over real HTTP (and a real SMTP server for
the mails). The catalog-wide rules (counters, IPアドレス, 「個人設定」の「2要素認証」) are in
tests/test_glossary_ja.py."""

from __future__ import annotations

import html
import re
import secrets
from datetime import timedelta
from typing import Any

import pyotp
import pytest

from idp import clock
from idp.models import AuditEvent, Realm, User
from idp.services import realms, throttle
from tests.helpers import Browser, Page, totp_code, wait_for_step_room
from tests.support.app_db import in_app
from tests.support.flows import authorize_url

pytestmark = [pytest.mark.settings(proxy_count=1), pytest.mark.slow]


def words(page: Page | str) -> str:
    text = page if isinstance(page, str) else page.text
    return " ".join(html.unescape(re.sub(r"<[^>]+>", " ", text.replace("<wbr>", ""))).split())


def browser_for(realm: Any, lang: str) -> Browser:
    browser = realm.browser()
    browser.session.headers["X-Forwarded-For"] = (
        f"10.61.{secrets.randbelow(250)}.{secrets.randbelow(250)}"
    )
    browser.session.headers["Accept-Language"] = lang
    return browser


def signed_in(realm: Any, user: Any, path: str, lang: str = "ja") -> tuple[Browser, Page]:
    browser = browser_for(realm, lang)
    page = browser.get(realm.url(path))
    assert 'name="password"' in page.text, page.text
    page = browser.submit(page, {"email": user.email, "password": user.password})
    if user.totp_secret:
        page = browser.submit(page, {"code": totp_code(user.totp_secret)})
    return browser, page


def code_page(realm: Any, rp: Any, user: Any, lang: str = "ja") -> tuple[Browser, Page]:
    browser = browser_for(realm, lang)
    page = browser.get(authorize_url(realm, rp, ui_locales=lang))
    page = browser.submit(page, {"email": user.email, "password": user.password})
    assert page.status == 200 and "/totp" in page.url, page.text
    return browser, page


# -- 1. "trust this browser" is a checkbox with its label on one line ---------------------------
def test_the_trust_checkbox_is_a_choice_with_its_label_and_no_space_in_the_count(realm, rp):
    realm.set_policy(trust_browser_days=30)
    user = realm.user(with_totp=True)
    _, page = code_page(realm, rp, user)
    assert '<p class="check">' not in page.text
    assert re.search(
        r'<label class="choice" for="trust"><input id="trust" name="trust" type="checkbox"'
        r' value="yes"> このブラウザを30日間信頼する</label>',
        page.text,
    ), page.text


# -- 3. the grace-period banner and the user list's deadline: to the minute, the realm named -----
def test_the_grace_banner_names_the_realm_and_its_deadline_to_the_minute(realm):
    realm.set_policy(require_2fa="all", grace_days=7)
    user = realm.user()
    browser, page = signed_in(realm, user, "account/")
    page = browser.submit(page, {"action": "later"})
    banner = re.search(r'id="two-factor-deadline">(.*?)</div>', page.text, re.S)
    assert banner, page.text
    text = words(banner.group(1))
    assert re.search(
        rf"Test {realm.name}では2要素認証が必須です。7日以内（\d{{4}}/\d\d/\d\d"
        rf" \d{{1,2}}:\d\dまで）に設定してください。",
        text.replace(" まで", "まで").replace("（ ", "（"),
    ), text
    assert "組織により" not in text
    assert re.search(r'<time datetime="[^"]+">\d{4}/\d\d/\d\d \d{1,2}:\d\d</time>', banner[1])
    admin = realm.user(admin=True, with_totp=True)
    console, _ = signed_in(realm, admin, "admin/users?show=not-enrolled&lang=ja")
    listed = console.get(realm.url("admin/users?lang=ja"))
    cells = re.findall(r'<td class="deadline"><time [^>]*>([^<]+)</time>', listed.text)
    assert cells and all(re.fullmatch(r"\d{4}/\d\d/\d\d \d{1,2}:\d\d", c) for c in cells), cells


# -- 4. the wait after wrong codes: in words, with its reason, on GET too (F6) ------------------
def block_for(realm: Any, user: Any, seconds: int, failures: int = 5) -> None:
    def block(db: Any) -> None:
        from sqlalchemy import update

        from idp.models import Throttle

        key = throttle.second_factor_key(user.id)
        for _ in range(failures):
            throttle.record_failure(db, key, throttle.SECOND_FACTOR)
        until = clock.now().replace(microsecond=0) + timedelta(seconds=seconds)
        db.execute(update(Throttle).where(Throttle.key == key).values(blocked_until=until))

    in_app(realm, block)


def test_a_wait_of_whole_minutes_reads_1分_not_1分0秒(realm, rp):
    user = realm.user(with_totp=True)
    browser, page = code_page(realm, rp, user)
    clock.freeze(clock.now().replace(microsecond=0))
    block_for(realm, user, 60)
    refused = browser.submit(page, {"code": totp_code(user.totp_secret)})
    assert refused.status == 429, refused.text
    text = words(refused)
    assert "1分後にもう一度お試しください。" in text, text
    assert "0秒" not in text and "1 分" not in text
    assert "セキュリティコードの入力に続けて失敗したため、一時的に入力を停止しています。" in text
    assert 'data-text-whole-minutes="{m}分後にもう一度お試しください。"' in refused.text


def test_a_wait_in_english_reads_min_and_s(realm, rp):
    user = realm.user(with_totp=True)
    browser, page = code_page(realm, rp, user, "en")
    clock.freeze(clock.now().replace(microsecond=0))
    block_for(realm, user, 90)
    refused = browser.submit(page, {"code": totp_code(user.totp_secret)})
    text = words(refused)
    assert "Try again in 1 min 30 s." in text, text
    assert "wrong codes were entered several times in a row" in text


@pytest.mark.parametrize("path", ["totp", "backup-code"])
def test_f6_a_code_page_shown_during_a_long_wait_says_so_and_offers_the_ways_out(realm, rp, path):
    user = realm.user(with_totp=True)
    browser, page = code_page(realm, rp, user)
    block_for(realm, user, 2 * 3600, failures=13)
    shown = browser.get(page.url.rsplit("/", 1)[0] + "/" + path)
    assert shown.status == 200, shown.text
    text = words(shown)
    assert "セキュリティコードの入力に続けて失敗したため、一時的に入力を停止しています。" in text
    assert "約2時間後にもう一度お試しください。" in text, text
    assert 'id="way-out-reset"' in shown.text
    assert "管理者に2要素認証のリセットを依頼してください" in text
    assert 'data-form="code-form"' in shown.text
    # Looking at the page records no refused attempt.
    refusals = in_app(
        realm,
        lambda db: (
            db.query(AuditEvent)
            .filter(AuditEvent.realm_id == realm.id, AuditEvent.type == "login.throttled")
            .count()
        ),
    )
    assert refusals == 0


def test_f6_without_a_wait_the_code_page_shows_no_wait(realm, rp):
    user = realm.user(with_totp=True)
    _, page = code_page(realm, rp, user)
    assert 'id="countdown"' not in page.text and 'id="way-out' not in page.text


# -- 6. the first "2FA turned on" mail has no "earlier codes no longer work" --------------------
def test_the_first_enrolment_mail_does_not_mention_earlier_codes(realm, mailbox):
    user = realm.user()
    in_app(realm, lambda db: setattr(_user(db, user), "locale", "ja"))
    browser, _ = signed_in(realm, user, "account/")
    setup = browser.get(realm.url("account/two-factor/enable"))
    key = re.search(r'<dd id="key"><code>([A-Z2-7 ]+)</code></dd>', setup.text)
    assert key, setup.text
    wait_for_step_room(3)
    secret = key.group(1).replace(" ", "")
    done = browser.submit(setup, {"code": pyotp.TOTP(secret).at(clock.timestamp())})
    assert done.status == 200, done.text
    [mail] = [m for m in mailbox.to(user.email) if "有効" in m.subject]
    assert "2要素認証が有効になりました（IPアドレス：" in mail.text, mail.text
    assert "以前のバックアップコード" not in mail.text, mail.text
    assert "あわせてバックアップコードが発行されました。" in mail.text
    # Replacing the app later: the codes before no longer work, and the mail says so.
    again = browser.get(realm.url("account/two-factor/enable"))
    key = re.search(r'<dd id="key"><code>([A-Z2-7 ]+)</code></dd>', again.text)
    assert key, again.text
    wait_for_step_room(3)
    secret = key.group(1).replace(" ", "")
    browser.submit(again, {"code": pyotp.TOTP(secret).at(clock.timestamp())})
    [replaced] = [m for m in mailbox.to(user.email) if "認証アプリが変更" in m.text]
    assert "以前のバックアップコードは使えなくなりました" in replaced.text, replaced.text


def _user(db: Any, user: Any) -> Any:
    return db.get(User, user.id)


# -- 7. the audit log's details in words ---------------------------------------------------------
def test_the_audit_log_shows_settings_and_their_values_in_words(realm):
    realm.set_policy(require_2fa="all", grace_days=7, passkey_sign_in=False)

    def branding(db: Any) -> None:
        realms.set_realm_branding(
            db, db.get(Realm, realm.id), default_locale="ja", actor="test", client_address=None
        )

    in_app(realm, branding)
    admin = realm.user(admin=True, with_totp=True)
    console, _ = signed_in(realm, admin, "admin/audit?lang=ja")
    page = console.get(realm.url("admin/audit?type=admin.realm.&lang=ja"))
    text = words(page)
    assert "猶予期間（日） 0 → 7" in text, text
    assert "なし → 全員" in text and "none" not in text
    assert "English → 日本語" in text and "en → ja" not in text
    assert "grace_days" not in text
    english = words(console.get(realm.url("admin/audit?type=admin.realm.&lang=en")))
    assert "Grace period (days) 0 → 7" in english and "Nobody → Everyone" in english


# -- 10. the console's 2FA reset says what happens next under the realm policy ------------------
def test_the_reset_confirmation_says_a_covered_user_sets_it_up_again(realm):
    user = realm.user(with_totp=True)
    admin = realm.user(admin=True, with_totp=True)
    console, _ = signed_in(realm, admin, "admin/users?lang=ja")
    page = console.get(realm.url(f"admin/users/{user.id}/reset-2fa?lang=ja"))
    assert "メールアドレスとパスワードだけでログインします" in page.text, page.text
    realm.set_policy(require_2fa="all", grace_days=0)
    page = console.get(realm.url(f"admin/users/{user.id}/reset-2fa?lang=ja"))
    assert "次回ログイン時に、2要素認証の設定をやり直すよう求められます。" in page.text
    assert "パスワードだけでログインします" not in page.text
    page = console.get(realm.url(f"admin/users/{user.id}/reset-2fa?lang=en"))
    assert "they are asked to set up two-factor authentication again" in page.text


# -- 14. the sign-out confirmation says what it does ----------------------------------------------
def test_the_sign_out_confirmation_body_is_not_its_heading(realm):
    user = realm.user()
    browser, _ = signed_in(realm, user, "account/")
    page = browser.get(realm.url("protocol/openid-connect/logout?lang=ja"))
    assert page.status == 200 and "<h1>ログアウトしますか？</h1>" in page.text, page.text
    assert page.text.count("ログアウトしますか？") == 1, page.text
    assert f"このブラウザでTest {realm.name}からログアウトします。" in page.text


# -- 16. the error page's code follows the full-width colon directly ----------------------------
def test_the_error_code_follows_the_colon_without_a_space(realm):
    browser = browser_for(realm, "ja")
    page = browser.get(realm.endpoints["auth"] + "?response_type=code&ui_locales=ja")
    assert 'id="oauth-error"' in page.text, page.text
    assert 'エラーコード：<code id="oauth-error">' in page.text, page.text


# -- 17. the not-enrolled count and its link: no half-width space after 。 ---------------------
def test_the_not_enrolled_count_and_its_link_have_no_space_between_in_japanese(realm):
    realm.set_policy(require_2fa="all", grace_days=7)
    realm.user()
    admin = realm.user(admin=True, with_totp=True)
    console, _ = signed_in(realm, admin, "admin/settings?lang=ja")
    page = console.get(realm.url("admin/settings?lang=ja"))
    line = re.search(r'<p class="hint" id="not-enrolled-count">(.*?)</p>', page.text, re.S)
    assert line, page.text
    assert "。<a " in line.group(1), line.group(1)
    assert "。 " not in line.group(1)
    english = console.get(realm.url("admin/settings?lang=en"))
    line = re.search(r'<p class="hint" id="not-enrolled-count">(.*?)</p>', english.text, re.S)
    assert line and "yet. <a " in line.group(1), line
