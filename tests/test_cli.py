"""The ``idp`` command, run as an operator runs it (a subprocess against the live server's
database and instance folder); each result is checked through the server where it matters."""

from __future__ import annotations

import json
import secrets
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest
import requests

from idp.db import get_session
from tests.helpers import run_idp
from tests.oidc_rp import RP, sign_in_password

pytestmark = pytest.mark.slow

IDP = Path(sys.executable).parent / "idp"


def _ok(result: subprocess.CompletedProcess) -> subprocess.CompletedProcess:
    assert result.returncode == 0, (result.stdout, result.stderr)
    assert "Traceback" not in result.stderr
    return result


def _refused(result: subprocess.CompletedProcess, *words: str) -> None:
    assert result.returncode != 0, (result.stdout, result.stderr)
    assert "Traceback" not in result.stderr + result.stdout
    assert result.stderr.startswith("Error: "), result.stderr
    for word in words:
        assert word in result.stderr, result.stderr


def _client_add(server: Any, realm: Any, name: str, redirect_uri: str, *extra: str) -> dict:
    """``idp client add … --json`` in the test realm; its parsed output."""
    result = _ok(
        run_idp(
            server,
            *("client", "add", "--name", name, "--redirect-uri", redirect_uri, *extra),
            *("--json", "--realm", realm.name),
        )
    )
    return json.loads(result.stdout)


def _signs_in(realm: Any, rp: Any, email: str, password: str) -> bool:
    client = RP(realm.issuer, rp.client_id, rp.client_secret, rp.redirect_uri)
    flow = client.start()
    browser = realm.browser()
    # An address of its own (the server trusts one proxy in these tests), so a refused
    # password never counts against 127.0.0.1 for other tests.
    browser.session.headers["X-Forwarded-For"] = (
        f"10.77.{secrets.randbelow(250)}.{secrets.randbelow(250)}"
    )
    sign_in_password(browser, flow.url, email, password)
    if browser.left_to is None:
        return False
    claims = client.verify_id_token(client.finish(flow, browser)["id_token"], nonce=flow.nonce)
    return claims["email"] == email


@pytest.mark.settings(proxy_count=1)
def test_user_add_reads_password_from_stdin_and_prints_json(realm, rp, server):
    email = f"cli-{secrets.token_hex(4)}@example.com"
    password = "a long cli password 42"
    result = _ok(
        run_idp(
            server,
            "user",
            "add",
            "--email",
            email,
            "--password-stdin",
            "--admin",
            "--json",
            "--realm",
            realm.name,
            stdin=password + "\n",
        )
    )
    data = json.loads(result.stdout)
    assert data["email"] == email
    assert data["admin"] is True
    assert data["realm"] == realm.name
    assert password not in result.stdout + result.stderr
    assert _signs_in(realm, rp, email, password)
    listed = json.loads(
        _ok(run_idp(server, "user", "list", "--json", "--realm", realm.name)).stdout
    )
    assert [(row["email"], row["admin"]) for row in listed] == [(email, True)]


def test_client_add_prints_a_secret_that_works_at_the_token_endpoint(realm, server):
    data = _client_add(server, realm, "Billing", "https://billing.example/cb")
    assert data["client_id"]
    assert len(data["client_secret"]) >= 43
    assert data["public"] is False
    token = requests.post(
        realm.endpoints["token"],
        data={"grant_type": "client_credentials"},
        auth=(data["client_id"], data["client_secret"]),
        timeout=10,
    )
    assert token.status_code == 200, token.text
    assert token.json()["access_token"]
    wrong = requests.post(
        realm.endpoints["token"],
        data={"grant_type": "client_credentials"},
        auth=(data["client_id"], data["client_secret"][:-1]),
        timeout=10,
    )
    assert wrong.status_code == 401


def test_public_client_add_has_no_secret(realm, server):
    data = _client_add(server, realm, "SPA", "https://spa.example/cb", "--public")
    assert data["client_id"]
    assert data["client_secret"] is None
    assert data["public"] is True
    text = _ok(
        run_idp(
            server,
            "client",
            "add",
            "--name",
            "SPA2",
            "--redirect-uri",
            "https://spa.example/cb",
            "--public",
            "--realm",
            realm.name,
        )
    )
    assert "client_secret" not in text.stdout


def test_realm_add_prints_an_issuer_that_serves_discovery(server):
    name = f"cli-{secrets.token_hex(4)}"
    data = json.loads(_ok(run_idp(server, "realm", "add", name, "--json")).stdout)
    assert data["name"] == name
    assert data["issuer"] == f"{server.url}/realms/{name}"
    meta = requests.get(f"{data['issuer']}/.well-known/openid-configuration", timeout=10)
    assert meta.status_code == 200
    assert meta.json()["issuer"] == data["issuer"]
    keys = requests.get(meta.json()["jwks_uri"], timeout=10).json()["keys"]
    assert len(keys) == 1


def test_user_list_json_lists_the_realms_users(realm, server):
    admin = realm.user(admin=True)
    plain = realm.user()
    data = json.loads(_ok(run_idp(server, "user", "list", "--json", "--realm", realm.name)).stdout)
    by_email = {row["email"]: row for row in data}
    assert set(by_email) == {admin.email, plain.email}
    assert by_email[admin.email]["admin"] is True
    assert by_email[plain.email]["admin"] is False
    assert by_email[plain.email]["two_factor"] is False
    assert by_email[plain.email]["disabled"] is False
    assert "password" not in json.dumps(data).lower()


@pytest.mark.settings(proxy_count=1)
def test_user_set_password_replaces_the_password(realm, rp, server):
    user = realm.user()
    new = "a brand new password 7"
    result = _ok(
        run_idp(
            server,
            "user",
            "set-password",
            user.email,
            "--password-stdin",
            "--realm",
            realm.name,
            stdin=new + "\n",
        )
    )
    assert user.email in result.stdout
    assert _signs_in(realm, rp, user.email, new)
    assert not _signs_in(realm, rp, user.email, user.password)


def test_duplicate_email_is_refused_without_traceback(realm, server):
    user = realm.user()
    result = run_idp(
        server,
        "user",
        "add",
        "--email",
        user.email,
        "--password-stdin",
        "--realm",
        realm.name,
        stdin="another password 123\n",
    )
    _refused(result)
    assert user.email in result.stderr or "exists" in result.stderr


def test_unknown_realm_is_refused_without_traceback(server):
    result = run_idp(server, "user", "list", "--realm", "no-such-realm", "--json")
    _refused(result, "no-such-realm")
    result = run_idp(
        server,
        "client",
        "add",
        "--name",
        "X",
        "--redirect-uri",
        "https://x.example/cb",
        "--realm",
        "no-such-realm",
    )
    _refused(result, "no-such-realm")


def test_unknown_user_set_password_is_refused_without_traceback(realm, server):
    result = run_idp(
        server,
        "user",
        "set-password",
        "nobody@example.com",
        "--password-stdin",
        "--realm",
        realm.name,
        stdin="whatever password 1\n",
    )
    _refused(result, "nobody@example.com")


def test_duplicate_realm_is_refused_without_traceback(realm, server):
    _refused(run_idp(server, "realm", "add", realm.name), realm.name)


def test_operator_vouches_for_an_email_address(realm, server):
    """``user add --email-verified`` and ``user email-verified [--unverified]`` set what the
    ``email_verified`` claim says; the change is audited as the operator."""
    email = f"cli-{secrets.token_hex(4)}@example.com"
    added = json.loads(
        _ok(
            run_idp(
                server,
                *("user", "add", "--email", email, "--password-stdin", "--email-verified"),
                *("--json", "--realm", realm.name),
                stdin="a long cli password 42\n",
            )
        ).stdout
    )
    assert added["email_verified"] is True
    off = json.loads(
        _ok(
            run_idp(
                server,
                "user",
                "email-verified",
                email,
                "--unverified",
                "--json",
                "--realm",
                realm.name,
            )
        ).stdout
    )
    assert off == {"email": email, "email_verified": False, "realm": realm.name}
    listed = json.loads(
        _ok(run_idp(server, "user", "list", "--json", "--realm", realm.name)).stdout
    )
    assert [(row["email"], row["email_verified"]) for row in listed] == [(email, False)]
    with server.app.app_context():
        from sqlalchemy import select

        from idp.models import AuditEvent

        types = (
            get_session()
            .scalars(
                select(AuditEvent.type).where(
                    AuditEvent.realm_id == realm.id, AuditEvent.actor == "operator"
                )
            )
            .all()
        )
    assert "admin.user.email_unverified" in types


def test_generated_client_ids_never_read_as_an_option():
    # A generated client_id starting with "-" made `idp client set <id>` fail with "No such
    # option" (one id in 64); they never start with one now.
    from idp.services.clients import new_client_id

    ids = [new_client_id() for _ in range(2000)]
    assert not [i for i in ids if i.startswith("-")]
    assert len(set(ids)) == len(ids) and all(len(i) >= 22 for i in ids)
