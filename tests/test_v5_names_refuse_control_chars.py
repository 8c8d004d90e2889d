"""SPEC V5: names that can reach a mail header or a page title (a realm's display name, user
and client names) refuse control characters, in the console and in ``idp`` alike; and no
stored value may stop a realm's mail.

Over real HTTP against the live server, the ``idp`` command as an operator runs it, and a real
SMTP server: a display name written into the database with CR/LF (as an older version or a
hand edit could have left it) still lets a password-reset mail through, with no header
injected."""

from __future__ import annotations

import html
import re
import secrets
from typing import Any
from urllib.parse import urljoin

import pytest
from sqlalchemy import update

from idp.db import get_session
from idp.models import Client, Realm, User
from idp.services import clients as client_service
from idp.services import errors
from idp.services import realms as realm_service
from idp.services import users as user_service
from tests.helpers import Browser, Page, run_idp

pytestmark = pytest.mark.slow

INJECTION = "Acme\r\nBcc: attacker@evil.example"
BAD_NAMES = [
    "Acme\nCorp",
    "Acme\rCorp",
    "Acme\tCorp",
    "Acme\x00Corp",
    "Acme\x1bCorp",
    "Acme\x85Corp",  # NEL
    "Acme\u2028Corp",  # line separator
    "Acme\u2029Corp",  # paragraph separator
    "Acme\u202eproC",  # right-to-left override
    "Acme\ufeffCorp",  # zero-width no-break space (BOM)
]
REFUSED_EN = "must not contain line breaks, tabs or other control characters"
REFUSED_JA = "改行、タブなどの制御文字は使用できません"


def stored_display_name(realm: Any) -> str:
    with realm.server.app.app_context():
        return get_session().get(Realm, realm.id).display_name


def text_of(page: Page) -> str:
    return html.unescape(re.sub(r"\s+", " ", page.text))


def admin_console(realm: Any, lang: str) -> tuple[Browser, Page]:
    admin = realm.user(admin=True)
    browser = realm.browser()
    browser.get(realm.url(f"account/?lang={lang}"))
    page = browser.get(realm.url("admin/settings"))
    page = browser.submit(page, {"email": admin.email, "password": admin.password})
    assert page.status == 200 and page.url.endswith("admin/settings"), page.text
    return browser, page


def post_branding(browser: Browser, page: Page, fields: dict[str, str]) -> Page:
    [form] = [f for f in page.forms if any(n == "display_name" for n, _, _ in f["fields"])]
    data = {n: v for n, v, t in form["fields"] if n and t != "file"}
    data["default_locale"] = "en"
    data.update(fields)
    resp = browser.session.post(
        urljoin(page.url, form["action"]),
        data=data,
        files={"logo": ("", b"", "application/octet-stream")},
        allow_redirects=False,
        timeout=30,
    )
    return browser._follow(resp)  # the test browser's redirect handling


# -- the console -----------------------------------------------------------------------------
@pytest.mark.parametrize("lang, refused", [("en", REFUSED_EN), ("ja", REFUSED_JA)])
def test_v5_console_refuses_a_display_name_with_a_line_break(realm, lang, refused):
    before = stored_display_name(realm)
    browser, page = admin_console(realm, lang)
    answer = post_branding(browser, page, {"display_name": INJECTION})
    assert answer.status == 400, answer.text
    assert refused in text_of(answer), text_of(answer)
    assert 'id="display-name"' in answer.text and 'aria-invalid="true"' in answer.text
    assert stored_display_name(realm) == before


# (A NUL byte is refused before any form is read: "The request contains a NUL character.")
@pytest.mark.parametrize("name", [n for n in BAD_NAMES if "\x00" not in n])
def test_v5_console_refuses_every_control_and_separator_character(realm, name):
    browser, page = admin_console(realm, "en")
    answer = post_branding(browser, page, {"display_name": name})
    assert answer.status == 400 and REFUSED_EN in text_of(answer), (name, text_of(answer))


def test_the_console_still_accepts_ordinary_and_japanese_names(realm):
    browser, page = admin_console(realm, "en")
    # A zero-width joiner belongs to emoji sequences and some scripts: not a control.
    for name in ("株式会社サンプル アカウント", "Ünïcødé & Co. 👩\u200d💻"):
        answer = post_branding(browser, page, {"display_name": name})
        assert answer.status == 200, answer.text
        assert stored_display_name(realm) == name


def test_v5_console_invite_refuses_a_user_name_with_a_line_break(realm):
    browser, _page = admin_console(realm, "ja")
    users = browser.get(realm.url("admin/users"))
    form = browser.get(users.link("ユーザーを招待"))
    email = f"invitee-{secrets.token_hex(4)}@example.com"
    answer = browser.submit(
        form, {"email": email, "name": "Ada\r\nLovelace"}, action="/users/invite"
    )
    assert answer.status == 400, answer.text
    assert REFUSED_JA in text_of(answer), text_of(answer)
    assert realm.lookup_user(email) is None


# -- the command line ------------------------------------------------------------------------
def refused_by_cli(result: Any) -> None:
    assert result.returncode == 1, (result.stdout, result.stderr)
    assert "Traceback" not in result.stderr + result.stdout
    assert result.stderr.startswith("Error: "), result.stderr
    assert REFUSED_EN in result.stderr, result.stderr


def test_v5_idp_realm_set_refuses_a_display_name_with_a_line_break(realm, server):
    before = stored_display_name(realm)
    refused_by_cli(run_idp(server, "realm", "set", realm.name, "--display-name", INJECTION))
    refused_by_cli(run_idp(server, "realm", "set", realm.name, "--display-name", "A\u2028B"))
    assert stored_display_name(realm) == before


def test_v5_idp_realm_add_refuses_a_display_name_with_a_line_break(server):
    name = f"r{secrets.token_hex(5)}"
    refused_by_cli(run_idp(server, "realm", "add", name, "--display-name", INJECTION))
    assert run_idp(server, "realm", "show", name).returncode != 0


def test_v5_idp_user_and_client_commands_refuse_names_with_line_breaks(realm, server):
    email = f"user-{secrets.token_hex(4)}@example.com"
    refused_by_cli(
        run_idp(
            server,
            *("user", "add", "--email", email, "--name", "Ada\nLovelace", "--password-stdin"),
            *("--realm", realm.name),
            stdin="a long enough passphrase\n",
        )
    )
    refused_by_cli(
        run_idp(server, "user", "invite", email, "--name", "Ada\r\nX", "--realm", realm.name)
    )
    assert realm.lookup_user(email) is None
    refused_by_cli(
        run_idp(
            server,
            *("client", "add", "--name", "Portal\r\nBcc: x@evil.example"),
            *("--redirect-uri", "http://127.0.0.1:9/cb", "--realm", realm.name),
        )
    )


def test_v5_services_refuse_control_characters_in_user_and_client_names(realm):
    with realm.server.app.app_context():
        db = get_session()
        row = db.get(Realm, realm.id)
        for name in BAD_NAMES:
            with pytest.raises(errors.InvalidInput):
                user_service.create_user(
                    db,
                    row,
                    f"u-{secrets.token_hex(4)}@example.com",
                    "a long enough passphrase",
                    display_name=name,
                )
            with pytest.raises(errors.InvalidInput):
                client_service.create_client(db, row, name, ["http://127.0.0.1:9/cb"])
            with pytest.raises(errors.InvalidInput):
                realm_service.create_realm(db, f"r{secrets.token_hex(5)}", name)
        db.rollback()


# -- no stored value stops mail --------------------------------------------------------------
def store_bypassing_the_services(realm: Any, user: Any, rp: Any) -> None:
    """What an older version or a hand edit of the database could have left."""
    with realm.server.app.app_context():
        db = get_session()
        db.execute(update(Realm).where(Realm.id == realm.id).values(display_name=INJECTION))
        db.execute(update(User).where(User.id == user.id).values(display_name="Ada\r\nBcc: x@y.z"))
        db.execute(
            update(Client).where(Client.client_id == rp.client_id).values(name="Portal\r\nX-A: b")
        )
        db.commit()


def test_v5_a_display_name_stored_with_a_line_break_still_lets_the_reset_mail_through(
    realm, rp, mailbox
):
    user = realm.user()
    store_bypassing_the_services(realm, user, rp)
    browser = realm.browser()
    page = browser.get(realm.url("forgot-password"))
    assert page.status == 200, page.text
    browser.submit(page, {"email": user.email}, action="/forgot-password")
    mailbox.deliver()
    arrived = mailbox.smtp.to(user.email)
    assert len(arrived) == 1, "the reset mail was not delivered"
    mail = arrived[0]
    assert mail.envelope_to == [user.email]
    assert mail.message["Bcc"] is None and mail.message["X-A"] is None
    subject = mail.subject
    assert "Reset your password" in subject
    assert "\r" not in subject and "\n" not in subject
    assert "Acme" in subject and "attacker@evil.example" in subject  # shown, not obeyed
    assert [link for link in mail.links() if "/reset-password/" in link]
    assert not mailbox.smtp.to("attacker@evil.example")
    assert not mailbox.smtp.to("x@y.z")


# -- over-long and blank names (outside review of the V5 fix, finding F3) -------------------------
TOO_LONG_EN = "The name must be at most 200 characters long."
TOO_LONG_JA = "名前は200文字以内で入力してください。"
BLANK_EN = "Enter a name: it cannot be blank."
BLANK_NAMES = ["   ", "\u00a0", "\u00a0 \u00a0", "\u3000"]


def refused_with(result: Any, message: str) -> None:
    assert result.returncode == 1, (result.stdout, result.stderr)
    assert "Traceback" not in result.stderr + result.stdout
    assert result.stderr.startswith("Error: ") and message in result.stderr, result.stderr


def cli_user_add(server: Any, realm: Any, email: str, name: str) -> Any:
    return run_idp(
        server,
        *("user", "add", "--email", email, "--name", name, "--password-stdin"),
        *("--realm", realm.name),
        stdin="a long enough passphrase\n",
    )


def cli_client_add(server: Any, realm: Any, name: str) -> Any:
    return run_idp(
        server,
        *("client", "add", "--name", name, "--redirect-uri", "http://127.0.0.1:9/cb"),
        *("--realm", realm.name, "--json"),
    )


def user_name(realm: Any, email: str) -> str:
    with realm.server.app.app_context():
        db = get_session()
        return db.query(User).filter_by(realm_id=realm.id, email=email).one().display_name


def client_names(realm: Any) -> list[str]:
    with realm.server.app.app_context():
        db = get_session()
        return [c.name for c in db.query(Client).filter(Client.realm_id == realm.id)]


def test_v5_idp_user_and_client_commands_refuse_a_name_over_200_characters(realm, server):
    email = f"user-{secrets.token_hex(4)}@example.com"
    refused_with(cli_user_add(server, realm, email, "A" * 5000), TOO_LONG_EN)
    refused_with(cli_user_add(server, realm, email, "A" * 201), TOO_LONG_EN)
    refused_with(
        run_idp(server, "user", "invite", email, "--name", "A" * 5000, "--realm", realm.name),
        TOO_LONG_EN,
    )
    assert realm.lookup_user(email) is None
    refused_with(cli_client_add(server, realm, "P" * 5000), TOO_LONG_EN)
    assert not [n for n in client_names(realm) if n.startswith("PPP")]
    # 200 characters fit the column.
    assert cli_user_add(server, realm, email, "あ" * 200).returncode == 0
    assert user_name(realm, email) == "あ" * 200
    assert cli_client_add(server, realm, "P" * 200).returncode == 0
    assert "P" * 200 in client_names(realm)


@pytest.mark.parametrize("blank", BLANK_NAMES, ids=["spaces", "nbsp", "mixed", "ideographic"])
def test_v5_idp_client_add_refuses_a_blank_name(realm, server, blank):
    before = client_names(realm)
    refused_with(cli_client_add(server, realm, blank), BLANK_EN)
    assert client_names(realm) == before


@pytest.mark.parametrize("blank", BLANK_NAMES, ids=["spaces", "nbsp", "mixed", "ideographic"])
def test_v5_idp_user_add_reads_a_blank_name_as_no_name(realm, server, blank):
    """A blank name is no name: the user gets the default, the address's local part."""
    email = f"blank-{secrets.token_hex(4)}@example.com"
    assert cli_user_add(server, realm, email, blank).returncode == 0
    assert user_name(realm, email) == email.split("@")[0]


def test_v5_names_are_stored_without_surrounding_spaces(realm, server):
    email = f"spaced-{secrets.token_hex(4)}@example.com"
    assert cli_user_add(server, realm, email, "\u00a0 Ada Lovelace  ").returncode == 0
    assert user_name(realm, email) == "Ada Lovelace"


@pytest.mark.parametrize("lang, refused", [("en", TOO_LONG_EN), ("ja", TOO_LONG_JA)])
def test_v5_console_invite_refuses_a_name_over_200_characters(realm, lang, refused):
    browser, _page = admin_console(realm, lang)
    form = browser.get(realm.url("admin/users/invite"))
    email = f"invitee-{secrets.token_hex(4)}@example.com"
    answer = browser.submit(form, {"email": email, "name": "A" * 5000}, action="/users/invite")
    assert answer.status == 400, answer.text
    assert refused in text_of(answer), text_of(answer)
    assert realm.lookup_user(email) is None


def test_v5_console_invite_reads_a_blank_name_as_no_name(realm):
    browser, _page = admin_console(realm, "en")
    form = browser.get(realm.url("admin/users/invite"))
    email = f"invitee-{secrets.token_hex(4)}@example.com"
    answer = browser.submit(form, {"email": email, "name": "\u00a0\u00a0"}, action="/users/invite")
    assert answer.status == 200, answer.text
    assert user_name(realm, email) == email.split("@")[0]
