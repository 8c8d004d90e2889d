"""Issue 15, "Japanese, as a native reader and the seed see it": one term for each thing, kept
in a glossary that this module enforces over the Japanese catalog and the mails as they are
rendered; the seed's words where the seed names a control; Japanese spacing and punctuation;
and, through real HTTP and a real SMTP server, what a Japanese employee sees: the audit log's
sign-in event, the sign-in code page's button, a mail that opens with the name and 様 and
names 日本時間, and an invitation written in the language the inviting admin chose."""

from __future__ import annotations

import html
import re
from pathlib import Path
from typing import Any

import pytest
from babel.messages.pofile import read_po
from flask import render_template
from flask_babel import force_locale

from idp.db import get_session
from idp.models import User
from tests.helpers import Browser, Page, run_idp
from tests.support.console import audit_rows
from tests.support.flows import authorize_url
from tests.support.password_reset import ask_for_link

pytestmark = pytest.mark.slow

ROOT = Path(__file__).resolve().parent.parent
PO = ROOT / "idp/translations/ja/LC_MESSAGES/messages.po"
JAPANESE = re.compile("[\u3040-\u30ff\u4e00-\u9fff]")

#: One term for each thing: the word used, and the words that must not be used for it.
GLOSSARY: dict[str, list[str]] = {
    "ブラウザ": ["ブラウザー"],
    "すでに": ["既に"],
    "個人設定": ["アカウントページ", "個人設定ページ"],
    "組織": ["レルム"],  # the realm: 組織, 組織設定 (レルム is jargon to Japanese staff)
    "ログイン": ["サインイン", "ログオン"],
    "認証アプリ": ["認証アプリケーション", "オーセンティケーター"],
    "セキュリティコード": ["ワンタイムコード", "確認コード", "認証コード"],
    "バックアップコード": ["リカバリーコード", "回復コード"],
    "2要素認証": ["二段階認証", "2段階認証", "二要素認証"],
    "既定の言語": ["デフォルトの言語"],
    "送信": ["請求"],  # a link is sent (送信) or asked for (依頼), never billed (請求)
    "承諾": ["受け入れ"],  # an invitation is accepted: 承諾
    "お心当たり": [],
    "お問い合わせください": ["連絡してください"],
    "ご確認ください": ["になっているか確認してください"],  # the wrong-code texts
    "キー": ["認証アプリの鍵", "鍵の置き換え"],
    "IPアドレス": ["IP アドレス"],
}
#: The application a user signs in to is an アプリケーション; アプリ alone is only ever the
#: authenticator app (認証アプリ).
BARE_APP = re.compile("(?<!認証)アプリ(?!ケーション)")
#: A name (a placeholder) directly followed by a particle, with no space between.
NAME_THEN_SPACE_THEN_PARTICLE = re.compile(r"%\(\w+\)s [をにがのはでとへもやか]")
#: A number (or a number's placeholder) and its counter or unit are written together
#: (「6桁」「7日間」「10個」), as is まで after a date: a space between them reads unevenly and
#: lets a line break inside the count (「30 / 分間」).
NUMBER_SPACE_COUNTER = re.compile(
    r"(?:\d|%\(\w+\)[ds]) +(?:個|人|件|分|秒|時間|日|桁|文字|回|週|か月|まで)"
    r"|(?:分|時間) +(?:\d|%\(\w+\)[ds])"  # 「1分30秒」, not 「1分 30秒」
    # 「残り9個」「を30日間」: no space before a count either.
    r"|[\u3040-\u30ff\u4e00-\u9fff、（] +(?:\d+|%\(\w+\)d)(?:〜(?:\d+|%\(\w+\)d))?"
    r"(?:個|人|件|分|秒|時間|日|桁|文字|回|週|か月)"
)
#: A place in the pages is named as the seed names it: 「個人設定」の「2要素認証」.
ARROW_PATH = re.compile("個人設定 ?→|」 ?→ ?「")


def _japanese_strings() -> list[tuple[str, str]]:
    with PO.open("rb") as f:
        catalog = read_po(f)
    found = []
    for message in catalog:
        if not message.id:
            continue
        msgid = message.id if isinstance(message.id, str) else message.id[0]
        strings = [message.string] if isinstance(message.string, str) else message.string
        found += [(msgid, s) for s in strings if s]
    return found


def _problems(text: str) -> list[str]:
    """What in ``text`` (Japanese) breaks the glossary or the punctuation rules."""
    found = []
    for term, wrong in GLOSSARY.items():
        found += [f"{w} (use {term})" for w in wrong if w in text]
    if re.search("(?<!お)心当たり", text):
        found.append("心当たり (use お心当たり)")
    if BARE_APP.search(text):
        found.append("アプリ (use アプリケーション, or 認証アプリ for the authenticator app)")
    if "。 " in text:
        found.append("a half-width space after 。")
    if JAPANESE.search(text) and re.search(r":( |$)", text):
        found.append("an ASCII colon in a Japanese sentence (use ：)")
    if NAME_THEN_SPACE_THEN_PARTICLE.search(text):
        found.append("a space between a name and its particle")
    if NUMBER_SPACE_COUNTER.search(text):
        found.append("a space between a number and its counter (write 10個, 7日以内)")
    if ARROW_PATH.search(text):
        found.append("an arrow between page names (write 「個人設定」の「2要素認証」)")
    return found


# -- the catalog ---------------------------------------------------------------------------
def test_the_catalog_keeps_one_term_for_each_thing():
    problems = {
        msgid: problems for msgid, string in _japanese_strings() if (problems := _problems(string))
    }
    assert problems == {}


def test_the_glossary_terms_are_the_ones_used():
    """Each term of the glossary is in use, so the test guards words the pages show."""
    joined = "\n".join(string for _msgid, string in _japanese_strings())
    for term in GLOSSARY:
        assert term in joined, term
    for word in ("組織設定", "アプリケーション", "ログイン成功", "2要素認証は有効です。"):
        assert word in joined, word


def test_the_seed_names_the_sign_in_button_login_and_the_enrolment_button_verify():
    catalog = {msgid: string for msgid, string in _japanese_strings()}
    assert catalog["Sign in"] == "ログイン"
    assert catalog["Verify"] == "認証する"
    for template in ("login/totp.html", "login/backup_code.html"):
        text = (ROOT / "templates" / template).read_text()
        assert '<button type="submit">{{ _("Sign in") }}</button>' in text, template
    enrol = (ROOT / "templates/login/enrol.html").read_text()
    assert '_("Verify")' in enrol


# -- the mails, rendered in Japanese ----------------------------------------------------------
MAIL_PARAMS: list[dict[str, Any]] = [
    {"client_address": "192.0.2.1", "count": 3, "by": "user", "reset_path": "/r",
     "link_path": "/l", "days": 7, "minutes": 30, "hours": 24, "inviter": "管理者 花子",
     "forgot_path": "/f", "replaced": False},
    {"client_address": None, "count": 0, "by": "admin", "reset_path": "",
     "link_path": "/l", "days": 7, "minutes": 30, "hours": 24, "inviter": "",
     "forgot_path": "/f", "replaced": True},
    {"by": "operator", "reset_path": "", "link_path": "/l", "days": 7, "hours": 24,
     "minutes": 30, "forgot_path": "/f"},
]  # fmt: skip


def _rendered_mails(app: Any) -> dict[str, str]:
    from idp.mail.catalog import SUBJECTS

    mails = {}
    with app.test_request_context("/"), force_locale("ja"):
        for name in SUBJECTS:
            for number, params in enumerate(MAIL_PARAMS):
                values = {
                    "params": params,
                    "realm_name": "株式会社サンプル",
                    "realm": "main",
                    "link": lambda path: "https://id.example.co.jp" + path,
                    "to_address": "tanaka@example.co.jp",
                    "when": "2026/12/07 10:39",
                    "timezone": "日本時間",
                    "lang": "ja",
                    "subject": "件名",
                    "recipient_name": "田中 太郎",
                }
                for kind in ("txt", "html"):
                    text = render_template(f"mail/{name}.{kind}", **values)
                    if kind == "html":
                        # A line break inside a paragraph shows as a space.
                        text = re.sub(r"(?<=[^>\s])[ \t]*\n\s*(?=[^<\s])", " ", text)
                        text = html.unescape(re.sub(r"<[^>]+>", "", text))
                    mails[f"{name}.{kind} #{number}"] = text
    return mails


def test_every_mail_in_japanese_keeps_the_glossary(app):
    mails = _rendered_mails(app)
    problems = {}
    for name, text in mails.items():
        # Links and addresses are not sentences.
        lines = [line for line in text.splitlines() if "://" not in line]
        if found := _problems("\n".join(lines)):
            problems[name] = found
    assert problems == {}
    for name, text in mails.items():
        if name.split(" ")[0].endswith(".txt"):
            assert text.startswith("田中 太郎 様\n\n"), (name, text)
        else:  # the realm's name heads the HTML mail, then the salutation
            assert "\n株式会社サンプル\n田中 太郎 様\n" in text, (name, text)
        assert "このメールは送信専用です" in text, name
        assert "株式会社サンプル アカウント" not in text.split("-- ")[0], name


def test_the_lockout_mail_subject_is_business_japanese(app):
    from idp.mail.catalog import SUBJECTS

    with app.test_request_context("/"), force_locale("ja"):
        from flask_babel import gettext

        subject = gettext(SUBJECTS["second_factor_lockout"])
    assert subject == "アカウントへの不審なログインがありました"


# -- through HTTP: what a Japanese employee and admin see -------------------------------------
def _sign_in(realm: Any, user: Any, path: str = "account/") -> tuple[Browser, Page]:
    browser = realm.browser()
    page = browser.get(realm.url(path))
    assert 'name="password"' in page.text, page.text
    return browser, browser.submit(page, {"email": user.email, "password": user.password})


def _set_user(realm: Any, email: str, **values: Any) -> None:
    with realm.server.app.app_context():
        db = get_session()
        row = db.query(User).filter(User.email == email).one()
        for key, value in values.items():
            setattr(row, key, value)
        db.commit()


def test_the_audit_log_calls_a_sign_in_ログイン成功_and_names_the_actor_in_words(realm):
    user = realm.user()
    browser, home = _sign_in(realm, user)  # login.succeeded
    assert home.status == 200
    # A wrong password from nobody signed in: login.password.failed, actor "anonymous".
    stranger = realm.browser()
    page = stranger.get(realm.url("account/"))
    stranger.submit(page, {"email": user.email, "password": "not the password"})
    admin = realm.user(admin=True)
    console, _ = _sign_in(realm, admin)
    page = console.get(realm.url(f"admin/audit?user={user.email}&lang=ja"))
    rows = {row["type"]: row for row in audit_rows(page)}
    label = re.search(
        r'<tr data-type="login.succeeded"[^>]*>.*?<span class="event-label">(.*?)</span>',
        page.text,
        re.S,
    )
    assert label and label[1] == "ログイン成功", page.text
    assert '<option value="login.succeeded">ログイン成功</option>' in page.text
    assert rows["login.succeeded"]["actor"] == f"user:{user.email}"  # as recorded
    assert rows["login.succeeded"]["actor_shown"] == f"ユーザー：{user.email}"
    assert rows["login.password.failed"]["actor_shown"] == "（未認証）"
    # The sessions column keeps its own words: the time the session signed in.
    sessions = browser.get(realm.url("account/?lang=ja"))
    assert '<th scope="col">ログイン日時</th>' in sessions.text
    # In English the event reads as before.
    page = console.get(realm.url(f"admin/audit?user={user.email}&lang=en"))
    assert '<option value="login.succeeded">Signed in</option>' in page.text
    assert "(not signed in)" in page.text and f"User: {user.email}" in page.text


def test_the_sign_in_code_pages_button_says_ログイン(realm, rp):
    user = realm.user(with_totp=True)
    browser = realm.browser()
    page = browser.get(authorize_url(realm, rp, ui_locales="ja"))
    page = browser.submit(page, {"email": user.email, "password": user.password})
    assert "/totp" in page.url, page.text
    assert '<button type="submit">ログイン</button>' in page.text
    assert "認証する" not in page.text
    assert "Test RPにログイン" in page.text  # the app's name, then its particle
    assert f"ログインするアカウント：{user.email}" in page.text
    backup = browser.get(page.link("バックアップコードを使用してログインする"))
    assert '<button type="submit">ログイン</button>' in backup.text


@pytest.mark.settings(timezone="Asia/Tokyo")
def test_a_mail_to_a_named_user_opens_with_the_name_and_様_and_names_日本時間(realm, mailbox):
    user = realm.user()
    _set_user(realm, user.email, display_name="田中 太郎", locale="ja")
    ask_for_link(realm.browser(), realm, user.email)
    [mail] = mailbox.to(user.email)
    assert mail.subject.startswith("パスワードの再設定"), mail.subject
    assert mail.text.startswith("田中 太郎 様\n\n"), mail.text
    assert "（日本時間）" in mail.text and "Asia/Tokyo" not in mail.text
    assert re.search(r"\d{4}/\d\d/\d\d \d{1,2}:\d\d（日本時間）", mail.text), mail.text
    assert "このメールは送信専用です" in mail.text
    assert "<p>田中 太郎 様</p>" in mail.html


def test_a_mail_to_an_account_without_a_name_does_not_invent_one(realm, mailbox):
    user = realm.user()  # its name is the part of the address before the @
    _set_user(realm, user.email, locale="en")
    ask_for_link(realm.browser(), realm, user.email)
    [mail] = mailbox.to(user.email)
    assert mail.text.startswith("Someone asked to reset the password"), mail.text


def test_an_invitation_is_written_in_the_language_the_admin_chose(realm, mailbox):
    admin = realm.user(admin=True)
    console, _ = _sign_in(realm, admin)
    form = console.get(realm.url("admin/users/invite?lang=en"))
    # The form offers the languages, the admin's own page language chosen.
    assert '<option value="en" lang="en" selected>English</option>' in form.text
    assert '<option value="ja" lang="ja">日本語</option>' in form.text
    done = console.submit(
        form, {"email": "sato@example.co.jp", "name": "佐藤 花子", "locale": "ja"}
    )
    assert done.status == 200 and "sato@example.co.jp is invited" in done.text, done.text
    [mail] = mailbox.to("sato@example.co.jp")
    assert mail.subject.startswith("ご招待：アカウントを設定してください"), mail.subject
    assert mail.text.startswith("佐藤 花子 様\n\n"), mail.text
    assert "への招待が届いています" in mail.text
    # Without a choice, the invitation is in the admin's page language.
    ja_form = console.get(realm.url("admin/users/invite?lang=ja"))
    assert '<option value="ja" lang="ja" selected>日本語</option>' in ja_form.text
    console.submit(ja_form, {"email": "suzuki@example.co.jp"}, action="/users/invite")
    [mail] = mailbox.to("suzuki@example.co.jp")
    assert mail.subject.startswith("ご招待"), mail.subject
    # An English choice from a Japanese page gives an English invitation.
    console.submit(ja_form, {"email": "lee@example.com", "locale": "en"})
    [mail] = mailbox.to("lee@example.com")
    assert mail.subject.startswith("You are invited"), mail.subject


def test_the_operator_chooses_the_invitations_language_on_the_command_line(realm, mailbox):
    """`idp user invite --language ja` from a realm whose default is English: the same choice
    as the console's invite form."""
    done = run_idp(
        realm.server,
        *("user", "invite", "kato@example.co.jp", "--name", "加藤 一郎"),
        *("--language", "ja", "--realm", realm.name),
    )
    assert done.returncode == 0, done.stderr
    [mail] = mailbox.to("kato@example.co.jp")
    assert mail.subject.startswith("ご招待"), mail.subject
    assert mail.text.startswith("加藤 一郎 様\n\n"), mail.text
    refused = run_idp(
        realm.server, "user", "invite", "x@example.com", "--language", "fr", "--realm", realm.name
    )
    assert refused.returncode != 0 and "fr" in refused.stderr


def test_sentences_the_code_puts_together_have_no_space_between_them_in_japanese(realm):
    admin = realm.user(admin=True)
    console, _ = _sign_in(realm, admin)
    for lang, joined in (
        ("ja", "保存されていません。アクセントカラーは"),
        ("en", "Nothing was saved. Write the accent colour"),
    ):
        page = console.get(realm.url(f"admin/settings?lang={lang}"))
        refused = console.submit(
            page,
            {"display_name": "Acme", "default_locale": "en", "accent_color": "#12345z"},
            action="/settings/branding",
        )
        assert refused.status == 400 and joined in html.unescape(refused.text), refused.text
