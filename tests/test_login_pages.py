"""The sign-in pages have no dead ends and no surprises (issue 7): the application's name,
the account being signed in with "Not you? Start over", "Start again" after an expired or
finished sign-in, "Sign in again" after signing out, codes pasted as apps show them (SPEC L2),
the throttle's wait counting down, and the audit rows of failed and throttled sign-ins."""

from __future__ import annotations

import html
import json
import re
import secrets
from typing import Any
from urllib.parse import parse_qs, urljoin, urlsplit

import pytest
from sqlalchemy import select, update

from idp import clock
from idp.models import AuditEvent, Client, Interaction, User
from idp.services.errors import InvalidCode
from idp.services.totp import parse_totp_code
from tests.helpers import Browser, Page, totp_code, wait_for_step_room
from tests.oidc_rp import sign_in_password
from tests.support.app_db import in_app
from tests.support.flows import password_until_resume
from tests.support.pages import error_text
from tests.support.signin import (
    PAPE,
    finish_tokens,
    is_code_page,
    make_rp,
    password_sign_in,
    to_code_page,
    wrong_code,
)
from tests.support.two_factor_pages import enrol_from_account_pages

pytestmark = pytest.mark.slow


def _own_address(browser: Browser) -> str:
    """An address of its own (the tests' server trusts one proxy), so password failures here
    never count against 127.0.0.1 for other tests."""
    address = f"10.{secrets.randbelow(250)}.{secrets.randbelow(250)}.{secrets.randbelow(250)}"
    browser.session.headers["X-Forwarded-For"] = address
    return address


def _events(realm: Any, kind: str) -> list[AuditEvent]:
    return in_app(
        realm,
        lambda db: list(
            db.scalars(
                select(AuditEvent)
                .where(AuditEvent.realm_id == realm.id, AuditEvent.type == kind)
                .order_by(AuditEvent.id)
            )
        ),
    )


def _uid(page: Page) -> str:
    match = re.search(r"/login/([^/?]+)", page.url)
    assert match, page.url
    return match.group(1)


def _go_on_link(page: Page) -> str:
    match = re.search(r'<a class="button" href="([^"]+)" id="go-on">(.*?)</a>', page.text, re.S)
    assert match, page.text
    return urljoin(page.url, html.unescape(match.group(1)))


# -- the application's name --------------------------------------------------------------------
def test_sign_in_page_names_the_application(realm, rp):
    client = make_rp(realm, rp)
    page = realm.browser().get(client.start().url)
    assert '<p class="app-name">to continue to Test RP</p>' in page.text
    page = realm.browser().get(client.start(ui_locales="ja").url)
    assert '<p class="app-name">Test RPにログイン</p>' in page.text


def test_application_name_is_escaped_and_absent_for_own_pages(realm, rp):
    in_app(
        realm,
        lambda db: db.execute(
            update(Client).where(Client.client_id == rp.client_id).values(name="<b>Évil & Co</b>")
        ),
    )
    page = realm.browser().get(make_rp(realm, rp).start().url)
    assert "to continue to &lt;b&gt;Évil &amp; Co&lt;/b&gt;" in page.text
    assert "<b>Évil" not in page.text
    own = realm.browser().get(realm.url("account/"))
    assert 'name="password"' in own.text and 'class="app-name"' not in own.text


def test_code_pages_name_the_application_and_the_account(realm, rp):
    user = realm.user(with_totp=True)
    browser, _, page = to_code_page(realm, make_rp(realm, rp), user)
    assert is_code_page(page)
    assert "to continue to Test RP" in page.text
    assert f"Signing in as {user.email}" in page.text
    assert 'class="account-line"' in page.text and "Sign in with another account" in page.text
    backup = browser.get(page.link("Use a backup code instead"))
    assert f"Signing in as {user.email}" in backup.text
    assert "Sign in with another account" in backup.text


# -- Start over ---------------------------------------------------------------------------------
def test_start_over_forgets_the_user_and_signs_in_someone_else(realm, rp):
    first = realm.user(with_totp=True)
    second = realm.user()
    client = make_rp(realm, rp)
    browser, flow, page = to_code_page(realm, client, first, login_hint=first.email)
    old_uid = _uid(page)
    fresh = browser.submit(page, action="/restart")
    assert fresh.status == 200 and fresh.url.endswith("/password"), fresh.url
    new_uid = _uid(fresh)
    assert new_uid != old_uid
    # Nobody is identified any more: no address filled in (not even the login hint), no
    # account line, and the application is still named.
    assert first.email not in fresh.text and "Signing in as" not in fresh.text
    assert re.search(r'<input id="email" name="email" type="email"[^>]*value=""', fresh.text)
    assert "to continue to Test RP" in fresh.text
    # The old sign-in is used up.
    old = browser.get(page.url)
    assert old.status == 400 and "no longer valid" in old.text
    # Someone else signs in to the same request, which ends at the RP with their account.
    browser.submit(fresh, {"email": second.email, "password": second.password})
    assert browser.left_to and browser.left_to.startswith(rp.redirect_uri)
    _, claims, _ = finish_tokens(client, flow, browser)
    assert claims["sub"] == second.sub and claims["amr"] == ["pwd"]


@pytest.mark.settings(proxy_count=1)
def test_start_over_skips_no_stage(realm, rp):
    """The fresh sign-in knows no user and no factor: its code page and every later stage
    send the browser to the password page; the code is not even checked."""
    user = realm.user(with_totp=True)
    browser = realm.browser()
    _own_address(browser)
    browser, flow, page = to_code_page(realm, make_rp(realm, rp), user, browser=browser)
    fresh = browser.submit(page, action="/restart")
    base = fresh.url.rsplit("/", 1)[0]
    for stage in ("", "/totp", "/backup-code", "/enrol", "/codes", "/notice", "/offer", "/trusted"):
        assert browser.get(base + stage).url == base + "/password", stage
    wait_for_step_room()
    posted = browser.submit(fresh, {"code": totp_code(user.totp_secret)}, action="/password")
    assert posted.status == 401 and browser.left_to is None  # a password form, not the code
    ix = in_app(
        realm,
        lambda db: db.scalar(select(Interaction).where(Interaction.uid == _uid(fresh))),
    )
    assert ix.user_id is None and ix.amr == [] and ix.from_sid is None and ix.login_hint is None
    # The same user signs in again: password, then the code; nothing is skipped.
    code_page = browser.submit(posted, {"email": user.email, "password": user.password})
    assert is_code_page(code_page) and browser.left_to is None
    browser.submit(code_page, {"code": totp_code(user.totp_secret)})
    _, claims, _ = finish_tokens(make_rp(realm, rp), flow, browser)
    assert claims["amr"] == ["pwd", "otp", "mfa"]


def test_start_over_of_a_step_up_asks_for_the_password_again(realm, rp):
    """A step-up starts from the signed-in session's user and factors; starting over drops
    them, so the password is asked again, then the code."""
    user = realm.user()
    client = make_rp(realm, rp)
    browser = realm.browser()
    password_sign_in(client, browser, user)
    enrol_from_account_pages(realm, browser, user)
    flow = client.start(acr_values=PAPE)
    page = browser.get(flow.url)
    assert is_code_page(page) and f"Signing in as {user.email}" in page.text
    fresh = browser.submit(page, action="/restart")
    assert fresh.url.endswith("/password") and user.email not in fresh.text
    code_page = browser.submit(fresh, {"email": user.email, "password": user.password})
    assert is_code_page(code_page) and browser.left_to is None
    browser.submit(code_page, {"code": totp_code(user.totp_secret)})
    _, claims, _ = finish_tokens(client, flow, browser)
    assert claims["amr"] == ["pwd", "otp", "mfa"]


def test_start_over_needs_this_browser(realm, rp):
    user = realm.user(with_totp=True)
    _, _, page = to_code_page(realm, make_rp(realm, rp), user)
    thief = realm.browser()
    own = thief.get(make_rp(realm, rp).start().url)
    csrf = next(v for n, v, _ in own.forms[-1]["fields"] if n == "csrf_token")
    resp = thief.session.post(
        page.url.rsplit("/", 1)[0] + "/restart",
        data={"csrf_token": csrf},
        allow_redirects=False,
        timeout=10,
    )
    assert resp.status_code == 400 and "no longer valid" in resp.text


# -- Start again / already signed in ------------------------------------------------------------
def test_start_again_after_expiry_leads_back_into_the_application(realm, rp):
    user = realm.user()
    client = make_rp(realm, rp)
    browser = realm.browser()
    flow = client.start()
    page = browser.get(flow.url)
    clock.travel(seconds=301)  # SPEC L7: five minutes
    late = browser.submit(page, {"email": user.email, "password": user.password})
    assert late.status == 400 and "took too long" in late.text and browser.left_to is None
    again = late.link("Start again")
    # The application's own authorization request, with its state and nonce...
    target = urlsplit(again)
    assert target.path == f"/realms/{realm.name}/protocol/openid-connect/auth"
    query = {k: v[0] for k, v in parse_qs(target.query).items()}
    original = {k: v[0] for k, v in parse_qs(urlsplit(flow.url).query).items()}
    assert query == original
    # ...which the protocol validates again, and which ends at the RP after signing in.
    fresh = browser.get(again)
    assert fresh.status == 200 and "to continue to Test RP" in fresh.text
    browser.submit(fresh, {"email": user.email, "password": user.password})
    assert browser.callback_params()["state"] == flow.state
    _, claims, _ = finish_tokens(client, flow, browser)
    assert claims["sub"] == user.sub


def test_start_again_of_an_expired_own_page_sign_in_returns_to_it(realm):
    user = realm.user()
    browser = realm.browser()
    page = browser.get(realm.url("account/password"))
    clock.travel(seconds=301)
    late = browser.submit(page, {"email": user.email, "password": user.password})
    assert late.status == 400
    assert urlsplit(late.link("Start again")).path == f"/realms/{realm.name}/account/password"


def test_back_button_after_finishing_says_already_signed_in_and_continues(realm, rp):
    """The request was answered (its nonce and state are used), so "Continue" leads to the
    application itself: the origin of its registered redirect URI."""
    user = realm.user(with_totp=True)
    client = make_rp(realm, rp)
    browser, flow, page = to_code_page(realm, client, user)
    wait_for_step_room()
    browser.submit(page, {"code": totp_code(user.totp_secret)})
    assert browser.left_to and browser.left_to.startswith(rp.redirect_uri)
    finish_tokens(client, flow, browser)
    for url in (page.url, page.url.rsplit("/", 1)[0] + "/password"):
        back = browser.get(url)  # the back button
        assert "You are already signed in" in back.text and browser.left_to is None
        assert f"signed in as {user.email}" in back.text
        assert "Continue to Test RP" in back.text
        assert _go_on_link(back) == "http://127.0.0.1:9/"


def test_already_signed_in_before_the_request_was_answered_continues_into_it(realm, rp):
    """Signed in, but this browser's request was not answered yet (here its session was
    replaced before the resume): "Continue" is the request itself, which the session then
    answers at once."""
    user = realm.user()
    client = make_rp(realm, rp)
    browser = realm.browser()
    flow, resume = password_until_resume(realm, browser, client, user)
    # Another sign-in in the same browser replaces the session before the resume.
    other = client.start(prompt="login")
    sign_in_password(browser, other.url, user.email, user.password)
    finish_tokens(client, other, browser)
    late = browser.get(resume)
    assert late.status == 400 and "You are already signed in" in late.text
    browser.get(_go_on_link(late))
    assert browser.callback_params()["state"] == flow.state
    _, claims, _ = finish_tokens(client, flow, browser)
    assert claims["sub"] == user.sub


@pytest.mark.browser
def test_back_button_in_a_real_browser_goes_on_to_the_application(realm, test_rp, new_context):
    from playwright.sync_api import expect

    from tests.browser_support import expect_at_rp, sign_in_with_password

    user = realm.user()
    page = new_context()
    page.goto(test_rp.login_url)
    password_url = page.url
    sign_in_with_password(page, user.email, user.password)
    expect_at_rp(page, test_rp, user.email)
    page.goto(password_url)  # what the back button asks for
    expect(page.get_by_role("heading", name="You are already signed in")).to_be_visible()
    page.get_by_role("link", name="Continue to Test RP").click()
    # The application's home; its Sign in finds the session and asks for nothing.
    page.get_by_role("link", name="Sign in").click()
    expect_at_rp(page, test_rp, user.email)


def test_another_browser_learns_nothing_of_a_finished_sign_in(realm, rp):
    """The finished sign-in's request (its state, nonce, client) is shown only to the
    browser that ran it; another one starts again at the account page."""
    user = realm.user()
    client = make_rp(realm, rp)
    browser = realm.browser()
    flow = client.start()
    page = browser.get(flow.url)
    browser.submit(page, {"email": user.email, "password": user.password})
    assert browser.left_to
    thief = realm.browser()
    stolen = thief.get(page.url)
    assert stolen.status == 400 and "no longer valid" in stolen.text
    assert flow.state not in stolen.text and flow.nonce not in stolen.text
    assert "Test RP" not in stolen.text and "already signed in" not in stolen.text
    assert urlsplit(stolen.link("Start again")).path == f"/realms/{realm.name}/account/"


def test_start_again_is_translated(realm, rp):
    client = make_rp(realm, rp)
    browser = realm.browser()
    page = browser.get(client.start(ui_locales="ja").url)
    clock.travel(seconds=301)
    late = browser.submit(page, {"email": "x@example.com", "password": "whatever"})
    assert late.status == 400 and '<html lang="ja">' in late.text
    assert "このログインは無効になりました" in late.text
    late.link("最初からやり直す")


# -- signed out -------------------------------------------------------------------------------
def test_signed_out_page_offers_sign_in_again(realm, rp):
    user = realm.user()
    browser = realm.browser()
    sign_in_password(browser, make_rp(realm, rp).start().url, user.email, user.password)
    confirm = browser.get(realm.endpoints["logout"])
    done = browser.submit(confirm)
    assert done.status == 200 and "You are signed out" in done.text
    again = browser.get(done.link("Sign in again"))
    assert again.status == 200 and 'name="password"' in again.text
    home = browser.submit(again, {"email": user.email, "password": user.password})
    assert home.url == realm.url("account/")


# -- code entry (SPEC L2) ----------------------------------------------------------------------
@pytest.mark.parametrize("typed", ["818456", "818 456", "818-456"])
def test_l2_code_as_apps_show_it_is_accepted(typed):
    assert parse_totp_code(typed) == "818456"


@pytest.mark.parametrize(
    "typed",
    [
        "８１８ ４５６",  # full-width digits
        "８１８４５６",
        "٨١٨٤٥٦",  # Arabic-Indic digits
        "818_456",
        "818456_",
        "+818456",
        "-818456",
        "818  456",  # two separators
        "818 -456",
        "818--456",
        "818-4-56",
        "81 8456",  # a separator elsewhere
        "8184-56",
        "818456 ",
        " 818 456",
        "818 456\n",
        "818\t456",
        "818\u00a0456",  # no-break space
        "818\u2013456",  # en dash
        "818 4567",
        "818 45",
        "818.456",
        "",
    ],
)
def test_l2_other_code_forms_stay_refused(typed):
    with pytest.raises(InvalidCode):
        parse_totp_code(typed)


def test_l2_pasted_spaced_and_hyphenated_codes_sign_in(realm, rp):
    user = realm.user(with_totp=True)
    client = make_rp(realm, rp)
    wait_for_step_room()
    for offset, separator in ((0, " "), (1, "-")):
        browser, flow, page = to_code_page(realm, client, user)
        assert is_code_page(page)
        assert 'pattern="[0-9]{3}[ \\-]?[0-9]{3}" maxlength="7"' in page.text
        code = totp_code(user.totp_secret, offset)
        browser.submit(page, {"code": code[:3] + separator + code[3:]})
        assert browser.left_to and browser.left_to.startswith(rp.redirect_uri), page.text
        _, claims, _ = finish_tokens(client, flow, browser)
        assert claims["amr"] == ["pwd", "otp", "mfa"]


def test_l2_refused_forms_fail_at_sign_in_and_spend_nothing(realm, rp):
    user = realm.user(with_totp=True)
    client = make_rp(realm, rp)
    wait_for_step_room()
    browser, flow, page = to_code_page(realm, client, user)
    code = totp_code(user.totp_secret)
    for typed in (
        "".join(chr(0xFF10 + int(c)) for c in code[:3]) + " " + code[3:],
        code[:3] + "  " + code[3:],
        code[:3] + "_" + code[3:],
        code[:2] + "-" + code[2:],
    ):
        page = browser.submit(page, {"code": typed})
        assert page.status == 401 and browser.left_to is None, repr(typed)
        assert "not right" in error_text(page)
    browser.submit(page, {"code": code[:3] + "-" + code[3:]})
    finish_tokens(client, flow, browser)


def test_backup_codes_keep_their_own_rules(realm, rp):
    user = realm.user(with_totp=True)
    client = make_rp(realm, rp)
    browser, _, page = to_code_page(realm, client, user)
    page = browser.get(page.link("Use a backup code instead"))
    assert 'pattern="[0-9]{4}-?[0-9]{4}" maxlength="9"' in page.text
    code = user.backup_codes[0]
    for typed in (code[:3] + " " + code[3:], code[:4] + " " + code[4:]):
        page = browser.submit(page, {"code": typed})
        assert page.status == 401, typed


# -- the throttle's wait -------------------------------------------------------------------------
def _lock_out_password(realm: Any, browser: Browser, page: Page, email: str) -> Page:
    for attempt in range(5):
        page = browser.submit(page, {"email": email, "password": f"wrong-{attempt}"})
        assert page.status == 401
    return page


@pytest.mark.settings(proxy_count=1)
def test_throttled_password_page_renders_a_countdown(realm, rp):
    user = realm.user()
    browser = realm.browser()
    _own_address(browser)
    page = browser.get(make_rp(realm, rp).start().url)
    page = _lock_out_password(realm, browser, page, user.email)
    blocked = browser.submit(page, {"email": user.email, "password": user.password})
    assert blocked.status == 429 and error_text(blocked) == "Too many attempts."
    wait = int(blocked.response.headers["Retry-After"])
    match = re.search(r'<p class="countdown" id="countdown" data-seconds="(\d+)"', blocked.text)
    assert match and int(match.group(1)) == wait
    unit = "second" if wait == 1 else "seconds"
    assert f"Try again in {wait} {unit}." in blocked.text
    assert 'data-form="sign-in-form"' in blocked.text and 'id="sign-in-form"' in blocked.text
    assert "/static/countdown.js" in blocked.text and "<script>" not in blocked.text
    # Without JavaScript nothing is disabled: the text says when.
    assert "disabled" not in blocked.text


def test_throttle_wait_of_minutes_and_in_japanese(realm, rp):
    user = realm.user(with_totp=True)
    client = make_rp(realm, rp)
    browser, _, page = to_code_page(realm, client, user, ui_locales="ja")
    from idp.models import Throttle
    from idp.services import throttle

    key = throttle.second_factor_key(user.id)

    def block(db: Any) -> None:
        throttle.record_failure(db, key, throttle.SECOND_FACTOR)
        db.execute(
            update(Throttle)
            .where(Throttle.key == key)
            .values(blocked_until=clock.now().replace(microsecond=0) + _seconds(125))
        )

    in_app(realm, block)
    blocked = browser.submit(page, {"code": totp_code(user.totp_secret)})
    assert blocked.status == 429 and '<html lang="ja">' in blocked.text
    assert "セキュリティコードの入力に続けて失敗したため" in blocked.text
    assert re.search(r"2分\d+秒後にもう一度お試しください。", blocked.text), blocked.text
    assert 'data-form="code-form"' in blocked.text


def _seconds(n: int) -> Any:
    from datetime import timedelta

    return timedelta(seconds=n)


@pytest.mark.browser
@pytest.mark.settings(proxy_count=1)
def test_throttle_countdown_disables_the_button_until_the_wait_ends(realm, test_rp, new_context):
    from playwright.sync_api import expect

    from tests.browser_support import sign_in_with_password

    user = realm.user()
    address = f"10.{secrets.randbelow(250)}.{secrets.randbelow(250)}.{secrets.randbelow(250)}"
    page = new_context(extra_http_headers={"X-Forwarded-For": address})
    page.goto(test_rp.login_url)
    for attempt in range(5):
        sign_in_with_password(page, user.email, f"wrong-{attempt}")
        expect(page.locator("#error")).to_contain_text("Invalid email or password.")
    sign_in_with_password(page, user.email, user.password)
    countdown = page.locator(".countdown")
    expect(countdown).to_contain_text("Try again in")
    button = page.get_by_role("button", name="Sign in")
    expect(button).to_be_disabled()
    wait = int(countdown.get_attribute("data-seconds"))
    expect(countdown).to_have_text("You can try again now.", timeout=(wait + 5) * 1000)
    expect(button).to_be_enabled()
    page.get_by_label("Password").fill(user.password)
    button.click()
    expect(page.locator("#who")).to_contain_text(f"Signed in as {user.email}")


# -- audit ------------------------------------------------------------------------------------
@pytest.mark.settings(proxy_count=1)
def test_failed_password_sign_ins_are_audited_with_the_reason(realm, rp):
    user = realm.user()
    disabled = realm.user()
    in_app(
        realm,
        lambda db: db.execute(update(User).where(User.id == disabled.id).values(disabled=True)),
    )
    browser = realm.browser()
    address = _own_address(browser)
    page = browser.get(make_rp(realm, rp).start().url)
    unknown = f"Nobody-{secrets.token_hex(3)}@Example.com"
    attempts = [
        (user.email, "not-the-password-1"),
        (unknown, "not-the-password-2"),
        (disabled.email, disabled.password),
    ]
    for email, password in attempts:
        page = browser.submit(page, {"email": email, "password": password})
        assert page.status == 401
    rows = _events(realm, "login.password.failed")
    assert [(r.subject, r.detail["reason"]) for r in rows] == [
        (user.email, "wrong_password"),
        (unknown, "unknown_user"),
        (disabled.email, "account_disabled"),
    ]
    assert [r.subject_user_id for r in rows] == [user.id, None, disabled.id]
    assert {r.outcome for r in rows} == {"failure"} and {r.client_address for r in rows} == {
        address
    }
    everything = json.dumps([[r.actor, r.subject, r.detail] for r in rows])
    for _, password in attempts:
        assert password not in everything
    # A successful sign-in writes no failure.
    browser.submit(page, {"email": user.email, "password": user.password})
    assert len(_events(realm, "login.password.failed")) == 3


@pytest.mark.settings(proxy_count=1)
def test_attempts_during_a_lock_out_are_audited(realm, rp):
    """A brute force that goes on during the lock-out shows in the log: each refused attempt
    is a ``login.throttled`` row, with the stage and the wait."""
    user = realm.user(with_totp=True)
    client = make_rp(realm, rp)
    browser = realm.browser()
    _own_address(browser)
    page = browser.get(client.start().url)
    page = _lock_out_password(realm, browser, page, user.email)
    for guess in ("guess-a", "guess-b", user.password):
        refused = browser.submit(page, {"email": user.email, "password": guess})
        assert refused.status == 429
    rows = _events(realm, "login.throttled")
    assert len(rows) == 3
    assert {r.detail["stage"] for r in rows} == {"password"}
    assert all(0 < r.detail["retry_after"] <= 2 for r in rows)
    assert {r.subject for r in rows} == {user.email} and {r.subject_user_id for r in rows} == {
        user.id
    }
    assert len(_events(realm, "login.password.failed")) == 5  # refused attempts are not checked

    # The second factor: five wrong codes, then every attempt waits and is recorded.
    other = realm.user(with_totp=True)
    browser2, _, page = to_code_page(realm, client, other)
    wrong = wrong_code(other.totp_secret)
    for _ in range(5):
        page = browser2.submit(page, {"code": wrong})
        assert page.status == 401
    for code in (wrong, totp_code(other.totp_secret)):
        assert browser2.submit(page, {"code": code}).status == 429
    second = [r for r in _events(realm, "login.throttled") if r.detail["stage"] == "second_factor"]
    assert len(second) == 2 and {r.subject_user_id for r in second} == {other.id}
    assert all(0 < r.detail["retry_after"] <= 30 for r in second)


@pytest.mark.browser
@pytest.mark.settings(proxy_count=1)
def test_new_page_states_pass_axe_in_both_languages(realm, test_rp, new_context, axe_source):
    """The code page with its account line, the throttled password page with its countdown,
    the expired and the already-signed-in pages, and the signed-out page, in English and in
    Japanese, pass axe-core's WCAG 2.1 A/AA rules."""
    from playwright.sync_api import expect

    from tests.browser_support import SHOTS, axe_violations, expect_at_rp

    SHOTS.mkdir(parents=True, exist_ok=True)
    found: list[str] = []

    def check(state: str) -> None:
        page.screenshot(path=str(SHOTS / f"login-{state}-{language[:2]}.png"), full_page=True)
        found.extend(axe_violations(page, axe_source))

    for language in ("en-US", "ja-JP"):
        user = realm.user(with_totp=True)
        address = f"10.{secrets.randbelow(250)}.{secrets.randbelow(250)}.{secrets.randbelow(250)}"
        page = new_context(
            bypass_csp=True, locale=language, extra_http_headers={"X-Forwarded-For": address}
        )
        page.goto(test_rp.login_url)
        password_url = page.url
        for attempt in range(6):
            page.locator("#email").fill(user.email)
            page.locator("#password").fill(f"wrong-{attempt}")
            page.locator("#sign-in-form button[type=submit]").click()
            expect(page.locator("#error")).to_be_visible()
        expect(page.locator(".countdown")).to_be_visible()
        check("throttled")
        expect(page.locator("#sign-in-form button[type=submit]")).to_be_enabled(timeout=10_000)
        page.locator("#email").fill(user.email)
        page.locator("#password").fill(user.password)
        page.locator("#sign-in-form button[type=submit]").click()
        expect(page.locator(".account-line")).to_be_visible()
        check("code")
        page.locator("#code").fill(totp_code(user.totp_secret, 1))
        page.locator("#code-form button[type=submit]").click()
        expect_at_rp(page, test_rp, user.email)
        page.goto(password_url)
        expect(page.locator("#go-on")).to_be_visible()
        check("already-signed-in")
        page.goto(realm.endpoints["logout"])
        page.locator("main form button[type=submit]").click()
        expect(page.locator("main .button")).to_be_visible()
        check("signed-out")
        # An expired sign-in.
        page.goto(test_rp.login_url)
        clock.travel(seconds=301)
        page.locator("#email").fill(user.email)
        page.locator("#password").fill(user.password)
        page.locator("#sign-in-form button[type=submit]").click()
        expect(page.locator("#go-on")).to_be_visible()
        check("expired")
        clock.reset()
    assert found == [], "\n".join(found)
