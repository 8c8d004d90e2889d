"""The console in HTTP tests: an admin signed in on it, the audit log's table and the events an
admin reads there, and a user's state as the console's actions leave it."""

from __future__ import annotations

import html
import re
from typing import Any

from idp.db import get_session
from idp.models import Realm
from idp.services import factors
from tests.helpers import Browser, Page, totp_code
from tests.support.signin import account_sign_in


def audit_rows(page: Page) -> list[dict[str, str]]:
    """The audit table's rows: the cells' text, with the event type, the outcome and the
    actor as recorded (``data-type``, ``data-outcome``, ``data-actor``; the page shows them
    in words, the actor's as ``actor_shown``). A page without events says so (``p.empty``)
    and gives []."""
    body = re.search(r'<table id="events"[^>]*>.*?<tbody>(.*?)</tbody>', page.text, re.S)
    if body is None:
        assert 'class="empty"' in page.text, page.text
        return []
    rows = []
    for kind, outcome, recorded_actor, tr in re.findall(
        r'<tr data-type="([^"]*)" data-outcome="([^"]*)" data-actor="([^"]*)">(.*?)</tr>',
        body.group(1),
        re.S,
    ):
        cells = [
            " ".join(html.unescape(re.sub(r"<[^>]+>", " ", c.replace("<wbr>", ""))).split())
            for c in re.findall(r"<td[^>]*>(.*?)</td>", tr, re.S)
        ]
        time, _event, actor, subject, address, _outcome, detail = cells
        rows.append(
            dict(
                time=time,
                type=html.unescape(kind),
                actor=html.unescape(recorded_actor),
                actor_shown=actor,
                subject=subject,
                address=address,
                outcome=outcome,
                detail=detail,
            )
        )
    return rows


def admin_browser(realm: Any) -> tuple[Any, Browser, Page]:
    admin = realm.user(admin=True)
    browser = realm.browser()
    home = account_sign_in(realm, browser, admin)
    return admin, browser, home


NEW_PASSWORD = "n3w-pass"  # exactly 8 characters: the shortest accepted


def user_state(realm: Any, email: str) -> tuple[bool, str, bool]:
    """(disabled, password hash, two-factor enabled) straight from the database."""
    with realm.server.app.app_context():
        from idp.services.users import find_user_by_email

        db = get_session()
        row = db.get(Realm, realm.id)
        assert row is not None
        user = find_user_by_email(db, row, email)
        assert user is not None
        return user.disabled, user.password_hash, factors.has_second_factor(db, user)


def admin_events(browser: Browser, realm: Any, email: str, kind: str) -> list[dict[str, str]]:
    page = browser.get(realm.url("admin/audit") + f"?user={email}&type={kind}")
    assert page.status == 200
    return [r for r in audit_rows(page) if r["type"].startswith(kind)]


def assert_audited_once(
    browser: Browser, realm: Any, kind: str, *, actor: Any, subject: Any
) -> None:
    """Exactly one successful ``kind`` event about ``subject``, done by the admin ``actor``."""
    rows = admin_events(browser, realm, subject.email, kind)
    assert len(rows) == 1, rows
    assert rows[0]["actor"] == f"admin:{actor.email}"
    assert rows[0]["subject"] == subject.email
    assert rows[0]["outcome"] == "success"


def sign_in_at(realm: Any, browser: Browser, path: str, user: Any) -> Page:
    """Open a console page; it asks for the sign-in (and the code of an admin with 2FA),
    then shows the page."""
    page = browser.get(realm.url(path))
    assert page.status == 200 and 'name="password"' in page.text, page.text
    page = browser.submit(page, {"email": user.email, "password": user.password})
    if user.totp_secret:
        page = browser.submit(page, {"code": totp_code(user.totp_secret)})
    return page


def admin_on(
    realm: Any, path: str = "admin/settings", *, with_totp: bool = False
) -> tuple[Any, Browser, Page]:
    admin = realm.user(admin=True, with_totp=with_totp)
    browser = realm.browser()
    page = sign_in_at(realm, browser, path, admin)
    assert page.status == 200 and page.url.endswith(path), page.text
    return admin, browser, page
