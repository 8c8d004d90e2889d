"""Rolling out "require 2FA" (issue 15, SPEC P1, P2) over real HTTP: the console warns an
admin whom saving the policy would send to enrolment at once, and offers to enrol first; the
user list shows each covered user's deadline and filters those not yet enrolled; the settings
page counts them; and a user in the grace period sees the days left on the account page."""

from __future__ import annotations

import html
import re
from datetime import datetime
from typing import Any

import pyotp
import pytest
from sqlalchemy import select

from idp import clock
from idp.interaction.context import realm_policy, user_facts
from idp.interaction.policy import grace_ends
from idp.models import AuditEvent, Realm, User
from idp.services import factors
from tests.helpers import Browser, Page, totp_code, wait_for_step_room
from tests.support.app_db import in_app

pytestmark = pytest.mark.slow

WARNING = "Saving this will ask you to set up two-factor authentication right away"
SAVED = "The realm settings are saved."


# -- helpers ----------------------------------------------------------------------------------


def stored_policy(realm: Any) -> tuple[str, int]:
    row = in_app(realm, lambda db: db.get(Realm, realm.id))
    return row.require_2fa, row.grace_days


def policy_events(realm: Any) -> list[Any]:
    return in_app(
        realm,
        lambda db: db.scalars(
            select(AuditEvent.id).where(
                AuditEvent.realm_id == realm.id, AuditEvent.type == "admin.realm.policy_changed"
            )
        ).all(),
    )


def enforced_deadline(realm: Any, user: Any) -> datetime | None:
    """The end of the grace period as the sign-in's policy computes it."""

    def compute(db: Any) -> datetime | None:
        row = db.get(Realm, realm.id)
        return grace_ends(realm_policy(row), user_facts(db, db.get(User, user.id)))

    return in_app(realm, compute)


def text_of(page: Page) -> str:
    return " ".join(html.unescape(re.sub(r"<[^>]+>", " ", page.text)).split())


def sign_in(realm: Any, browser: Browser, path: str, user: Any) -> Page:
    page = browser.get(realm.url(path))
    assert page.status == 200 and 'name="password"' in page.text, page.text
    page = browser.submit(page, {"email": user.email, "password": user.password})
    if user.totp_secret:
        page = browser.submit(page, {"code": totp_code(user.totp_secret)})
    return page


def console(realm: Any, path: str = "admin/settings", *, with_totp: bool = False) -> Any:
    admin = realm.user(admin=True, with_totp=with_totp)
    browser = realm.browser()
    page = sign_in(realm, browser, path, admin)
    assert page.status == 200 and page.url.endswith(path), page.text
    return admin, browser, page


def is_enrol_page(page: Page) -> bool:
    return page.status == 200 and page.url.endswith("/enrol") and 'id="key"' in page.text


def key_on(page: Page) -> str:
    match = re.search(r'<dd id="key"><code>([A-Z2-7 ]+)</code></dd>', page.text)
    assert match, page.text
    return match.group(1).replace(" ", "")


def type_code_of_key(browser: Browser, page: Page) -> tuple[Page, str]:
    """Type a code of the key shown on an enrolment page; returns the next page and the key."""
    key = key_on(page)
    wait_for_step_room(3)
    return browser.submit(page, {"code": pyotp.TOTP(key).at(clock.timestamp())}), key


def has_2fa(realm: Any, user: Any) -> bool:
    return in_app(realm, lambda db: factors.has_second_factor(db, db.get(User, user.id)))


def user_rows(page: Page) -> dict[str, str]:
    """The user list: email address -> the row's HTML."""
    body = re.search(r'<table id="users">.*?<tbody>(.*?)</tbody>', page.text, re.S)
    if body is None:
        return {}
    rows = {}
    for tr in re.findall(r"<tr>(.*?)</tr>", body.group(1), re.S):
        email = re.search(r">([^<>@\s]+@[^<>\s]+)</a>", tr)
        assert email, tr
        rows[email.group(1)] = tr
    return rows


def deadline_cell(row: str) -> str:
    match = re.search(r'<td class="deadline">(.*?)</td>', row, re.S)
    assert match, row
    return match.group(1)


def deadline_of(row: str) -> datetime:
    match = re.search(r'<time datetime="([^"]+)">[^<]+</time>', deadline_cell(row))
    assert match, row
    return datetime.fromisoformat(match.group(1))


# -- 1. saving a policy that sends the saving admin to enrolment at once ------------------------
def test_saving_a_policy_that_covers_the_admin_without_2fa_asks_first_and_cancel_saves_nothing(
    realm,
):
    _, browser, page = console(realm)
    for grace in ("0", "30"):  # the console asks for a second factor even within the grace
        asked = browser.submit(page, {"require_2fa": "admins", "grace_days": grace})
        assert asked.status == 200 and WARNING in text_of(asked), asked.text
        assert stored_policy(realm) == ("none", 0)
        assert policy_events(realm) == []
        # The choices as sent wait in the confirmation's hidden fields.
        [form] = [f for f in asked.forms if "/admin/settings" in f["action"]]
        assert ("require_2fa", "admins", "hidden") in form["fields"]
        assert ("grace_days", grace, "hidden") in form["fields"]
        assert ("confirm", "yes", "hidden") in form["fields"]
        assert "Set up two-factor authentication first" in dict(asked.links)

        back = browser.get(asked.link("Cancel"))
        assert back.status == 200 and back.url.endswith("/admin/settings"), back.text
        assert SAVED not in back.text
        assert stored_policy(realm) == ("none", 0)
    assert policy_events(realm) == []
    # The console still opens with the password alone: nothing changed.
    assert browser.get(realm.url("admin/users")).url.endswith("/admin/users")


def test_the_admin_who_confirms_is_saved_and_sent_to_enrolment(realm):
    admin, browser, page = console(realm)
    asked = browser.submit(page, {"require_2fa": "all", "grace_days": "7"})
    assert WARNING in text_of(asked)

    page = browser.submit(asked)  # "Save and set it up now"

    assert stored_policy(realm) == ("all", 7)
    assert len(policy_events(realm)) == 1
    assert is_enrol_page(page), page.text
    assert "Later" not in page.text  # no putting it off for the console
    codes, _ = type_code_of_key(browser, page)
    assert "Two-factor authentication is enabled." in codes.text
    page = browser.submit(codes)  # Continue
    assert page.status == 200 and page.url.endswith("/admin/settings"), page.url
    assert has_2fa(realm, admin)


def test_enrolling_first_leads_back_to_the_settings_and_saving_then_asks_nothing(realm):
    admin, browser, page = console(realm)
    asked = browser.submit(page, {"require_2fa": "all", "grace_days": "0"})
    setup = browser.get(asked.link("Set up two-factor authentication first"))
    assert setup.status == 200 and setup.url.endswith("/account/two-factor/enable"), setup.url
    assert stored_policy(realm) == ("none", 0)

    codes, key = type_code_of_key(browser, setup)
    assert codes.status == 200 and "/account/two-factor/backup-codes" in codes.url, codes.text
    settings = browser.get(codes.link("Done"))
    assert settings.status == 200 and settings.url.endswith("/admin/settings"), settings.url

    page = browser.submit(settings, {"require_2fa": "all", "grace_days": "0"})

    assert stored_policy(realm) == ("all", 0)
    assert len(policy_events(realm)) == 1
    # No enrolment now: the console only asks this password session for a code of the app
    # just set up, then shows the settings.
    assert WARNING not in text_of(page) and not is_enrol_page(page)
    assert page.url.endswith("/totp") and 'name="code"' in page.text, page.url
    wait_for_step_room(3)
    page = browser.submit(page, {"code": pyotp.TOTP(key).at(clock.timestamp() + 30)})
    assert page.status == 200 and page.url.endswith("/admin/settings"), page.text
    assert has_2fa(realm, admin)
    # The way back to the console is used once: the next setup's "Done" is the 2FA page.
    again = browser.get(realm.url("account/two-factor/enable"))
    codes, _ = type_code_of_key(browser, again)
    assert "Two-factor authentication is enabled." in codes.text, codes.text
    assert codes.link("Done").endswith("/account/two-factor")


def test_no_warning_when_saving_leaves_the_admin_as_they_are(realm):
    # An admin with 2FA is not sent to enrolment.
    _, browser, page = console(realm, with_totp=True)
    page = browser.submit(page, {"require_2fa": "all", "grace_days": "0"})
    assert SAVED in page.text and WARNING not in text_of(page)
    # An admin without 2FA changing a setting that requires nothing of them.
    other = realm.user(admin=True)
    browser = realm.browser()
    realm.set_policy(require_2fa="none")
    page = sign_in(realm, browser, "admin/settings", other)
    page = browser.submit(page, {"require_2fa": "none", "trust_browser_days": "9"})
    assert SAVED in page.text and WARNING not in text_of(page)


def test_an_invalid_value_is_refused_before_any_confirmation(realm):
    _, browser, page = console(realm)
    page = browser.submit(page, {"require_2fa": "all", "grace_days": "-1"})
    assert page.status == 400 and "Nothing was saved." in page.text
    assert WARNING not in text_of(page)
    assert stored_policy(realm) == ("none", 0)


# -- 2. the user list: deadlines and "Not yet enrolled" -----------------------------------------
def test_user_list_shows_the_deadline_the_sign_in_enforces(realm):
    realm.set_policy(require_2fa="all", grace_days=7)
    early = realm.user()
    clock.travel(days=3)
    late = realm.user()  # created after the policy: its own seven days
    enrolled = realm.user(with_totp=True)
    _, _, page = console(realm, "admin/users", with_totp=True)
    rows = user_rows(page)
    assert "2FA deadline" in page.text
    for user in (early, late):
        assert deadline_of(rows[user.email]) == enforced_deadline(realm, user)
    assert deadline_of(rows[late.email]) > deadline_of(rows[early.email])
    assert deadline_cell(rows[enrolled.email]) == "—"

    # A minute before the deadline the sign-in still lets the user put it off...
    deadline = deadline_of(rows[early.email])
    clock.travel(seconds=(deadline - clock.now()).total_seconds() - 60)
    page = sign_in(realm, realm.browser(), "account/", early)
    assert is_enrol_page(page) and "Later" in page.text, page.text
    # ...and a minute after it, it demands enrolment; the list says so too.
    clock.travel(seconds=120)
    browser_after = realm.browser()
    page = sign_in(realm, browser_after, "account/", early)
    assert is_enrol_page(page) and "Later" not in page.text, page.text
    refused = browser_after.submit(page, {"action": "later"})
    assert refused.status == 400
    # (Days later: the console's admin signs in afresh.)
    _, _, page = console(realm, "admin/users", with_totp=True)
    rows = user_rows(page)
    assert html.unescape(deadline_cell(rows[early.email])) == "Next sign-in"
    assert deadline_of(rows[late.email]) == enforced_deadline(realm, late)


def test_not_yet_enrolled_filter_lists_exactly_the_covered_users_without_2fa(realm):
    _, browser, page = console(realm, "admin/users", with_totp=True)
    admin_without = realm.user(admin=True)
    member_without = realm.user()
    member_with = realm.user(with_totp=True)
    admin_with = realm.user(admin=True, with_totp=True)
    # No policy: no filter offered, no deadline column.
    page = browser.get(realm.url("admin/users"))
    assert "Not yet enrolled" not in page.text and "2FA deadline" not in page.text
    assert len(user_rows(page)) == 5

    realm.set_policy(require_2fa="admins", grace_days=10)
    page = browser.get(realm.url("admin/users"))
    filtered = browser.get(page.link("Not yet enrolled"))
    assert filtered.url.endswith("/admin/users?show=not-enrolled"), filtered.url
    rows = user_rows(filtered)
    assert set(rows) == {admin_without.email}
    assert deadline_of(rows[admin_without.email]) == enforced_deadline(realm, admin_without)
    assert "1 user." in filtered.text

    realm.set_policy(require_2fa="all")
    rows = user_rows(browser.get(realm.url("admin/users?show=not-enrolled")))
    assert set(rows) == {admin_without.email, member_without.email}
    # The search works within the filter.
    found = browser.get(
        realm.url(f"admin/users?show=not-enrolled&q={member_without.email.split('@')[0]}")
    )
    assert set(user_rows(found)) == {member_without.email}
    assert 'name="show" value="not-enrolled"' in found.text
    assert member_with.email not in found.text and admin_with.email not in found.text

    # Everyone enrolled: the filter says so.
    for user in (admin_without, member_without):
        in_app(realm, lambda db, u=user: enable_2fa(db, u))
    page = browser.get(realm.url("admin/users?show=not-enrolled"))
    assert user_rows(page) == {}
    assert "Every user the sign-in policy covers has set up two-factor authentication." in (
        text_of(page)
    )


def enable_2fa(db: Any, user: Any) -> None:
    row = db.get(User, user.id)
    factors.start_totp_enrolment(db, row)
    secret = factors.pending_secret(db, row)
    wait_for_step_room(2)
    factors.enable_totp(
        db,
        row,
        pyotp.TOTP(secret).at(clock.timestamp() - 30),
        actor="test",
        client_address=None,
        keep_sid=None,
    )


def test_the_filter_without_a_policy_lists_nobody(realm):
    _, browser, _ = console(realm, "admin/users")
    page = browser.get(realm.url("admin/users?show=not-enrolled"))
    assert page.status == 200 and user_rows(page) == {}
    assert "does not require two-factor authentication of anyone" in text_of(page)


# -- 3. the settings page counts those without a second factor -----------------------------------
def count_line(page: Page) -> str:
    match = re.search(r'<p class="hint" id="not-enrolled-count">(.*?)</p>', page.text, re.S)
    assert match, page.text
    return " ".join(html.unescape(re.sub(r"<[^>]+>", " ", match.group(1))).split())


def test_settings_page_counts_users_without_a_second_factor(realm):
    _, browser, page = console(realm, with_totp=True)  # 1 admin with 2FA
    realm.user(admin=True)
    realm.user()
    realm.user()
    realm.user(with_totp=True)
    page = browser.get(realm.url("admin/settings"))
    assert count_line(page) == ("3 of all 5 users have not set up two-factor authentication."), (
        count_line(page)
    )

    realm.set_policy(require_2fa="admins", grace_days=5)
    page = browser.get(realm.url("admin/settings"))
    assert count_line(page).startswith(
        "1 of the 2 users this policy covers has not set up two-factor authentication yet."
    ), count_line(page)
    listed = browser.get(page.link("See who, with their deadlines"))
    assert len(user_rows(listed)) == 1

    realm.set_policy(require_2fa="all")
    page = browser.get(realm.url("admin/settings"))
    assert count_line(page).startswith(
        "3 of the 5 users this policy covers have not set up two-factor authentication yet."
    ), count_line(page)


# -- 4. the account page's banner during the grace period --------------------------------------
def banner(page: Page) -> str | None:
    match = re.search(
        r'<div class="warning" role="status" id="two-factor-deadline">(.*?)</div>', page.text, re.S
    )
    if match is None:
        return None
    return " ".join(html.unescape(re.sub(r"<[^>]+>", " ", match.group(1))).split())


def account_home(realm: Any, user: Any) -> tuple[Browser, Page]:
    browser = realm.browser()
    page = sign_in(realm, browser, "account/", user)
    if is_enrol_page(page):
        page = browser.submit(page, {"action": "later"})
    assert page.status == 200 and page.url.endswith("/account/"), page.text
    return browser, page


def test_a_user_in_the_grace_period_sees_the_days_left_and_a_link_to_set_up(realm):
    realm.set_policy(require_2fa="all", grace_days=7)
    user = realm.user()
    browser, page = account_home(realm, user)
    text = banner(page)
    assert text is not None and "Set it up within 7 days" in text, page.text
    link = page.link("Set up two-factor authentication")
    assert link.endswith("/account/two-factor/enable")

    # Days later (a new sign-in: the session has ended meanwhile).
    clock.travel(days=4, hours=1)
    text = banner(account_home(realm, user)[1])
    assert text is not None and "Set it up within 3 days" in text, text
    clock.travel(days=2)
    browser, page = account_home(realm, user)
    text = banner(page)
    assert text is not None and "Set it up within 1 day (" in text, text

    # The link sets it up; the banner is gone.
    setup = browser.get(page.link("Set up two-factor authentication"))
    done, _ = type_code_of_key(browser, setup)
    assert "Two-factor authentication is enabled." in done.text
    # (Its "Done" is the 2FA page, as always outside the console's "set up first".)
    assert done.link("Done").endswith("/account/two-factor")
    assert banner(browser.get(realm.url("account/"))) is None


def test_no_banner_for_enrolled_users_or_without_a_policy(realm):
    plain = realm.user()
    _, page = account_home(realm, plain)
    assert banner(page) is None and "two-factor-deadline" not in page.text
    realm.set_policy(require_2fa="all", grace_days=7)
    enrolled = realm.user(with_totp=True)
    _, page = account_home(realm, enrolled)
    assert banner(page) is None
    # A policy of admins only: no banner for a member.
    realm.set_policy(require_2fa="admins")
    _, page = account_home(realm, realm.user())
    assert banner(page) is None


def test_the_banner_and_the_confirmation_in_japanese(realm):
    realm.set_policy(require_2fa="all", grace_days=7)
    user = realm.user()
    browser = realm.browser()
    browser.session.headers["Accept-Language"] = "ja"
    page = sign_in(realm, browser, "account/", user)
    page = browser.submit(page, {"action": "later"})
    text = banner(page)
    assert text is not None and "7日以内" in text and "2要素認証が必須です" in text, text
    assert "2要素認証を設定する" in dict(page.links)

    realm.set_policy(require_2fa="none")
    admin = realm.user(admin=True)
    browser = realm.browser()
    browser.session.headers["Accept-Language"] = "ja"
    page = sign_in(realm, browser, "admin/settings", admin)
    asked = browser.submit(page, {"require_2fa": "admins", "grace_days": "0"})
    assert "保存すると、すぐに2要素認証の設定を求められます。" in text_of(asked)
    assert "先に2要素認証を設定する" in dict(asked.links)
