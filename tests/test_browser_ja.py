"""SPEC section 8: the help page's whole story in Japanese, in Chromium set to ``ja-JP``, finding
every control by the Japanese labels the help page uses (個人設定, 2要素認証を設定する,
セキュリティコード, 認証する, 2要素認証が有効化されました。, バックアップコードをダウンロード,
バックアップコードを使用してログインする, 解除する, 管理設定, ユーザー管理, 2要素認証を解除する)."""

from __future__ import annotations

import re
import time
from pathlib import Path

import pyotp
import pytest
from playwright.sync_api import Page, expect

from tests.browser_support import ENGLISH_RUN, amr_of, japanese_page, scan_qr, shown_key

pytestmark = pytest.mark.browser


def sign_in(page: Page, email: str, password: str) -> None:
    expect(page.get_by_role("heading", name="ログイン")).to_be_visible()
    japanese_page(page, "Test RP")
    page.get_by_label("メールアドレス").fill(email)
    page.get_by_label("パスワード").fill(password)
    page.get_by_role("button", name="ログイン").click()


def menu(page: Page, email: str, item: str) -> None:
    nav = page.get_by_role("navigation", name="アカウントメニュー")
    nav.get_by_text(email, exact=True).click()
    nav.get_by_role("button" if item == "ログアウト" else "link", name=item).click()


def test_s8_help_page_story_in_japanese(realm, test_rp, new_context):
    user = realm.user()
    page = new_context(locale="ja-JP")

    # -- 個人設定 > 2要素認証を設定する ------------------------------------------------------
    page.goto(realm.url("account/"))
    sign_in(page, user.email, user.password)
    expect(page.get_by_role("heading", name="個人設定")).to_be_visible()
    japanese_page(page, user.email)
    menu(page, user.email, "2要素認証")
    expect(page.locator("#status")).to_have_text("2要素認証は有効になっていません。")
    page.get_by_role("link", name="2要素認証を設定する").click()
    expect(page.get_by_role("heading", name="2要素認証を設定する")).to_be_visible()
    japanese_page(page, user.email, "Google Authenticator")
    app = scan_qr(page)
    assert app.secret == shown_key(page)
    page.get_by_label("セキュリティコード").fill(app.now())
    page.get_by_role("button", name="認証する").click()
    expect(page.get_by_role("heading", name="2要素認証が有効化されました。")).to_be_visible()
    japanese_page(page, user.email)

    # -- バックアップコードをダウンロード -----------------------------------------------------
    with page.expect_download() as info:
        page.get_by_role("button", name="バックアップコードをダウンロード").click()
    text = Path(info.value.path()).read_text(encoding="utf-8")
    codes = re.findall(r"\b\d{4}-\d{4}\b", text)
    assert len(set(codes)) == 10, text
    assert "バックアップコード" in text and user.email in text
    assert not ENGLISH_RUN.findall(text.replace(user.email, " ").replace(realm.name, " ")), text

    menu(page, user.email, "ログアウト")
    expect(page.get_by_role("heading", name="ログアウトしました")).to_be_visible()
    japanese_page(page)

    # -- セキュリティコードでログイン --------------------------------------------------------
    page.goto(test_rp.login_url)
    sign_in(page, user.email, user.password)
    expect(page.get_by_label("セキュリティコード")).to_be_visible()
    japanese_page(page, user.email, "Test RP")
    # The enrolment spent the current step; each step is accepted once: use the next one.
    page.get_by_label("セキュリティコード").fill(pyotp.TOTP(app.secret).at(time.time() + 30))
    page.get_by_role("button", name="ログイン", exact=True).click()
    expect(page.locator("#who")).to_contain_text(f"Signed in as {user.email}")
    assert "otp" in amr_of(page.locator("#who").inner_text())

    page.goto(realm.url("account/"))
    menu(page, user.email, "ログアウト")
    expect(page.get_by_role("heading", name="ログアウトしました")).to_be_visible()

    # -- バックアップコードを使用してログインする ---------------------------------------------
    page.goto(test_rp.login_url)
    sign_in(page, user.email, user.password)
    page.get_by_role("link", name="バックアップコードを使用してログインする").click()
    japanese_page(page, user.email, "Test RP")
    page.get_by_label("バックアップコード").fill(codes[0])
    page.get_by_role("button", name="ログイン", exact=True).click()
    expect(page.get_by_role("heading", name="バックアップコードでログインしました")).to_be_visible()
    japanese_page(page, user.email, "Test RP")
    page.get_by_role("button", name="続行").click()
    expect(page.locator("#who")).to_contain_text(f"Signed in as {user.email}")
    assert "backup_code" in amr_of(page.locator("#who").inner_text())

    # -- 解除する ----------------------------------------------------------------------------
    page.goto(realm.url("account/two-factor"))
    expect(page.locator("#status")).to_have_text("2要素認証は有効です。")
    japanese_page(page, user.email)
    page.get_by_role("link", name="解除する", exact=True).click()
    expect(page.get_by_role("heading", name="2要素認証を解除しますか？")).to_be_visible()
    japanese_page(page, user.email)
    page.get_by_role("button", name="解除する", exact=True).click()
    expect(page.locator("#status")).to_have_text("2要素認証は有効になっていません。")
    expect(page.get_by_role("status")).to_contain_text("2要素認証を解除しました。")

    # -- 管理設定 > ユーザー管理 > 2要素認証を解除する ----------------------------------------
    admin = realm.user(admin=True)
    victim = realm.user(with_totp=True)
    console = new_context(locale="ja-JP")
    console.goto(realm.url("account/"))
    sign_in(console, admin.email, admin.password)
    menu(console, admin.email, "管理設定")
    expect(console.get_by_role("heading", name="ユーザー管理")).to_be_visible()
    japanese_page(console, admin.email, victim.email, user.email)
    row = console.locator("#users tbody tr").filter(has_text=victim.email)
    expect(row.locator("td.twofa")).to_have_text("有効")
    row.get_by_role("link", name=victim.email).click()
    japanese_page(console, admin.email, victim.email)
    console.get_by_role("link", name="2要素認証を解除する").click()
    expect(
        console.get_by_role("heading", name=re.compile("2要素認証を解除しますか"))
    ).to_be_visible()
    japanese_page(console, admin.email, victim.email)
    console.get_by_role("button", name="解除する", exact=True).click()
    expect(console.locator("#twofa-status")).to_have_text("未設定")
    japanese_page(console, admin.email, victim.email)
