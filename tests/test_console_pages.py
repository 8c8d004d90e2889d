"""The console's user and audit pages (issue 7, SPEC A1-A4 and section 8): disabling an
account asks first, empty lists say so, the audit log's type filter lists the known event
types (one registry, checked against every ``record_event`` in idp/), times in the one
stated time zone and the page's language, each event's detail without secrets, the 2FA badge
and one layout for the user list and the user page, in English and Japanese; and, in
Chromium, an audit table that needs no sideways scrolling at 1280 px or 360 px."""

from __future__ import annotations

import ast
import html
import re
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import delete

from idp.db import get_session
from idp.models import AuditEvent, Realm
from idp.services import audit
from idp.services.audit import EVENT_LABELS, HIDDEN, detail_items, matching_types
from idp.services.users import find_user_by_email
from tests.helpers import Browser, Page
from tests.support.console import admin_browser, audit_rows, user_state
from tests.support.pages import csrf_token, notices

pytestmark = pytest.mark.slow

ROOT = Path(__file__).resolve().parent.parent
#: The event types other parts of issue 7 add (the common brief's shared names).
NEW_TYPES = (
    "login.password.failed",
    "login.throttled",
    "admin.realm.branding_changed",
    "session.signed_out",
    "session.signed_out_all",
)


# -- helpers ----------------------------------------------------------------------------------
def text_of(fragment: str) -> str:
    return " ".join(html.unescape(re.sub(r"<[^>]+>", " ", fragment)).split())


def empty_message(page: Page) -> str | None:
    match = re.search(r'<p class="empty"[^>]*>(.*?)</p>', page.text, re.S)
    return text_of(match.group(1)) if match else None


def heading(page: Page) -> str:
    match = re.search(r"<h1>(.*?)</h1>", page.text, re.S)
    assert match, page.text
    return text_of(match.group(1))


def type_options(page: Page) -> dict[str, str]:
    """The type filter's options: value -> label (the "All events" choice has value "")."""
    select = re.search(r'<select id="type" name="type"[^>]*>(.*?)</select>', page.text, re.S)
    assert select, page.text
    return {
        html.unescape(value): text_of(label)
        for value, label in re.findall(r'<option value="([^"]*)"[^>]*>(.*?)</option>', select[1])
    }


def selected_type(page: Page) -> str:
    found = re.findall(r'<option value="([^"]*)" selected>', page.text)
    assert len(found) == 1, found
    return html.unescape(found[0])


def add_event(
    realm: Any, type_: str, *, at: datetime | None = None, subject: str | None = None, **kw: Any
) -> None:
    """An event recorded as the services do (about the user ``subject``, an email), at a
    chosen time."""
    with realm.server.app.app_context():
        db = get_session()
        user = None
        if subject is not None:
            user = find_user_by_email(db, db.get(Realm, realm.id), subject)
        event = audit.record_event(
            db, realm.id, type_, actor=kw.pop("actor", "test"), subject=user, **kw
        )
        if at is not None:
            event.created_at = at
        db.commit()


# -- disabling an account asks first ----------------------------------------------------------
def test_disabling_an_account_asks_for_confirmation_first(realm):
    user = realm.user()
    admin, browser, _ = admin_browser(realm)
    detail = browser.get(realm.url(f"admin/users/{user.id}"))
    # The user page links to the confirmation; it has no form that disables at once.
    fields = [{(n, v) for n, v, _ in form["fields"]} for form in detail.forms]
    assert not [f for f in fields if ("action", "disable") in f]
    confirm = browser.get(detail.link("Disable account"))
    assert confirm.status == 200 and confirm.url.endswith(f"/admin/users/{user.id}/disable")
    assert heading(confirm) == f"Disable the account {user.email}?"
    assert "Their sessions end and their tokens are revoked" in confirm.text
    # Opening the confirmation, and cancelling, change nothing.
    assert user_state(realm, user.email)[0] is False
    back = browser.get(confirm.link("Cancel"))
    assert back.url.endswith(f"/admin/users/{user.id}")
    assert re.search(r'<dd id="account-status">Active</dd>', back.text)
    events = realm.url(f"admin/audit?user={user.email}&type=admin.user")
    assert audit_rows(browser.get(events)) == []

    # A forged POST (no token, or a wrong one) is refused and changes nothing.
    url = realm.url(f"admin/users/{user.id}/status")
    for extra in ({}, {"csrf_token": "forged"}):
        resp = browser.session.post(
            url, data={"action": "disable", **extra}, allow_redirects=False, timeout=10
        )
        assert resp.status_code == 400, extra
    assert user_state(realm, user.email)[0] is False

    # The confirmation's own POST disables.
    done = browser.submit(confirm)
    assert done.url.endswith(f"/admin/users/{user.id}")
    assert f"The account {user.email} is disabled." in notices(done)
    assert user_state(realm, user.email)[0] is True
    rows = [(r["type"], r["actor"]) for r in audit_rows(browser.get(events))]
    assert rows == [("admin.user.disabled", f"admin:{admin.email}")]

    # A disabled account has nothing to confirm: the confirmation goes back to the user page,
    # and "Enable account" is a button that acts at once.
    again = browser.get(realm.url(f"admin/users/{user.id}/disable"))
    assert again.url.endswith(f"/admin/users/{user.id}")
    assert "Disable account" not in [label for label, _ in again.links]
    enabled = browser.submit(again, action="/status")
    assert f"The account {user.email} is enabled." in notices(enabled)
    assert user_state(realm, user.email)[0] is False


def test_disable_confirmation_in_japanese(realm):
    user = realm.user(with_totp=True)
    _, browser, _ = admin_browser(realm)
    detail = browser.get(realm.url(f"admin/users/{user.id}?lang=ja"))
    assert '<html lang="ja">' in detail.text
    assert "2要素認証を解除する" in [label for label, _ in detail.links]
    confirm = browser.get(detail.link("アカウントを無効にする"))
    assert heading(confirm) == f"{user.email}のアカウントを無効にしますか？"
    assert ">無効にする</button>" in confirm.text
    reset = browser.get(detail.link("2要素認証を解除する"))
    assert heading(reset) == f"{user.email}の2要素認証を解除しますか？"
    assert ">解除する</button>" in reset.text
    done = browser.submit(reset)
    assert f"{user.email}の2要素認証を解除しました。" in notices(done)


# -- empty lists --------------------------------------------------------------------------------
def test_empty_lists_say_so(realm):
    user = realm.user()
    _, browser, _ = admin_browser(realm)
    none = browser.get(realm.url("admin/users?q=nobody-like-this"))
    assert none.status == 200
    assert empty_message(none) == "No users match “nobody-like-this”. Show all users"
    assert '<table id="users">' not in none.text
    assert browser.get(none.link("Show all users")).url.endswith("/admin/users")

    quiet = browser.get(realm.url("admin/audit?type=admin.realm.branding_changed"))
    assert quiet.status == 200 and '<table id="events"' not in quiet.text
    assert empty_message(quiet) == "No events match these filters. Show all events"
    nobody = browser.get(realm.url("admin/audit?user=nobody-like-this"))
    assert empty_message(nobody) == "No events match these filters. Show all events"
    beyond = browser.get(realm.url("admin/audit?page=99"))
    assert empty_message(beyond).startswith("There is nothing on this page.")

    detail = browser.get(realm.url(f"admin/users/{user.id}"))
    assert empty_message(detail) == "This user has not set up two-factor authentication."

    ja = browser.get(realm.url("admin/users?q=nobody-like-this&lang=ja"))
    assert empty_message(ja) == (
        "「nobody-like-this」に一致するユーザーはいません。 すべてのユーザーを表示"
    )
    ja_events = browser.get(realm.url("admin/audit?type=login.throttled"))
    assert empty_message(ja_events).startswith("条件に一致するイベントはありません。")


def test_a_realm_with_no_events_says_so(realm):
    """An unfiltered log with nothing in it (the admin's own sign-in is recorded, so the
    test clears the realm's log first)."""
    _, browser, _ = admin_browser(realm)
    with realm.server.app.app_context():
        db = get_session()
        db.execute(delete(AuditEvent).where(AuditEvent.realm_id == realm.id))
        db.commit()
    page = browser.get(realm.url("admin/audit"))
    assert empty_message(page) == "Nothing has been recorded yet."


# -- the type filter and its registry -----------------------------------------------------------
def test_type_filter_lists_the_known_types_and_filters_by_one(realm):
    user = realm.user(with_totp=True)
    add_event(
        realm,
        "login.password.failed",
        subject=user.email,
        outcome="failure",
        detail={"reason": "wrong_password"},
    )
    _, browser, _ = admin_browser(realm)
    page = browser.get(realm.url("admin/audit"))
    options = type_options(page)
    assert options.pop("") == "All events"
    assert options == {e.type: e.label for e in audit.EVENT_TYPES}
    assert selected_type(page) == ""
    # Grouped by area, in the registry's order.
    groups = re.findall(r'<optgroup label="([^"]+)">', page.text)
    assert groups == [
        "Sign-in",
        "Two-factor authentication",
        "Account",
        "Sessions",
        "Administration",
    ]
    kinds = {r["type"] for r in audit_rows(page)}
    assert {"mfa.totp.enabled", "login.password.failed", "login.succeeded"} <= kinds

    one = browser.get(realm.url("admin/audit?type=mfa.totp.enabled"))
    assert selected_type(one) == "mfa.totp.enabled"
    rows = audit_rows(one)
    assert rows and {r["type"] for r in rows} == {"mfa.totp.enabled"}
    assert "Two-factor authentication enabled" in text_of(one.text.split('<table id="events"')[1])
    # The filter form round-trips: submitting it keeps the type chosen.
    again = browser.submit(one, {"type": "login.password.failed"}, action="/admin/audit")
    assert [r["type"] for r in audit_rows(again)] == ["login.password.failed"]
    assert audit_rows(again)[0]["outcome"] == "failure"
    # A path prefix from a link selects its types, and stays selected as its own choice.
    mfa = browser.get(realm.url("admin/audit?type=mfa."))
    assert selected_type(mfa) == "mfa."
    assert type_options(mfa)["mfa."] == "Types starting with “mfa.”"
    assert {r["type"] for r in audit_rows(mfa)} == {"mfa.totp.enabled", "mfa.backup_codes.issued"}

    # Japanese labels.
    ja = type_options(browser.get(realm.url("admin/audit?lang=ja")))
    assert ja["login.password.failed"] == "パスワードでのログインに失敗"
    assert ja["admin.mfa.reset"] == "管理者が2要素認証を解除"


@pytest.mark.parametrize("value", ["no.such.type", "<b>x</b>", "mfa.totp.enabled.x", "%"])
def test_an_unknown_type_is_a_clear_state_not_an_error(realm, value):
    _, browser, _ = admin_browser(realm)
    resp = browser.session.get(realm.url("admin/audit"), params={"type": value}, timeout=10)
    assert resp.status_code == 400, resp.text
    error = re.search(r'<p class="error" role="alert" id="error">(.*?)</p>', resp.text, re.S)
    assert error, resp.text
    assert text_of(error[1]) == f"There is no event type “{value}”. Choose one from the list."
    assert "<b>x</b>" not in resp.text
    assert '<table id="events"' not in resp.text
    assert 'aria-describedby="error"' in resp.text  # the select points at the error
    assert matching_types(value) == []


def _recorded_types() -> dict[str, list[str]]:
    """Every event type idp/ passes to ``record_event`` (the third argument or ``type=``)
    or forwards to it as ``event_type=``: type -> where. A type that is not a literal (an
    f-string, a variable other than the forwarding ``event_type`` parameter) fails here,
    since no registry could be checked against it."""
    found: dict[str, list[str]] = {}

    def literals(node: ast.expr | None, where: str) -> list[str]:
        if isinstance(node, ast.Constant) and isinstance(node.value, str):
            return [node.value]
        if isinstance(node, ast.IfExp):
            return literals(node.body, where) + literals(node.orelse, where)
        if isinstance(node, ast.Name) and node.id in ("event_type", "type"):
            return []  # a function's parameter, forwarded: its callers' literals count
        raise AssertionError(f"{where}: an event type that is not a literal string")

    for path in sorted((ROOT / "idp").rglob("*.py")):
        tree = ast.parse(path.read_text(encoding="utf-8"), str(path))
        for node in ast.walk(tree):
            if not isinstance(node, ast.Call):
                continue
            func = node.func
            name = func.attr if isinstance(func, ast.Attribute) else getattr(func, "id", "")
            where = f"{path.relative_to(ROOT)}:{node.lineno}"
            args: list[ast.expr | None] = [k.value for k in node.keywords if k.arg == "event_type"]
            if name == "record_event":
                keyword = [k.value for k in node.keywords if k.arg == "type"]
                args.append(node.args[2] if len(node.args) > 2 else (keyword or [None])[0])
            for arg in args:
                for value in literals(arg, where):
                    found.setdefault(value, []).append(where)
    return found


def test_every_recorded_event_type_is_in_the_registry():
    recorded = _recorded_types()
    # The scan does find the calls (a broken scan would pass vacuously).
    assert {
        "mfa.totp.enabled",
        "admin.mfa.reset",
        "mfa.disabled",
        "admin.user.disabled",
        "login.second_factor.failed",
    } <= set(recorded)
    missing = {kind: where for kind, where in recorded.items() if kind not in EVENT_LABELS}
    assert not missing, f"event types missing from idp/services/audit.py EVENT_TYPES: {missing}"
    for kind in NEW_TYPES:
        assert kind in EVENT_LABELS, kind
    # Types read like paths, and the registry has each once, with a label and a known group.
    types = [e.type for e in audit.EVENT_TYPES]
    assert len(types) == len(set(types))
    for event in audit.EVENT_TYPES:
        assert re.fullmatch(r"[a-z_]+(\.[a-z_]+)+", event.type), event.type
        assert event.label and event.group in audit.GROUPS


def test_registry_labels_are_translated():
    from babel.messages.pofile import read_po

    with (ROOT / "idp/translations/ja/LC_MESSAGES/messages.po").open("rb") as f:
        entries = [m for m in read_po(f) if m.id]
    catalog = {m.id: m.string for m in entries if not m.context}
    in_context = {m.id: m.string for m in entries if m.context == audit.LABEL_CONTEXT}
    labels = list(audit.GROUPS.values())
    labels += list(audit.DETAIL_LABELS.values()) + list(audit.VALUE_LABELS.values())
    assert [label for label in labels if not catalog.get(label)] == []
    # Event labels have their own context: "Signed in" is an event here, a column elsewhere.
    assert [e.label for e in audit.EVENT_TYPES if not in_context.get(e.label)] == []


# -- times, in one stated zone and the page's language --------------------------------------------
AT = datetime(2026, 1, 15, 3, 4, 5, tzinfo=UTC)


def _event_time(browser: Browser, realm: Any, email: str, lang: str = "en") -> tuple[str, Page]:
    page = browser.get(realm.url(f"admin/audit?user={email}&type=admin.user.enabled&lang={lang}"))
    rows = audit_rows(page)
    assert len(rows) == 1, rows
    return rows[0]["time"], page


def test_times_are_in_utc_by_default_and_say_so(realm):
    user = realm.user()
    add_event(realm, "admin.user.enabled", subject=user.email, at=AT)
    _, browser, _ = admin_browser(realm)
    shown, page = _event_time(browser, realm, user.email)
    assert shown == "Jan 15, 2026, 3:04 AM"
    assert '<time datetime="2026-01-15T03:04:05' in page.text
    assert text_of(re.search(r'<p class="hint" id="timezone">(.*?)</p>', page.text)[1]) == (
        "Times in UTC."
    )


@pytest.mark.settings(timezone="Asia/Tokyo")
def test_times_are_in_the_configured_zone_and_the_page_language(realm):
    user = realm.user()
    add_event(realm, "admin.user.enabled", subject=user.email, at=AT)
    _, browser, _ = admin_browser(realm)
    shown, page = _event_time(browser, realm, user.email)
    assert shown == "Jan 15, 2026, 12:04 PM"  # 03:04:05 UTC is noon in Tokyo
    assert "Times in Japan Time (UTC+09:00)." in page.text
    shown, page = _event_time(browser, realm, user.email, lang="ja")
    assert '<html lang="ja">' in page.text
    assert shown == "2026/01/15 12:04"
    assert "日時は日本時間（UTC+09:00）で表示しています。" in page.text
    # The user pages' dates follow the same zone and language.
    detail = browser.get(realm.url(f"admin/users/{user.id}"))
    created = re.search(r"<dt>作成日</dt><dd><time[^>]*>(\d{4}/\d\d/\d\d)</time>", detail.text)
    assert created, detail.text


# -- each event's detail ------------------------------------------------------------------------
def test_event_detail_is_shown_readably_without_secrets(realm):
    user = realm.user()
    subject = user.email
    add_event(
        realm,
        "login.password.failed",
        subject=subject,
        outcome="failure",
        detail={"reason": "wrong_password", "password": "hunter2-secret"},
    )
    add_event(
        realm,
        "login.throttled",
        subject=subject,
        outcome="failure",
        detail={"stage": "second_factor", "retry_after": 42},
    )
    add_event(
        realm,
        "admin.realm.renamed",
        detail={"old": {"display_name": "Old Co"}, "new": {"display_name": "New Co"}},
    )
    _, browser, _ = admin_browser(realm)
    page = browser.get(realm.url("admin/audit?type=login."))
    assert "hunter2-secret" not in page.text
    by_type = {r["type"]: r for r in audit_rows(page)}
    # A secret's key may show (it was there), its value never does.
    assert by_type["login.password.failed"]["detail"] == "Reason wrong password Password hidden"
    assert by_type["login.throttled"]["detail"] == "Stage second factor Retry after (seconds) 42"
    assert by_type["login.throttled"]["outcome"] == "failure"
    assert '<span class="badge warn">Failure</span>' in page.text
    renamed = audit_rows(browser.get(realm.url("admin/audit?type=admin.realm.renamed")))
    assert renamed[0]["detail"] == "Display name Old Co → New Co"
    ja = browser.get(realm.url("admin/audit?type=login.password.failed&lang=ja"))
    assert audit_rows(ja)[0]["detail"] == "理由 パスワードの誤り パスワード 非表示"
    assert "hunter2-secret" not in ja.text


def test_detail_items_hide_secrets_and_flatten_changes():
    items = detail_items(
        {
            "reason": "wrong_password",
            "password": "x",
            "token": "t",
            "backup_codes": ["a"],
            "client_id": "abc",
            "old": {"require_2fa": "none", "secret": "s"},
            "new": {"require_2fa": "all", "secret": "s2"},
            "nested": {"api_key": "k", "n": 1},
        }
    )
    plain = {i.key: i.value for i in items if not i.changed}
    assert plain["reason"] == "wrong_password" and plain["client_id"] == "abc"
    assert plain["password"] is HIDDEN and plain["token"] is HIDDEN
    assert plain["backup_codes"] is HIDDEN
    assert plain["nested"] == "api_key=•••, n=1"
    changes = {i.key: (i.old, i.value) for i in items if i.changed}
    assert changes == {"require_2fa": ("none", "all"), "secret": (HIDDEN, HIDDEN)}
    assert detail_items({"browser": "x" * 500})[0].value.endswith("…")
    assert detail_items(None) == []


# -- the 2FA badge and one layout for the list and the user page ----------------------------------
def _list_headers(page: Page) -> list[str]:
    thead = re.search(r'<table id="users">\s*<thead>(.*?)</thead>', page.text, re.S)
    assert thead, page.text
    return [text_of(h) for h in re.findall(r"<th[^>]*>(.*?)</th>", thead[1], re.S)]


def _row_cells(page: Page, email: str) -> list[str]:
    for row in re.findall(r"<tr>(.*?)</tr>", page.text, re.S):
        if f">{email}</a>" in row:
            return [text_of(c) for c in re.findall(r"<td[^>]*>(.*?)</td>", row, re.S)]
    raise AssertionError(email)


def _facts(page: Page) -> list[tuple[str, str]]:
    dl = re.search(r'<dl class="facts">(.*?)</dl>', page.text, re.S)
    assert dl, page.text
    return [
        (text_of(t), text_of(d))
        for t, d in re.findall(r"<dt>(.*?)</dt>\s*<dd[^>]*>(.*?)</dd>", dl[1], re.S)
    ]


@pytest.mark.parametrize("lang", ["en", "ja"])
def test_two_factor_badge_and_the_same_layout_in_list_and_user_page(realm, lang):
    on = realm.user(with_totp=True)
    off = realm.user()
    admin, browser, _ = admin_browser(realm)
    listed = browser.get(realm.url(f"admin/users?lang={lang}"))
    enabled, not_enabled = ("Enabled", "Not enabled") if lang == "en" else ("有効", "未設定")
    assert f'<td class="twofa"><span class="badge on">{enabled}</span></td>' in listed.text
    assert f'<td class="twofa"><span class="badge off">{not_enabled}</span></td>' in listed.text
    headers = _list_headers(listed)
    if lang == "en":
        assert headers == [
            "Email address",
            "Name",
            "Status",
            "Two-factor",
            "Backup codes left",
            "Security keys",  # issue 10
            "Admin",
            "Created",
        ]
    else:
        assert headers == [
            "メールアドレス",
            "名前",
            "状態",
            "2要素認証",
            "残りのバックアップコード",
            "セキュリティキー",
            "管理者",
            "作成日",
        ]
    for person, badge in ((on, "on"), (off, "off"), (admin, "off")):
        cells = _row_cells(listed, person.email)
        page = browser.get(realm.url(f"admin/users/{person.id}"))
        facts = _facts(page)
        # The user page shows the list's fields first, in its order, with its labels and
        # values; then what only the page shows.
        assert facts[: len(headers)] == list(zip(headers, cells, strict=True)), facts
        assert re.search(rf'<span class="badge {badge}" id="twofa-status">', page.text)
    on_cells = dict(zip(headers, _row_cells(listed, on.email), strict=True))
    admin_cells = dict(zip(headers, _row_cells(listed, admin.email), strict=True))
    if lang == "en":
        assert on_cells["Backup codes left"] == "10" and on_cells["Admin"] == "No"
        assert admin_cells["Admin"] == "Yes" and admin_cells["Status"] == "Active"
    else:
        assert on_cells["残りのバックアップコード"] == "10個" and admin_cells["管理者"] == "はい"
        assert heading(listed) == "ユーザー管理"


def test_console_navigation_and_titles_in_japanese(realm):
    _, browser, home = admin_browser(realm)
    page = browser.get(realm.url("admin/users?lang=ja"))
    tabs = re.search(r'<nav class="tabs" aria-label="([^"]+)">(.*?)</nav>', page.text, re.S)
    assert tabs and tabs[1] == "管理設定"
    assert [text_of(a) for a in re.findall(r"<a [^>]*>(.*?)</a>", tabs[2])] == [
        "ユーザー管理",
        "組織設定",
        "アプリケーション",
        "監査ログ",
    ]
    assert "<title>ユーザー管理 · " in page.text
    audit_page = browser.get(realm.url("admin/audit"))
    assert heading(audit_page) == "監査ログ"
    assert ">すべてのイベント</option>" in audit_page.text


def test_own_account_cannot_be_disabled_from_the_confirmation(realm):
    admin, browser, home = admin_browser(realm)
    page = browser.get(realm.url(f"admin/users/{admin.id}/disable"))
    assert page.url.endswith(f"/admin/users/{admin.id}")
    assert "You cannot disable your own account." in notices(page)
    resp = browser.session.post(
        realm.url(f"admin/users/{admin.id}/status"),
        data={"csrf_token": csrf_token(home), "action": "disable"},
        allow_redirects=False,
        timeout=10,
    )
    assert resp.status_code == 303
    assert user_state(realm, admin.email)[0] is False


# -- the audit table in a real browser ------------------------------------------------------
@pytest.mark.browser
@pytest.mark.parametrize("lang", ["en", "ja"])
def test_audit_table_needs_no_sideways_scrolling(realm, new_context, lang):
    """At 1280 px the whole table is visible (no scrolling, not even inside its box); at
    360 px the page does not scroll sideways either (each event becomes a card)."""
    from playwright.sync_api import expect

    from tests.browser_support import PHONE, SHOTS, fits_the_screen, sign_in_with_password

    long_user = realm.user(f"a.very.long.name.{'x' * 24}@subdomain.example-company.co.jp")
    subject = long_user.email
    for _ in range(3):
        add_event(
            realm,
            "login.password.failed",
            subject=subject,
            outcome="failure",
            actor=f"user:{long_user.email}",
            client_address="2001:db8:ffff:ffff:ffff:ffff:ffff:ffff",
            detail={"reason": "wrong_password", "failures_in_row": 12},
        )
    add_event(
        realm,
        "admin.realm.policy_changed",
        actor=f"admin:{long_user.email}",
        detail={
            "old": {"require_2fa": "none", "trust_browser_days": 0},
            "new": {"require_2fa": "all", "trust_browser_days": 30},
        },
    )
    admin = realm.user(admin=True)
    SHOTS.mkdir(parents=True, exist_ok=True)
    for name, viewport in (("desktop", {"width": 1280, "height": 800}), ("phone", PHONE)):
        page = new_context(viewport=viewport, is_mobile=name == "phone")
        page.goto(realm.url("admin/audit"))
        sign_in_with_password(page, admin.email, admin.password)
        expect(page.locator("#events")).to_be_visible()
        page.goto(realm.url(f"admin/audit?lang={lang}"))
        expect(page.locator("html")).to_have_attribute("lang", lang)
        page.screenshot(path=str(SHOTS / f"console-audit-{name}-{lang}.png"), full_page=True)
        # The page's content: nothing reaches past the screen's edge, nothing scrolls inside.
        main = page.evaluate(
            "(() => { const m = document.querySelector('main'), b = m.getBoundingClientRect();"
            " return [Math.ceil(b.right), m.scrollWidth, m.clientWidth]; })()"
        )
        assert main[0] <= viewport["width"], f"main ends at {main[0]}px at {name}"
        assert main[1] <= main[2], f"main's content overflows at {name}: {main}"
        box = page.evaluate(
            "(() => { const b = document.querySelector('.table-scroll');"
            " return [b.scrollWidth, b.clientWidth]; })()"
        )
        assert box[0] <= box[1], f"the table scrolls inside its box at {name}: {box}"
        if lang == "en":
            # The whole page too. (In Japanese the shared header, base.html, is wider than
            # 360 px with a long email next to the "English" link: reported, not this page's.)
            width = page.evaluate("document.documentElement.scrollWidth")
            assert width <= viewport["width"], f"the page is {width}px wide at {name}"
            if name == "phone":
                fits_the_screen(page)
        # The filter is usable: pick a type from the list.
        label = "Event type" if lang == "en" else "イベントの種類"
        page.get_by_label(label).select_option("admin.realm.policy_changed")
        page.locator("form.filters button[type=submit]").click()
        expect(page.locator("#events tbody tr")).to_have_count(1)


@pytest.mark.browser
def test_console_states_pass_axe_accessibility_checks(realm, new_context, axe_source):
    """The pages and states this part adds, in both languages: the account's disable
    confirmation, empty lists, an unknown event type, and the user list with its badges."""
    from playwright.sync_api import expect

    from tests.browser_support import SHOTS, axe_violations, sign_in_with_password

    user = realm.user(with_totp=True)
    admin = realm.user(admin=True)
    page = new_context(bypass_csp=True)
    page.goto(realm.url("admin/"))
    sign_in_with_password(page, admin.email, admin.password)
    expect(page.locator("#users")).to_be_visible()
    found: list[str] = []
    for lang in ("en", "ja"):
        for path in (
            f"admin/users?lang={lang}",
            "admin/users?q=nobody-like-this",
            f"admin/users/{user.id}",
            f"admin/users/{user.id}/disable",
            "admin/audit?type=no.such.type",
            "admin/audit?type=login.throttled",
            "admin/audit?type=mfa.",
        ):
            page.goto(realm.url(path))
            expect(page.locator("main h1")).to_be_visible()
            found += axe_violations(page, axe_source)
            bare = re.sub(r"lang=\w+", "", path).replace(str(user.id), "id")
            shot = f"console-{re.sub(r'[^a-z0-9]+', '-', bare).strip('-')}-{lang}.png"
            SHOTS.mkdir(parents=True, exist_ok=True)
            page.screenshot(path=str(SHOTS / shot), full_page=True)
    assert found == [], "\n".join(found)
