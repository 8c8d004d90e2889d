"""Setting the sign-in policy (SPEC P1, P2, P3, P8): the console's "Realm settings" and
"Clients" pages over real HTTP, the ``idp realm set`` / ``idp client set`` commands as an
operator runs them, and the service rule for when the grace period restarts.

How sign-in enforces the policy is tested elsewhere; here: who may change it, what is
stored, what is refused, and what the audit log says."""

from __future__ import annotations

import json
import re
import subprocess
from datetime import timedelta
from typing import Any

import pytest
from sqlalchemy import select

from idp import clock
from idp.db import get_session
from idp.models import AuditEvent, Client, Realm
from idp.services.audit import OPERATOR
from idp.services.realms import realm_branding as branding_of
from idp.services.realms import set_realm_policy
from tests.helpers import Page, run_idp
from tests.support.app_db import audit_events as events
from tests.support.console import admin_on, audit_rows, sign_in_at
from tests.support.pages import text_of
from tests.support.policy import realm_policy_of as policy

pytestmark = pytest.mark.slow

SAVED = "The realm settings are saved."
REQUIRE_HINT = (
    "A user who must have two-factor authentication and has not set it up is led through "
    "setting it up at the next sign-in"
)
GRACE_HINT = "counted from the policy taking effect or the account's creation, whichever is later"
UNCHANGED = {"require_2fa": "none", "require_2fa_since": None, "grace_days": 0}


# -- helpers ----------------------------------------------------------------------------------
def realm_branding(realm: Any) -> dict[str, Any]:
    with realm.server.app.app_context():
        return branding_of(get_session().get(Realm, realm.id))


def client_requires_2fa(realm: Any, client_id: str) -> bool:
    with realm.server.app.app_context():
        db = get_session()
        row = db.scalar(
            select(Client).where(Client.realm_id == realm.id, Client.client_id == client_id)
        )
        assert row is not None
        return row.require_2fa


def is_reauth_page(page: Page, user: Any) -> bool:
    return (
        page.status == 200
        and "/login/" in page.url
        and "Confirm it's you" in text_of(page)
        and user.email in page.text
    )


def client_form(page: Page, client_id: str) -> Page:
    """The page narrowed to the toggle form of one client (so ``Browser.submit`` sends it)."""
    forms = [f for f in page.forms if ("client_id", client_id, "hidden") in f["fields"]]
    assert len(forms) == 1, page.text
    return Page(page.response, forms, page.links)


def client_state(page: Page, client_id: str) -> str:
    for row in re.findall(r"<tr>(.*?)</tr>", page.text, re.S):
        if f"<code>{client_id}</code>" in row:
            match = re.search(r'<span class="require-2fa">(\w+)</span>', row)
            assert match, row
            return match.group(1)
    raise AssertionError(f"client {client_id} not listed")


def csrf_token(page: Page) -> str:
    for form in page.forms:
        for name, value, _ in form["fields"]:
            if name == "csrf_token" and value:
                return value
    raise AssertionError(f"no CSRF token on {page.url}")


# -- the realm settings page ------------------------------------------------------------------
def test_p1_p2_admin_requires_2fa_of_everyone_with_a_grace_period(realm):
    # (An admin with 2FA: the console requires it of admins once the policy covers them.)
    admin, browser, _ = admin_on(realm, "admin/users", with_totp=True)
    users_page = browser.get(realm.url("admin/users"))
    page = browser.get(users_page.link("Realm settings"))
    assert page.status == 200 and page.url.endswith("/admin/settings")
    assert "Clients" in dict(page.links)
    for label in ("Nobody", "Admins", "Everyone", "Grace period (days)", "Save"):
        assert label in page.text
    assert REQUIRE_HINT in text_of(page) and GRACE_HINT in text_of(page)
    assert re.search(r'value="none" checked', page.text)
    before = clock.now()

    page = browser.submit(page, {"require_2fa": "all", "grace_days": "7"})

    assert page.status == 200 and page.url.endswith("/admin/settings"), page.text
    assert SAVED in page.text
    assert re.search(r'value="all" checked', page.text)
    assert 'id="grace-days" name="grace_days" value="7"' in page.text
    stored = policy(realm)
    assert (stored["require_2fa"], stored["grace_days"], stored["trust_browser_days"]) == (
        "all",
        7,
        0,
    )
    assert stored["require_2fa_since"] is not None
    assert before - timedelta(seconds=1) <= stored["require_2fa_since"] <= clock.now()
    # One event, with the old and new values of what changed, in the console's audit log.
    rows = [r for r in audit_rows(browser.get(page.link("Audit log"))) if "realm" in r["type"]]
    assert [(r["type"], r["actor"], r["outcome"]) for r in rows] == [
        ("admin.realm.policy_changed", f"admin:{admin.email}", "success")
    ]
    assert rows[0]["address"] == "127.0.0.1"
    [event] = events(realm, "admin.realm.policy_changed")
    assert event.detail == {
        "old": {"require_2fa": "none", "grace_days": 0},
        "new": {"require_2fa": "all", "grace_days": 7},
    }
    # Saving the same values again changes and audits nothing.
    page = browser.submit(page)
    assert "Nothing changed." in page.text
    assert policy(realm)["require_2fa_since"] == stored["require_2fa_since"]
    assert len(events(realm, "admin.realm.policy_changed")) == 1


def test_p8_trust_this_browser_days_are_saved(realm):
    _, browser, page = admin_on(realm)
    page = browser.submit(page, {"trust_browser_days": "30"})
    assert SAVED in page.text
    stored = policy(realm)
    assert (stored["trust_browser_days"], stored["require_2fa"]) == (30, "none")
    assert stored["require_2fa_since"] is None
    [event] = events(realm, "admin.realm.policy_changed")
    assert event.detail == {"old": {"trust_browser_days": 0}, "new": {"trust_browser_days": 30}}


@pytest.mark.parametrize(
    ("fields", "message"),
    [
        ([("grace_days", "-1")], "The grace period must be a whole number of days from 0 to 365."),
        ([("grace_days", "9999")], "The grace period must be a whole number of days from 0 to 365"),
        ([("grace_days", "abc")], "The grace period must be a whole number of days from 0 to 365"),
        ([("grace_days", "")], "The grace period must be a whole number of days"),
        ([("grace_days", "７")], "The grace period must be a whole number of days"),
        ([("grace_days", "1e3")], "The grace period must be a whole number of days"),
        ([("trust_browser_days", "366")], '"Trust this browser" must be a whole number of days'),
        ([("require_2fa", "everyone")], "required of none, admins or all users, not 'everyone'"),
        (
            [("require_2fa", "all"), ("require_2fa", "none")],
            "'require_2fa' was sent more than once",
        ),
        ([("grace_days", "7"), ("grace_days", "8")], "'grace_days' was sent more than once"),
    ],
)
def test_invalid_values_get_a_400_page_and_change_nothing(realm, fields, message):
    _, browser, page = admin_on(realm)
    # A valid value beside the invalid one is not saved either.
    valid = [("require_2fa", "all"), ("grace_days", "7"), ("trust_browser_days", "5")]
    sent = {name for name, _ in fields}
    raw = [(n, v) for n, v in valid if n not in sent] + fields
    page = browser.submit(page, raw=raw)
    assert page.status == 400, page.text
    assert message in text_of(page), page.text
    assert SAVED not in page.text
    stored = policy(realm)
    assert {k: stored[k] for k in UNCHANGED} == UNCHANGED
    assert stored["trust_browser_days"] == 0
    assert events(realm, "admin.realm.policy_changed") == []


def test_non_admin_gets_403_and_changes_nothing(realm, rp):
    user = realm.user()
    browser = realm.browser()
    page = sign_in_at(realm, browser, "account/", user)
    token = csrf_token(page)
    for path in ("admin/settings", "admin/clients"):
        assert browser.get(realm.url(path)).status == 403, path
    posts = {
        "admin/settings": {"require_2fa": "all", "grace_days": "7"},
        "admin/clients": {"client_id": rp.client_id, "require_2fa": "yes"},
    }
    for path, data in posts.items():
        answer = browser.session.post(
            realm.url(path), data={"csrf_token": token, **data}, allow_redirects=False, timeout=10
        )
        assert answer.status_code == 403, path
    assert policy(realm)["require_2fa"] == "none"
    assert client_requires_2fa(realm, rp.client_id) is False
    with realm.server.app.app_context():
        assert (
            get_session()
            .scalars(
                select(AuditEvent).where(
                    AuditEvent.realm_id == realm.id, AuditEvent.type.startswith("admin.")
                )
            )
            .all()
            == []
        )


def test_without_csrf_token_nothing_changes(realm):
    _, browser, page = admin_on(realm)
    answer = browser.session.post(
        realm.url("admin/settings"),
        data={"require_2fa": "all", "grace_days": "7"},
        allow_redirects=False,
        timeout=10,
    )
    assert answer.status_code == 400
    assert policy(realm)["require_2fa"] == "none"


def test_stale_session_signs_in_again_before_the_policy_changes(realm, rp):
    admin, browser, page = admin_on(realm)
    clients_page = browser.get(realm.url("admin/clients"))
    clock.travel(seconds=400)  # past IDP_REAUTH_TTL (300 s); the SSO session itself lives on
    # The pages still open; saving asks to confirm it's the admin, and saves nothing.
    assert browser.get(realm.url("admin/settings")).status == 200
    page = browser.submit(page, {"require_2fa": "all", "grace_days": "7"})
    assert is_reauth_page(page, admin), page.text
    assert policy(realm)["require_2fa"] == "none"
    toggled = browser.submit(client_form(clients_page, rp.client_id))
    assert is_reauth_page(toggled, admin), toggled.text
    assert client_requires_2fa(realm, rp.client_id) is False
    assert events(realm, "admin.realm.policy_changed") == []
    assert events(realm, "admin.client.policy_changed") == []
    # After the password, the admin is back on the page and the change goes through.
    page = browser.submit(page, {"password": admin.password})
    assert page.status == 200 and page.url.endswith("/admin/settings"), page.text
    page = browser.submit(page, {"require_2fa": "all", "grace_days": "7"})
    # The policy covers this admin, who has no 2FA: saving asks first (issue 15).
    assert "Saving this will ask you to set up two-factor authentication" in page.text
    browser.submit(page)
    assert policy(realm)["require_2fa"] == "all"


# -- the clients page -------------------------------------------------------------------------
def test_p3_client_toggle_requires_2fa_and_is_audited(realm, rp):
    public_id, _ = realm.client(public=True)
    admin, browser, page = admin_on(realm, "admin/users")
    page = first = browser.get(page.link("Clients"))
    assert page.status == 200 and page.url.endswith("/admin/clients"), page.text
    assert "Requires two-factor authentication" in page.text
    assert "Confidential" in page.text and "Public" in page.text
    assert "Test RP" in page.text
    assert client_state(page, rp.client_id) == client_state(page, public_id) == "No"

    page = browser.submit(client_form(page, rp.client_id))

    assert page.status == 200 and page.url.endswith("/admin/clients"), page.text
    assert f"Test RP ({rp.client_id}) now requires two-factor authentication." in page.text
    assert client_state(page, rp.client_id) == "Yes"
    assert client_state(page, public_id) == "No"
    assert client_requires_2fa(realm, rp.client_id) is True
    assert client_requires_2fa(realm, public_id) is False
    rows = [
        r
        for r in audit_rows(browser.get(realm.url("admin/audit?type=admin.client")))
        if r["type"] == "admin.client.policy_changed"
    ]
    assert [(r["actor"], r["subject"]) for r in rows] == [
        (f"admin:{admin.email}", f"client:{rp.client_id}")
    ]
    [event] = events(realm, "admin.client.policy_changed")
    assert event.detail == {
        "client_id": rp.client_id,
        "old": {"require_2fa": False},
        "new": {"require_2fa": True},
    }
    # The same form sent again (a double click) sets the same value: nothing new to audit.
    again = browser.submit(client_form(first, rp.client_id))
    assert client_state(again, rp.client_id) == "Yes"
    assert len(events(realm, "admin.client.policy_changed")) == 1
    # The toggle now turns it off.
    page = browser.submit(client_form(again, rp.client_id))
    assert "no longer requires two-factor authentication" in page.text
    assert client_state(page, rp.client_id) == "No"
    assert client_requires_2fa(realm, rp.client_id) is False
    assert len(events(realm, "admin.client.policy_changed")) == 2


def test_client_toggle_refuses_bad_input(realm, rp):
    _, browser, page = admin_on(realm, "admin/clients")
    form = client_form(page, rp.client_id)
    for raw, status in (
        ([("client_id", rp.client_id), ("require_2fa", "maybe")], 400),
        ([("client_id", rp.client_id), ("require_2fa", "yes"), ("require_2fa", "no")], 400),
        ([("client_id", rp.client_id), ("client_id", "x"), ("require_2fa", "yes")], 400),
        ([("client_id", "no-such-client"), ("require_2fa", "yes")], 404),
        ([("require_2fa", "yes")], 404),
    ):
        answer = browser.submit(form, raw=raw)
        assert answer.status == status, (raw, answer.text)
    assert client_requires_2fa(realm, rp.client_id) is False
    assert events(realm, "admin.client.policy_changed") == []


def test_a_client_of_another_realm_cannot_be_changed(realm, server, rp):
    from tests.conftest import TestRealm

    other_name = f"{realm.name}x"
    with server.app.app_context():
        from idp.services.realms import create_realm

        db = get_session()
        row = create_realm(db, other_name, "Other")
        db.commit()
        other = TestRealm(name=other_name, id=row.id, base=server.url, server=server)
    other_client, _ = other.client()
    _, browser, page = admin_on(realm, "admin/clients")
    answer = browser.submit(
        client_form(page, rp.client_id), raw=[("client_id", other_client), ("require_2fa", "yes")]
    )
    assert answer.status == 404
    assert client_requires_2fa(other, other_client) is False


# -- the grace period restarts only when the requirement grows --------------------------------
def test_p2_require_2fa_since_moves_only_when_more_users_are_covered(realm):
    def change(value: str) -> Any:
        with realm.server.app.app_context():
            db = get_session()
            row = db.get(Realm, realm.id)
            set_realm_policy(db, row, require_2fa=value, actor=OPERATOR, client_address=None)
            db.commit()
        clock.travel(hours=1)
        return policy(realm)["require_2fa_since"]

    started = clock.now()
    to_admins = change("admins")
    assert to_admins is not None and to_admins >= started - timedelta(seconds=1)
    to_all = change("all")  # admins -> all: more users, the grace period restarts
    assert to_all > to_admins
    assert change("admins") == to_all  # all -> admins: fewer
    assert change("none") == to_all  # admins -> none: fewer
    again = change("all")  # none -> all
    assert again > to_all
    assert [
        e.detail["new"]["require_2fa"] for e in events(realm, "admin.realm.policy_changed")
    ] == [
        "admins",
        "all",
        "admins",
        "none",
        "all",
    ]


# -- the idp command ----------------------------------------------------------------------------
def _ok(result: subprocess.CompletedProcess) -> subprocess.CompletedProcess:
    assert result.returncode == 0, (result.stdout, result.stderr)
    assert "Traceback" not in result.stderr
    return result


def _refused(result: subprocess.CompletedProcess, *words: str) -> None:
    assert result.returncode != 0, (result.stdout, result.stderr)
    assert "Traceback" not in result.stderr + result.stdout
    assert "Error: " in result.stderr, result.stderr
    for word in words:
        assert word in result.stderr, result.stderr


def test_cli_realm_set_and_show(realm, server):
    data = json.loads(
        _ok(
            run_idp(
                server,
                *("realm", "set", realm.name, "--require-2fa", "all", "--grace-days", "7"),
                *("--trust-browser-days", "30", "--display-name", "Acme Inc.", "--json"),
            )
        ).stdout
    )
    stored = policy(realm)
    assert stored["require_2fa_since"] is not None
    assert data == {
        "name": realm.name,
        "display_name": "Acme Inc.",
        "require_2fa": "all",
        "require_2fa_since": stored["require_2fa_since"].isoformat(),
        "grace_days": 7,
        "trust_browser_days": 30,
        "passkey_sign_in": True,  # issue 10: on by default
        # Branding (issue 7), which ``idp realm set`` also changes.
        "default_locale": "en",
        "accent_color": None,
        "logo_content_type": None,
    }
    stored = {**stored, **realm_branding(realm)}
    assert {k: stored[k] for k in data if k != "require_2fa_since"} == {
        k: v for k, v in data.items() if k != "require_2fa_since"
    }
    [event] = events(realm, "admin.realm.policy_changed")
    assert event.actor == "operator" and event.client_address is None
    assert event.detail["new"] == {"require_2fa": "all", "grace_days": 7, "trust_browser_days": 30}
    [renamed] = events(realm, "admin.realm.branding_changed")
    assert renamed.actor == "operator"
    assert renamed.detail["new"] == {"display_name": "Acme Inc."}
    # Without --json: the same settings as text; an option left out keeps its value.
    text = _ok(run_idp(server, "realm", "set", realm.name, "--require-2fa", "admins")).stdout
    assert "require 2fa: admins" in text and "grace days: 7" in text
    assert "trust browser days: 30" in text
    shown = json.loads(_ok(run_idp(server, "realm", "show", realm.name, "--json")).stdout)
    assert shown == {**data, "require_2fa": "admins"}
    assert "display name: Acme Inc." in _ok(run_idp(server, "realm", "show", realm.name)).stdout


@pytest.mark.parametrize(
    ("args", "words"),
    [
        (("--grace-days", "-1"), ("grace period", "0 to 365")),
        (("--grace-days", "9999"), ("grace period", "0 to 365")),
        (("--grace-days", "abc"), ("--grace-days", "abc")),
        (("--trust-browser-days", "366"), ("Trust this browser", "0 to 365")),
        (("--require-2fa", "everyone"), ("--require-2fa", "everyone")),
        (("--display-name", " "), ("display name",)),
    ],
)
def test_cli_realm_set_refuses_bad_values(realm, server, args, words):
    result = run_idp(server, "realm", "set", realm.name, "--require-2fa", "all", *args)
    _refused(result, *words)
    stored = policy(realm)
    assert {k: stored[k] for k in UNCHANGED} == UNCHANGED
    assert stored["display_name"] == f"Test {realm.name}"
    assert events(realm, "admin.realm.policy_changed") == []


def test_cli_realm_set_unknown_realm(server):
    _refused(run_idp(server, "realm", "set", "no-such-realm", "--grace-days", "1"), "no realm")


def test_cli_client_add_require_2fa_and_client_set(realm, server):
    added = json.loads(
        _ok(
            run_idp(
                server,
                *("client", "add", "--name", "Payroll", "--redirect-uri", "https://pay.example/cb"),
                *("--require-2fa", "--json", "--realm", realm.name),
            )
        ).stdout
    )
    client_id = added["client_id"]
    assert added["require_2fa"] is True
    assert client_requires_2fa(realm, client_id) is True
    listed = json.loads(
        _ok(run_idp(server, "client", "list", "--json", "--realm", realm.name)).stdout
    )
    assert [(c["client_id"], c["require_2fa"]) for c in listed] == [(client_id, True)]
    assert "require_2fa=yes" in _ok(run_idp(server, "client", "list", "--realm", realm.name)).stdout

    result = _ok(
        run_idp(
            server, "client", "set", client_id, "--no-require-2fa", "--realm", realm.name, "--json"
        )
    )
    assert json.loads(result.stdout) == {
        "client_id": client_id,
        "name": "Payroll",
        "public": False,
        "require_2fa": False,
        "resource_server": False,
        "backchannel_logout_uri": None,
        "backchannel_logout_session_required": False,
        "frontchannel_logout_uri": None,
        "frontchannel_logout_session_required": False,
        "realm": realm.name,
    }
    assert client_requires_2fa(realm, client_id) is False
    [event] = events(realm, "admin.client.policy_changed")
    assert (event.actor, event.subject) == ("operator", f"client:{client_id}")
    assert event.detail["new"] == {"require_2fa": False}
    text = _ok(run_idp(server, "client", "set", client_id, "--require-2fa", "--realm", realm.name))
    assert "require_2fa=yes" in text.stdout
    assert client_requires_2fa(realm, client_id) is True
    # A client added without the flag does not require it.
    plain = json.loads(
        _ok(
            run_idp(
                server,
                *("client", "add", "--name", "Wiki", "--redirect-uri", "https://wiki.example/cb"),
                *("--json", "--realm", realm.name),
            )
        ).stdout
    )
    assert plain["require_2fa"] is False


def test_cli_client_set_refuses_bad_input(realm, server, rp):
    _refused(
        run_idp(server, "client", "set", "no-such-client", "--require-2fa", "--realm", realm.name),
        "no client no-such-client",
    )
    _refused(
        run_idp(server, "client", "set", rp.client_id, "--realm", realm.name),
        "--require-2fa or --no-require-2fa",
    )
    _refused(
        run_idp(server, "client", "set", rp.client_id, "--require-2fa", "--realm", "no-such-realm"),
        "no realm",
    )
    assert client_requires_2fa(realm, rp.client_id) is False
    assert events(realm, "admin.client.policy_changed") == []
