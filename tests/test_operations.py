"""Operating the provider: production start-up checks, data-key rotation under a running
server, password-hash upgrades, ES256 signing."""

from __future__ import annotations

import contextlib
import json
import os
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from cryptography.fernet import Fernet
from sqlalchemy import select, text

from idp.db import get_session, make_engine
from idp.models import Authenticator, User
from tests.helpers import run_idp, totp_code
from tests.oidc_rp import RP, sign_in_password

pytestmark = pytest.mark.slow

IDP = str(Path(sys.executable).parent / "idp")


def _idp_env(tmp_path: Path, **extra: str) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("IDP_")}
    env.update(
        {
            "IDP_INSTANCE_PATH": str(tmp_path / "instance"),
            "IDP_DATABASE_URL": f"sqlite:///{tmp_path / 'prod.sqlite3'}",
            **extra,
        }
    )
    return env


def _run(env: dict[str, str], *args: str) -> subprocess.CompletedProcess:
    return subprocess.run(
        [IDP, *args],
        env=env,
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
        stdin=subprocess.DEVNULL,
    )


def test_production_refuses_generated_secrets(tmp_path):
    result = _run(
        _idp_env(tmp_path, IDP_ENV="production", IDP_BASE_URL="https://id.example.com"),
        "db",
        "upgrade",
    )
    assert result.returncode != 0
    assert "refuses generated development secrets" in result.stderr
    assert "IDP_SECRET_KEY" in result.stderr and "Traceback" not in result.stderr


def test_production_refuses_an_http_issuer(tmp_path):
    given = {
        "IDP_ENV": "production",
        "IDP_SECRET_KEY": "s" * 40,
        "IDP_DATA_KEYS": Fernet.generate_key().decode(),
        "IDP_CODE_PEPPER": "p" * 40,
    }

    def idp(base_url: str, *args: str) -> subprocess.CompletedProcess:
        return _run(_idp_env(tmp_path, IDP_BASE_URL=base_url, **given), *args)

    http = idp("http://id.example.com", "db", "upgrade")
    assert http.returncode != 0 and "https://" in http.stderr
    assert "Traceback" not in http.stderr
    # With real secrets and an https issuer it runs; before `db upgrade` a clean error.
    early = idp("https://id.example.com", "realm", "add", "prod", "--json")
    assert early.returncode == 1 and "idp db upgrade" in early.stderr
    assert "Traceback" not in early.stderr
    assert idp("https://id.example.com", "db", "upgrade").returncode == 0
    added = idp("https://id.example.com", "realm", "add", "prod", "--json")
    assert added.returncode == 0, added.stderr
    assert json.loads(added.stdout)["issuer"] == "https://id.example.com/realms/prod"


def test_rotate_data_key_reencrypts_while_the_server_keeps_working(realm, rp, server):
    user = realm.user(with_totp=True)
    secrets_file = Path(server.app.extensions["idp.settings"].instance_path) / "secrets.json"
    keys_before = json.loads(secrets_file.read_text())["data_keys"]
    with server.app.app_context():
        before = get_session().scalar(
            select(Authenticator.secret_encrypted).where(
                Authenticator.user_id == user.id, Authenticator.type == "totp"
            )
        )
    result = run_idp(server, "keys", "rotate-data-key")
    assert result.returncode == 0, result.stderr
    keys_after = json.loads(secrets_file.read_text())["data_keys"]
    assert len(keys_after) == 1 and keys_after[0] not in keys_before
    with server.app.app_context():
        after = get_session().scalar(
            select(Authenticator.secret_encrypted).where(
                Authenticator.user_id == user.id, Authenticator.type == "totp"
            )
        )
    assert after != before
    # The running server reads TOTP keys and signing keys with the new key, unrestarted.
    client = RP(realm.issuer, rp.client_id, rp.client_secret, rp.redirect_uri)
    flow = client.start()
    browser = realm.browser()
    page = sign_in_password(browser, flow.url, user.email, user.password)
    browser.submit(page, {"code": totp_code(user.totp_secret)})
    token = client.finish(flow, browser)
    assert client.verify_id_token(token["id_token"], nonce=flow.nonce)["amr"] == [
        "pwd",
        "otp",
        "mfa",
    ]
    # The old key no longer opens what is stored: a copy of the old key is useless.
    with pytest.raises(Exception):  # noqa: B017 - cryptography's InvalidToken
        Fernet(keys_before[0].encode()).decrypt(after.encode())
    # And enrolment keeps working for others.
    assert realm.user(with_totp=True).totp_secret


def test_password_hash_is_upgraded_at_sign_in_when_parameters_change(
    realm, rp, live, database_url, instance_dir
):
    from tests.conftest import start_server

    user = realm.user()
    with live.app.app_context():
        old_hash = get_session().scalar(select(User.password_hash).where(User.id == user.id))
    assert "t=2" in old_hash and "m=19456" in old_hash
    stronger = start_server(database_url, instance_dir, base_url=live.url, argon2_time_cost=3)
    try:
        with stronger.app.test_client() as web:
            page = web.get(
                realm.endpoints["auth"].replace(live.url, "")
                + "?"
                + "&".join(
                    [
                        f"client_id={rp.client_id}",
                        "response_type=code",
                        f"redirect_uri={rp.redirect_uri}",
                        "scope=openid",
                    ]
                )
            )
            assert page.status_code == 302
            login = web.get(page.headers["Location"], follow_redirects=True)
            token = login.text.split('name="csrf_token" value="')[1].split('"')[0]
            done = web.post(
                login.request.path,
                data={"csrf_token": token, "email": user.email, "password": user.password},
            )
            assert done.status_code == 303
            resumed = web.get(done.headers["Location"])
            assert resumed.status_code == 302
            assert resumed.headers["Location"].startswith(rp.redirect_uri)
        with stronger.app.app_context():
            new_hash = get_session().scalar(select(User.password_hash).where(User.id == user.id))
    finally:
        stronger.stop()
    assert new_hash != old_hash and "t=3" in new_hash
    # The upgraded hash still signs in through the regular server.
    browser = realm.browser()
    client = RP(realm.issuer, rp.client_id, rp.client_secret, rp.redirect_uri)
    flow = client.start()
    sign_in_password(browser, flow.url, user.email, user.password)
    assert client.finish(flow, browser)["id_token"]


@pytest.mark.settings(signing_alg="ES256")
def test_es256_signing_keys_are_selectable(realm, rp):
    meta_alg = RP(realm.issuer, rp.client_id, rp.client_secret, rp.redirect_uri)
    assert meta_alg.meta["id_token_signing_alg_values_supported"] == ["ES256"]
    user = realm.user()
    flow = meta_alg.start()
    browser = realm.browser()
    sign_in_password(browser, flow.url, user.email, user.password)
    token = meta_alg.finish(flow, browser)
    header = json.loads(
        __import__("base64").urlsafe_b64decode(token["id_token"].split(".")[0] + "==")
    )
    assert header["alg"] == "ES256"
    assert meta_alg.verify_id_token(token["id_token"], nonce=flow.nonce)["sub"] == user.sub


def _failed_sign_in_through_proxy(start: Any, base: str, headers: dict[str, str]) -> None:
    """Follow the sign-in redirect to the password page and submit a wrong password, as a
    browser behind the TLS proxy would (the cookies are Secure, so they are sent by hand)."""
    import html
    import re
    from urllib.parse import urljoin

    import requests

    cookies = dict(start.cookies)
    resp = start
    while resp.is_redirect:
        resp = requests.get(
            urljoin(base, resp.headers["Location"]),
            headers=headers,
            cookies=cookies,
            allow_redirects=False,
            timeout=10,
        )
        cookies |= dict(resp.cookies)
    assert resp.status_code == 200 and 'name="password"' in resp.text, resp.text
    action = html.unescape(re.search(r'<form method="post" action="([^"]+)"', resp.text)[1])
    csrf = re.search(r'name="csrf_token" value="([^"]+)"', resp.text)[1]
    failed = requests.post(
        urljoin(base, action),
        data={"csrf_token": csrf, "email": "nobody@example.com", "password": "wrong password"},
        headers=headers | {"Referer": "https://id.example.com/"},
        cookies=cookies,
        allow_redirects=False,
        timeout=10,
    )
    assert failed.status_code == 401, failed.text


def _production_instance(tmp_path: Path, proxy_count: int) -> tuple[dict[str, str], dict]:
    """The README's production steps up to ``idp serve``: secrets from ``idp secrets``,
    migrate, a realm ``prod`` and a confidential client. Returns the environment and the
    client (``client_id``, ``client_secret``)."""
    import socket

    printed = _run(_idp_env(tmp_path), "secrets", "--json")
    assert printed.returncode == 0, printed.stderr
    given = json.loads(printed.stdout)
    assert set(given) == {"IDP_SECRET_KEY", "IDP_DATA_KEYS", "IDP_CODE_PEPPER"}
    assert given != json.loads(_run(_idp_env(tmp_path), "secrets", "--json").stdout)
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    env = _idp_env(
        tmp_path,
        IDP_ENV="production",
        IDP_BASE_URL="https://id.example.com",
        IDP_PROXY_COUNT=str(proxy_count),
        IDP_HOST="127.0.0.1",
        IDP_PORT=str(port),
        **given,
    )
    for args in (("db", "upgrade"), ("realm", "add", "prod", "--json")):
        done = _run(env, *args)
        assert done.returncode == 0, done.stderr
    added = _run(
        env,
        *("client", "add", "--name", "Svc", "--redirect-uri", "https://app.example.com/cb"),
        *("--realm", "prod", "--json"),
    )
    assert not (tmp_path / "instance" / "secrets.json").exists()
    return env, json.loads(added.stdout)


@contextlib.contextmanager
def _serving(env: dict[str, str]) -> Iterator[str]:
    """``idp serve`` (granian) in a subprocess; yields the realm's base URL once it answers."""
    import time

    import requests

    proc = subprocess.Popen(
        [IDP, "serve"], env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True
    )
    base = f"http://127.0.0.1:{env['IDP_PORT']}/realms/prod"
    try:
        for _ in range(200):
            try:
                requests.get(f"{base}/.well-known/openid-configuration", timeout=2)
                break
            except requests.ConnectionError:
                time.sleep(0.05)
        else:
            raise AssertionError("idp serve did not start")
        yield base
    finally:
        proc.terminate()
        proc.communicate(timeout=10)


def _start_sign_in(base: str, client: dict, headers: dict[str, str]) -> Any:
    import requests

    start = requests.get(
        f"{base}/protocol/openid-connect/auth",
        params={
            "client_id": client["client_id"],
            "redirect_uri": "https://app.example.com/cb",
            "response_type": "code",
            "scope": "openid",
        },
        headers=headers,
        allow_redirects=False,
        timeout=10,
    )
    assert start.status_code == 302, start.text
    return start


def _throttled_addresses(env: dict[str, str]) -> set[str]:
    engine = make_engine(env["IDP_DATABASE_URL"])
    try:
        with engine.connect() as conn:
            keys = conn.execute(text("SELECT key FROM throttle")).scalars()
            return {key.removeprefix("pwd:ip:") for key in keys if key.startswith("pwd:ip:")}
    finally:
        engine.dispose()


def test_production_instance_from_the_readme_steps(tmp_path):
    """README "Running in production": secrets from ``idp secrets``, migrate, add a realm
    and a client, ``idp serve`` (granian) behind a TLS proxy. The issuer is the https URL,
    the secrets never touch the instance folder, the session cookie is Secure, answers carry
    HSTS, and a token from the served endpoint verifies against its JWKS."""
    import requests
    from joserfc import jwt
    from joserfc.jwk import KeySet

    env, client = _production_instance(tmp_path, proxy_count=1)
    proxied = {"X-Forwarded-Proto": "https", "X-Forwarded-Host": "id.example.com"}
    with _serving(env) as base:
        meta = requests.get(f"{base}/.well-known/openid-configuration", timeout=10).json()
        assert meta["issuer"] == "https://id.example.com/realms/prod"
        token = requests.post(
            f"{base}/protocol/openid-connect/token",
            data={"grant_type": "client_credentials"},
            auth=(client["client_id"], client["client_secret"]),
            headers=proxied,
            timeout=10,
        )
        assert token.status_code == 200, token.text
        keys = KeySet.import_key_set(
            requests.get(f"{base}/protocol/openid-connect/certs", timeout=10).json()
        )
        claims = jwt.decode(token.json()["access_token"], keys).claims
        assert claims["iss"] == meta["issuer"]
        start = _start_sign_in(base, client, proxied)
        cookie = start.headers["Set-Cookie"]
        assert "Secure" in cookie and "HttpOnly" in cookie
        assert start.headers["Strict-Transport-Security"] == "max-age=31536000"
        # A failed sign-in is counted against the client's address from X-Forwarded-For,
        # not the proxy's (the server must pass the header through to the app).
        _failed_sign_in_through_proxy(start, base, proxied | {"X-Forwarded-For": "203.0.113.9"})
    assert _throttled_addresses(env) == {"203.0.113.9"}


def test_without_a_proxy_forged_forwarded_headers_are_ignored(tmp_path):
    """With IDP_PROXY_COUNT=0 (nothing in front), a client that sends its own
    X-Forwarded-For cannot pick the address its failures count against (to slip past the
    per-address password throttle), nor claim https with X-Forwarded-Proto."""
    env, client = _production_instance(tmp_path, proxy_count=0)
    forged = {
        "X-Forwarded-For": "203.0.113.9",
        "X-Forwarded-Proto": "https",
        "X-Forwarded-Host": "evil.example",
    }
    with _serving(env) as base:
        start = _start_sign_in(base, client, forged)
        assert "Strict-Transport-Security" not in start.headers
        assert start.headers["Location"].startswith("/realms/prod/login/")
        _failed_sign_in_through_proxy(start, base, forged)
    assert _throttled_addresses(env) == {"127.0.0.1"}
