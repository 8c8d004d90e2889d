"""When the database fails (issue 8): protocol endpoints answer 503 with an OAuth-style JSON
error and Retry-After, pages a "temporarily unavailable" page (branded when the realm is
cached), discovery and JWKS keep answering from the process cache, /readyz says 503 while
/healthz stays 200, every failed request is one log line with its request id.

The first tests break a SQLite database of their own (an unreadable path, a lock held by
another connection). The last ones start a PostgreSQL of their own: one stops it under load
and restarts it (``test_postgres_outage_under_load_...``); the other freezes it (SIGSTOP:
it stops answering without refusing) under ``idp serve`` and checks that each request costs
at most the configured timeouts, then a 503, while ``/healthz`` and the cached documents
answer at once (V8, ``test_v8_...``)."""

from __future__ import annotations

import contextlib
import json
import logging
import os
import secrets
import shutil
import signal
import socket
import sqlite3
import subprocess
import sys
import tempfile
import threading
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any
from urllib.parse import parse_qs, urlsplit

import pytest
import requests
from flask import Flask
from joserfc import jwt
from joserfc.jwk import KeySet
from sqlalchemy import text
from sqlalchemy.exc import DBAPIError, IntegrityError, OperationalError, ProgrammingError
from sqlalchemy.exc import TimeoutError as PoolTimeout

from idp import clock, create_app
from idp.config import ConfigError, load_settings
from idp.db import database_unavailable, get_session, make_engine, postgres_connect_args
from idp.migrate import upgrade_database
from idp.services.clients import create_client
from idp.services.realms import create_realm
from idp.services.users import create_user
from idp.web import failures
from tests.conftest import PASSWORD, start_server
from tests.helpers import Browser
from tests.support.flows import authorize_url

pytestmark = pytest.mark.slow

#: RFC 7636's example verifier, whose S256 challenge ``authorize_url`` sends.
VERIFIER = "dBjftJeZ4CVP-mB92K27uhbUJU1p1r_wW1gFWFOEjXk"
PROTOCOL = {
    "token": "protocol/openid-connect/token",
    "userinfo": "protocol/openid-connect/userinfo",
    "introspect": "protocol/openid-connect/token/introspect",
    "revoke": "protocol/openid-connect/revoke",
}


# -- SQLite: a database of the test's own ---------------------------------------------------
@dataclass
class OwnApp:
    app: Flask
    db_path: Path
    realm: str
    client_id: str
    client_secret: str

    def web(self) -> Any:
        return self.app.test_client()

    def break_database(self) -> None:
        """Make the database file unreadable: a directory where the file was."""
        self.db_path.rename(self.db_path.with_suffix(".away"))
        self.db_path.mkdir()
        self.app.extensions["idp.engine"].dispose()

    def mend_database(self) -> None:
        self.db_path.rmdir()
        self.db_path.with_suffix(".away").rename(self.db_path)


@pytest.fixture
def own(tmp_path: Path) -> Iterator[OwnApp]:
    db_path = tmp_path / "own.sqlite3"
    app = create_app(
        {
            "instance_path": str(tmp_path),
            "database_url": f"sqlite:///{db_path}",
            "base_url": "http://localhost",
        }
    )
    upgrade_database(app)
    with app.app_context():
        db = get_session()
        realm = create_realm(db, "outage", "Outage Corp")
        new = create_client(db, realm, "RP", ["http://127.0.0.1:9/cb"])
        db.commit()
        client_id, secret = new.client.client_id, new.client_secret
    assert secret is not None
    yield OwnApp(app, db_path, "outage", client_id, secret)
    app.extensions["idp.engine"].dispose()


def _assert_json_503(resp: Any) -> None:
    assert resp.status_code == 503, resp.get_data(as_text=True)
    assert resp.headers["Content-Type"] == "application/json"
    assert resp.get_json()["error"] == "temporarily_unavailable"
    assert int(resp.headers["Retry-After"]) == 5
    assert resp.headers["Cache-Control"] == "no-store"


def _assert_page_503(body: str, status: int, headers: Any) -> None:
    assert status == 503
    assert int(headers["Retry-After"]) > 0
    assert headers["Content-Type"].startswith("text/html")
    assert "Traceback" not in body and "sqlalchemy" not in body.lower()


def test_503_for_protocol_endpoints_and_pages_while_the_database_is_unreadable(own):
    web = own.web()
    base = f"/realms/{own.realm}"
    discovery = web.get(f"{base}/.well-known/openid-configuration")
    jwks = web.get(f"{base}/protocol/openid-connect/certs")
    assert discovery.status_code == jwks.status_code == 200
    token = web.post(
        f"{base}/{PROTOCOL['token']}",
        data={"grant_type": "client_credentials"},
        auth=(own.client_id, own.client_secret),
    )
    assert token.status_code == 200
    access_token = token.get_json()["access_token"]
    assert web.get("/readyz").status_code == 200

    own.break_database()
    auth = (own.client_id, own.client_secret)
    token_url = f"{base}/{PROTOCOL['token']}"
    _assert_json_503(web.post(token_url, data={"grant_type": "client_credentials"}, auth=auth))
    # A browser app's request (CORS) too: the origin check does not ask the database again.
    _assert_json_503(
        web.post(
            token_url,
            data={"grant_type": "client_credentials"},
            auth=auth,
            headers={"Origin": "http://127.0.0.1:9"},
        )
    )
    bearer = {"Authorization": f"Bearer {access_token}"}
    _assert_json_503(web.get(f"{base}/{PROTOCOL['userinfo']}", headers=bearer))
    _assert_json_503(web.post(f"{base}/{PROTOCOL['introspect']}", data={"token": "t"}, auth=auth))
    _assert_json_503(web.post(f"{base}/{PROTOCOL['revoke']}", data={"token": "t"}, auth=auth))
    # Discovery and JWKS: from the process cache, even after its period (stale-if-error).
    for _ in range(2):
        assert web.get(f"{base}/.well-known/openid-configuration").data == discovery.data
        assert web.get(f"{base}/protocol/openid-connect/certs").data == jwks.data
        clock.travel(seconds=60)
    # A realm this process never cached cannot be served.
    _assert_json_503(web.get("/realms/other/.well-known/openid-configuration"))

    # Pages: the "temporarily unavailable" page, with the brand of the cached realm.
    page = web.get(f"{base}/account/")
    body = page.get_data(as_text=True)
    _assert_page_503(body, page.status_code, page.headers)
    assert "Temporarily unavailable" in body and "Outage Corp" in body
    assert page.headers["X-Request-Id"] in body  # the reference a person can quote
    assert 'id="retry"' in body  # a GET can simply be tried again
    ja = web.get(f"{base}/account/", headers={"Accept-Language": "ja"})
    body = ja.get_data(as_text=True)
    _assert_page_503(body, ja.status_code, ja.headers)
    assert "一時的に利用できません" in body and 'lang="ja"' in body
    # The brand's stylesheet keeps the realm's colour.
    assert web.get(f"{base}/branding/theme.css").status_code == 200
    # A form post, and a realm this process never saw: the page without brand.
    post = web.post("/realms/other/login/x/password", data={"email": "a@example.com"})
    body = post.get_data(as_text=True)
    _assert_page_503(body, post.status_code, post.headers)
    assert "Identity provider" in body and 'id="retry"' not in body

    assert web.get("/readyz").status_code == 503
    assert web.get("/healthz").status_code == 200

    own.mend_database()
    assert web.get("/readyz").status_code == 200
    again = web.post(
        f"{base}/{PROTOCOL['token']}",
        data={"grant_type": "client_credentials"},
        auth=(own.client_id, own.client_secret),
    )
    assert again.status_code == 200
    assert web.get(f"{base}/account/").status_code in (302, 303)


@pytest.mark.parametrize("busy_seconds", [1])
def test_a_locked_sqlite_database_answers_503_after_the_statement_timeout(tmp_path, busy_seconds):
    """IDP_DB_STATEMENT_TIMEOUT is SQLite's busy timeout: a writer that holds the lock makes
    requests wait that long, then answer 503 (not hang, not 500)."""
    db_path = tmp_path / "locked.sqlite3"
    app = create_app(
        {
            "instance_path": str(tmp_path),
            "database_url": f"sqlite:///{db_path}",
            "db_statement_timeout": busy_seconds,
        }
    )
    upgrade_database(app)
    with app.app_context():
        create_realm(get_session(), "locked")
        get_session().commit()
    holder = sqlite3.connect(db_path, isolation_level=None)
    holder.execute("BEGIN IMMEDIATE")
    try:
        started = time.monotonic()
        resp = app.test_client().post(
            "/realms/locked/protocol/openid-connect/token", data={"grant_type": "x"}
        )
        waited = time.monotonic() - started
    finally:
        holder.execute("ROLLBACK")
        holder.close()
        app.extensions["idp.engine"].dispose()
    _assert_json_503(resp)
    assert busy_seconds - 0.1 <= waited < busy_seconds + 5


def test_one_log_line_per_failed_request_with_its_id_and_one_traceback_per_minute(
    own, caplog, monkeypatch
):
    monkeypatch.setattr(failures, "_last_traceback", {})
    web = own.web()
    own.break_database()
    caplog.set_level(logging.INFO, logger="idp.request")
    ids = []
    for _ in range(3):
        resp = web.post(
            f"/realms/{own.realm}/{PROTOCOL['token']}",
            data={"grant_type": "client_credentials"},
            auth=(own.client_id, own.client_secret),
        )
        assert resp.status_code == 503
        ids.append(resp.headers["X-Request-Id"])
    lines = [json.loads(r.getMessage()) for r in caplog.records if r.getMessage().startswith("{")]
    assert [line["request_id"] for line in lines] == ids
    assert all(line["status"] == 503 and line["database_unavailable"] for line in lines)
    assert lines[0]["error"].startswith("sqlalchemy.exc.OperationalError(")
    assert lines[0]["path"] == f"/realms/{own.realm}/{PROTOCOL['token']}"
    tracebacks = [r for r in caplog.records if r.exc_info]
    assert len(tracebacks) == 1

    clock.travel(seconds=61)
    caplog.clear()
    web.post(f"/realms/{own.realm}/{PROTOCOL['token']}", data={"grant_type": "refresh_token"})
    assert len([r for r in caplog.records if r.exc_info]) == 1
    own.mend_database()
    # A request that succeeds is not logged as failed.
    caplog.clear()
    assert web.get("/healthz").status_code == 200
    assert not [r for r in caplog.records if r.name == "idp.request"]


def test_a_bug_stays_a_500_and_is_logged_as_such(own, caplog):
    """A missing table is a deployment bug, not an outage: 500, no Retry-After."""
    with own.app.app_context():
        get_session().execute(text("DROP TABLE client"))
        get_session().commit()
    caplog.set_level(logging.INFO, logger="idp.request")
    resp = own.web().post(
        f"/realms/{own.realm}/{PROTOCOL['token']}",
        data={"grant_type": "client_credentials"},
        auth=(own.client_id, own.client_secret),
    )
    assert resp.status_code == 500 and "Retry-After" not in resp.headers
    assert "Traceback" not in resp.get_data(as_text=True)
    line = next(json.loads(r.getMessage()) for r in caplog.records if r.getMessage()[:1] == "{")
    assert line["status"] == 500 and line["database_unavailable"] is False


def test_request_id_is_taken_from_the_caller_only_when_short_and_safe(own):
    web = own.web()
    assert web.get("/healthz", headers={"X-Request-Id": "lb-1234.abc"}).headers["X-Request-Id"] == (
        "lb-1234.abc"
    )
    for unsafe in ("a" * 65, "two words", 'quote"d', "new\\nline", "-leading-dash"):
        got = web.get("/healthz", headers={"X-Request-Id": unsafe}).headers["X-Request-Id"]
        assert got != unsafe and len(got) == 16
    assert len(web.get("/healthz").headers["X-Request-Id"]) == 16


def test_which_errors_mean_the_database_is_unavailable():
    import psycopg

    def wrapped(cls: type[DBAPIError], orig: Exception) -> DBAPIError:
        return cls("SELECT 1", {}, orig)

    assert database_unavailable(wrapped(OperationalError, psycopg.OperationalError("refused")))
    assert database_unavailable(
        wrapped(OperationalError, psycopg.errors.QueryCanceled("statement timeout"))
    )
    assert database_unavailable(PoolTimeout("QueuePool limit reached"))
    assert database_unavailable(
        wrapped(OperationalError, sqlite3.OperationalError("database is locked"))
    )
    assert database_unavailable(
        wrapped(OperationalError, sqlite3.OperationalError("unable to open database file"))
    )
    assert not database_unavailable(
        wrapped(OperationalError, sqlite3.OperationalError("no such table: client"))
    )
    assert not database_unavailable(
        wrapped(ProgrammingError, psycopg.errors.UndefinedTable("no table"))
    )
    assert not database_unavailable(wrapped(IntegrityError, psycopg.IntegrityError("dup")))
    assert not database_unavailable(ValueError("x"))


def test_timeout_settings_and_their_postgres_parameters(monkeypatch):
    settings = load_settings({"instance_path": tempfile.gettempdir()})
    assert (settings.db_connect_timeout, settings.db_statement_timeout) == (5, 10)
    assert settings.retry_after == 5
    monkeypatch.setenv("IDP_DB_STATEMENT_TIMEOUT", "3")
    monkeypatch.setenv("IDP_DB_CONNECT_TIMEOUT", "2")
    settings = load_settings({"instance_path": tempfile.gettempdir()})
    assert (settings.db_connect_timeout, settings.db_statement_timeout) == (2, 3)
    monkeypatch.setenv("IDP_DB_STATEMENT_TIMEOUT", "-1")
    with pytest.raises(ConfigError):
        load_settings({"instance_path": tempfile.gettempdir()})

    args = postgres_connect_args(5, 10)
    assert args["connect_timeout"] == 5
    assert args["options"] == "-c statement_timeout=10000"
    assert "options" not in postgres_connect_args(5, 0)  # 0: no limit
    engine = make_engine("postgresql+psycopg://u@127.0.0.1:1/x", connect_timeout=5)
    # A restarted server's dead connections are replaced at checkout, without a round trip
    # (db.server_hung_up; tests/test_pool_checks.py).
    assert not engine.pool._pre_ping
    assert engine.pool._timeout == 5
    engine.dispose()


# -- PostgreSQL: a server of the test's own, stopped under load -------------------------------
PG_BIN = Path(os.environ.get("IDP_TEST_PG_BIN", "/usr/lib/postgresql/15/bin"))


def _as_postgres(*cmd: str) -> list[str]:
    """initdb refuses to run as root: as root, run the command as the postgres user."""
    return ["runuser", "-u", "postgres", "--", *cmd] if os.geteuid() == 0 else list(cmd)


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


class OwnPostgres:
    """A PostgreSQL cluster in a temporary folder, on a free port (never the shared one)."""

    def __init__(self) -> None:
        self.root = Path(tempfile.mkdtemp(prefix="idp-outage-pg-"))
        self.data = self.root / "data"
        self.port = _free_port()
        if os.geteuid() == 0:
            shutil.chown(self.root, "postgres", "postgres")
        self._run(
            str(PG_BIN / "initdb"), "-D", str(self.data), "-A", "trust", "-U", "postgres",
            "--no-sync", "-E", "UTF8",
        )  # fmt: skip
        self.url = f"postgresql+psycopg://postgres@127.0.0.1:{self.port}/postgres"

    def _run(self, *cmd: str) -> None:
        done = subprocess.run(_as_postgres(*cmd), capture_output=True, text=True, timeout=60)
        assert done.returncode == 0, (cmd, done.stdout, done.stderr)

    def start(self) -> None:
        options = (
            f"-p {self.port} -c listen_addresses=127.0.0.1 -k {self.root} "
            "-c fsync=off -c full_page_writes=off -c max_connections=60"
        )
        self._run(
            str(PG_BIN / "pg_ctl"), "-D", str(self.data), "-o", options,
            "-l", str(self.root / "log"), "-w", "-t", "30", "start",
        )  # fmt: skip

    def stop(self, mode: str = "immediate") -> None:
        self._run(str(PG_BIN / "pg_ctl"), "-D", str(self.data), "-m", mode, "-w", "stop")

    def remove(self) -> None:
        subprocess.run(
            _as_postgres(str(PG_BIN / "pg_ctl"), "-D", str(self.data), "-m", "immediate", "stop"),
            capture_output=True,
            timeout=60,
        )
        shutil.rmtree(self.root, ignore_errors=True)


@pytest.fixture
def own_postgres() -> Iterator[OwnPostgres]:
    if not (PG_BIN / "initdb").exists() or not (PG_BIN / "pg_ctl").exists():
        pytest.skip(f"the PostgreSQL binaries (initdb, pg_ctl) are absent from {PG_BIN}")
    if not os.environ.get("IDP_TEST_DATABASE_URL", "").startswith("postgresql"):
        pytest.skip("runs in the PostgreSQL pass (IDP_TEST_DATABASE_URL set), with its own server")
    pg = OwnPostgres()
    try:
        pg.start()
        yield pg
    finally:
        pg.remove()


@dataclass
class Ledger:
    """What the load saw, per kind of outcome."""

    statuses: list[tuple[str, int, float]] = field(default_factory=list)
    bad: list[str] = field(default_factory=list)
    #: Codes delivered to the client and not yet sent to the token endpoint.
    parked_codes: list[str] = field(default_factory=list)
    #: Codes redeemed (a 200 from the token endpoint) and the tokens that came back.
    redeemed_codes: list[str] = field(default_factory=list)
    tokens: list[dict[str, Any]] = field(default_factory=list)
    #: Codes whose exchange failed with 503: either outcome is allowed afterwards.
    unsure_codes: list[str] = field(default_factory=list)
    #: Browsers whose sign-in was acknowledged (the code reached the client).
    signed_in: list[Browser] = field(default_factory=list)
    lock: threading.Lock = field(default_factory=threading.Lock)

    def saw(self, what: str, resp: requests.Response) -> None:
        with self.lock:
            self.statuses.append((what, resp.status_code, time.monotonic()))
            if resp.status_code >= 500 and resp.status_code != 503:
                self.bad.append(f"{what}: {resp.status_code} {resp.text[:300]}")
            if "Traceback" in resp.text:
                self.bad.append(f"{what}: traceback in the body")
            if resp.status_code == 503:
                if not resp.headers.get("Retry-After"):
                    self.bad.append(f"{what}: 503 without Retry-After")
                json_wanted = what in ("token", "jwks", "discovery", "introspect")
                is_json = resp.headers.get("Content-Type") == "application/json"
                if json_wanted != is_json or (
                    is_json and resp.json().get("error") != "temporarily_unavailable"
                ):
                    self.bad.append(f"{what}: 503 of the wrong kind {resp.text[:200]}")
                if not is_json and "Temporarily unavailable" not in resp.text:
                    self.bad.append(f"{what}: 503 page without its message")


@dataclass
class Provider:
    base: str
    realm: str
    client_id: str
    client_secret: str
    redirect_uri: str = "http://127.0.0.1:9/cb"

    @property
    def issuer(self) -> str:
        return f"{self.base}/realms/{self.realm}"

    def url(self, path: str) -> str:
        return f"{self.issuer}/{path}"

    @property
    def endpoints(self) -> dict[str, str]:  # what tests/support/flows.py reads
        return {"auth": self.url("protocol/openid-connect/auth")}

    def sign_in(self, email: str, ledger: Ledger, browser: Browser | None = None) -> str | None:
        """One password sign-in through the hosted pages; the code, or None when refused."""
        browser = browser or Browser(self.base)
        page = browser.get(
            authorize_url(self, self, scope="openid offline_access", nonce=secrets.token_hex(8))
        )
        ledger.saw("authorize", page.response)
        if browser.left_to is None:  # the sign-in page (or the 503 page)
            if page.status != 200:
                return None
            page = browser.submit(page, {"email": email, "password": PASSWORD})
            ledger.saw("password", page.response)
        if not (browser.left_to and browser.left_to.startswith(self.redirect_uri)):
            return None
        code = parse_qs(urlsplit(browser.left_to).query).get("code", [None])[0]
        assert code, browser.left_to
        with ledger.lock:
            ledger.signed_in.append(browser)
        return code

    def redeem(self, code: str) -> requests.Response:
        return requests.post(
            self.url(PROTOCOL["token"]),
            data={
                "grant_type": "authorization_code",
                "code": code,
                "redirect_uri": self.redirect_uri,
                "code_verifier": VERIFIER,
            },
            auth=(self.client_id, self.client_secret),
            timeout=30,
        )

    def introspect(self, token: str) -> requests.Response:
        return requests.post(
            self.url(PROTOCOL["introspect"]),
            data={"token": token},
            auth=(self.client_id, self.client_secret),
            timeout=30,
        )

    def refresh(self, refresh_token: str) -> requests.Response:
        return requests.post(
            self.url(PROTOCOL["token"]),
            data={"grant_type": "refresh_token", "refresh_token": refresh_token},
            auth=(self.client_id, self.client_secret),
            timeout=30,
        )


def _load(provider: Provider, email: str, ledger: Ledger, stop: threading.Event) -> None:
    """Sign in, redeem every other code at once (the others are parked for later), mint a
    client_credentials token, read discovery and JWKS; until told to stop."""
    turn = 0
    while not stop.is_set():
        turn += 1
        try:
            code = provider.sign_in(email, ledger)
            if code is not None and turn % 2:
                with ledger.lock:
                    ledger.parked_codes.append(code)
            elif code is not None:
                resp = provider.redeem(code)
                ledger.saw("token", resp)
                with ledger.lock:
                    if resp.status_code == 200:
                        ledger.redeemed_codes.append(code)
                        ledger.tokens.append(resp.json())
                    else:
                        ledger.unsure_codes.append(code)
            resp = requests.post(
                provider.url(PROTOCOL["token"]),
                data={"grant_type": "client_credentials"},
                auth=(provider.client_id, provider.client_secret),
                timeout=30,
            )
            ledger.saw("token", resp)
            if resp.status_code == 200:
                with ledger.lock:
                    ledger.tokens.append(resp.json())
            for what, path in (
                ("discovery", ".well-known/openid-configuration"),
                ("jwks", "protocol/openid-connect/certs"),
            ):
                resp = requests.get(provider.url(path), timeout=30)
                ledger.saw(what, resp)
        except Exception as exc:  # any failure of the load is a finding
            with ledger.lock:
                ledger.bad.append(f"load: {type(exc).__name__}: {exc}")
            stop.wait(0.2)


def _jwks(provider: Provider) -> KeySet:
    resp = requests.get(provider.url("protocol/openid-connect/certs"), timeout=30)
    return KeySet.import_key_set(resp.json())


def _verify(token: str, keys: KeySet) -> dict[str, Any]:
    return dict(jwt.decode(token, keys).claims)


def test_postgres_outage_under_load_503s_then_recovers_losing_and_reviving_nothing(
    own_postgres, tmp_path
):
    pg = own_postgres
    server = start_server(
        pg.url,
        str(tmp_path),
        db_connect_timeout=2,
        code_ttl=600,
        argon2_memory_kib=8192,
        argon2_time_cost=1,
    )
    try:
        _outage_scenario(pg, server)
    finally:
        server.stop()


def _outage_scenario(pg: OwnPostgres, server: Any) -> None:
    upgrade_database(server.app)
    with server.app.app_context():
        db = get_session()
        realm = create_realm(db, "outage", "Outage Corp")
        new = create_client(db, realm, "RP", ["http://127.0.0.1:9/cb"])
        emails = [f"user{n}@example.com" for n in range(4)]
        for email in emails:
            create_user(db, realm, email, PASSWORD)
        db.commit()
        assert new.client_secret is not None
        provider = Provider(server.url, "outage", new.client.client_id, new.client_secret)

    # Before the outage: a code redeemed, tokens issued, a refresh token and an access
    # token revoked.
    before = Ledger()
    redeemed_before = provider.sign_in(emails[0], before)
    assert redeemed_before
    kept = provider.redeem(redeemed_before).json()
    revoked_code = provider.sign_in(emails[1], before)
    assert revoked_code
    revoked = provider.redeem(revoked_code).json()
    for token in (revoked["refresh_token"], revoked["access_token"]):
        resp = requests.post(
            provider.url(PROTOCOL["revoke"]),
            data={"token": token},
            auth=(provider.client_id, provider.client_secret),
            timeout=30,
        )
        assert resp.status_code == 200, resp.text
    assert provider.introspect(revoked["access_token"]).json() == {"active": False}
    keys = KeySet.import_key_set(
        requests.get(provider.url("protocol/openid-connect/certs"), timeout=30).json()
    )
    assert _verify(kept["access_token"], keys)["iss"] == provider.issuer

    # Load from a few threads; the database stops in the middle of it.
    ledger, stop = Ledger(), threading.Event()
    workers = [
        threading.Thread(target=_load, args=(provider, email, ledger, stop), daemon=True)
        for email in emails
    ]
    for worker in workers:
        worker.start()
    try:
        time.sleep(3)
        pg.stop("immediate")
        down_at = time.monotonic()

        # While it is down: 503s of the right kinds; discovery and JWKS from the cache.
        assert requests.get(f"{server.url}/readyz", timeout=30).status_code == 503
        assert requests.get(f"{server.url}/healthz", timeout=30).status_code == 200
        refused = requests.post(
            provider.url(PROTOCOL["token"]),
            data={"grant_type": "client_credentials"},
            auth=(provider.client_id, provider.client_secret),
            timeout=30,
        )
        assert refused.status_code == 503 and refused.json()["error"] == "temporarily_unavailable"
        assert int(refused.headers["Retry-After"]) > 0
        for path in (PROTOCOL["introspect"], PROTOCOL["revoke"]):
            resp = requests.post(
                provider.url(path),
                data={"token": kept["access_token"]},
                auth=(provider.client_id, provider.client_secret),
                timeout=30,
            )
            assert resp.status_code == 503 and resp.json()["error"] == "temporarily_unavailable"
        resp = requests.get(
            provider.url(PROTOCOL["userinfo"]),
            headers={"Authorization": f"Bearer {kept['access_token']}"},
            timeout=30,
        )
        assert resp.status_code == 503 and resp.json()["error"] == "temporarily_unavailable"
        page = requests.get(provider.url("account/"), timeout=30, headers={"Accept-Language": "ja"})
        assert page.status_code == 503 and int(page.headers["Retry-After"]) > 0
        assert "一時的に利用できません" in page.text and "Outage Corp" in page.text
        # Past the cache period too (IDP_KEY_CACHE_SECONDS, 5 s), the last known keys serve.
        while time.monotonic() - down_at < 6:
            jwks = requests.get(provider.url("protocol/openid-connect/certs"), timeout=30)
            assert jwks.status_code == 200
            assert _verify(kept["access_token"], KeySet.import_key_set(jwks.json()))
            disco = requests.get(provider.url(".well-known/openid-configuration"), timeout=30)
            assert disco.status_code == 200 and disco.json()["issuer"] == provider.issuer
            time.sleep(0.5)

        pg.start()
        # Recovery by itself (the pool replaces its dead connections): no restart.
        deadline = time.monotonic() + 20
        while requests.get(f"{server.url}/readyz", timeout=30).status_code != 200:
            assert time.monotonic() < deadline, "the provider did not recover"
            time.sleep(0.1)
        recovered_at = time.monotonic()
        time.sleep(2)  # the load runs on the restarted database for a while
    finally:
        stop.set()
        for worker in workers:
            worker.join(timeout=60)

    assert not ledger.bad, ledger.bad[:10]
    statuses = {status for _, status, _ in ledger.statuses}
    assert 503 in statuses and 200 in statuses, statuses
    assert not {s for s in statuses if s >= 500} - {503}
    # The load itself got through again once the database was back.
    assert any(w == "token" and s == 200 and t > recovered_at for w, s, t in ledger.statuses)
    assert ledger.tokens and ledger.parked_codes and ledger.redeemed_codes

    # Nothing acknowledged was lost ...
    keys = KeySet.import_key_set(
        requests.get(provider.url("protocol/openid-connect/certs"), timeout=30).json()
    )
    for tokens in [kept, *ledger.tokens]:
        assert _verify(tokens["access_token"], keys)["iss"] == provider.issuer
        assert provider.introspect(tokens["access_token"]).json()["active"] is True
    for code in ledger.parked_codes:  # delivered before or during the outage, never sent
        resp = provider.redeem(code)
        assert resp.status_code == 200, resp.text
    for browser in ledger.signed_in[::3]:  # the SSO session survived: no password asked
        code = provider.sign_in("nobody@example.com", Ledger(), browser)
        assert code is not None
    assert provider.refresh(kept["refresh_token"]).status_code == 200

    # ... and nothing was revived.
    for code in [redeemed_before, *ledger.redeemed_codes]:
        resp = provider.redeem(code)
        assert resp.status_code == 400 and resp.json()["error"] == "invalid_grant", resp.text
    for code in ledger.unsure_codes:  # the outage hit the exchange: spent or not, not 5xx
        assert provider.redeem(code).status_code in (200, 400)
    assert provider.introspect(revoked["access_token"]).json() == {"active": False}
    refused = provider.refresh(revoked["refresh_token"])
    assert refused.status_code == 400 and refused.json()["error"] == "invalid_grant"

    # The statement timeout holds on this server too: the database cancels a long query.
    engine = make_engine(pg.url, connect_timeout=2, statement_timeout=1)
    try:
        with pytest.raises(OperationalError) as stopped, engine.connect() as conn:
            conn.execute(text("SELECT pg_sleep(3)"))
        assert database_unavailable(stopped.value)
    finally:
        engine.dispose()


# -- PostgreSQL frozen: it stops answering (SIGSTOP of a cluster of the test's own) ------------
IDP = str(Path(sys.executable).parent / "idp")


def _cluster_pids(pg: OwnPostgres) -> list[int]:
    """The postmaster of ``pg`` and its children (backends, background processes)."""
    postmaster = int((pg.data / "postmaster.pid").read_text().split()[0])
    pids = [postmaster]
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        try:
            stat = (entry / "stat").read_text()
        except OSError:
            continue
        if int(stat.rsplit(")", 1)[1].split()[1]) == postmaster:
            pids.append(int(entry.name))
    return pids


def _signal_cluster(pg: OwnPostgres, sig: int) -> None:
    for pid in _cluster_pids(pg):
        with contextlib.suppress(ProcessLookupError):
            os.kill(pid, sig)


@contextlib.contextmanager
def _idp_serve(tmp_path: Path, url: str, **env: str) -> Iterator[str]:
    """``idp serve`` (granian) on ``url``'s database; yields its base URL once it answers."""
    port = _free_port()
    environ = {k: v for k, v in os.environ.items() if not k.startswith("IDP_")}
    environ |= {
        "IDP_INSTANCE_PATH": str(tmp_path / "instance"),
        "IDP_DATABASE_URL": url,
        "IDP_PORT": str(port),
        "IDP_MAIL_SENDER": "0",
        **env,
    }
    log_path = tmp_path / "serve.log"
    base = f"http://127.0.0.1:{port}"
    with log_path.open("wb") as log:
        proc = subprocess.Popen(
            [IDP, "serve", "--workers=1", "--threads=2"],
            env=environ,
            stdout=log,
            stderr=subprocess.STDOUT,
            stdin=subprocess.DEVNULL,
            start_new_session=True,
        )
        try:
            deadline = time.monotonic() + 30
            while True:
                with contextlib.suppress(requests.ConnectionError):
                    if requests.get(f"{base}/healthz", timeout=2).status_code == 200:
                        break
                assert proc.poll() is None and time.monotonic() < deadline, log_path.read_text()
                time.sleep(0.1)
            yield base
        finally:
            proc.terminate()
            try:
                proc.wait(timeout=45)
            except subprocess.TimeoutExpired:
                os.killpg(proc.pid, 9)
                proc.wait(timeout=10)


def _timed(method: str, url: str, **kw: Any) -> tuple[int, float]:
    started = time.monotonic()
    try:
        status = requests.request(method, url, timeout=30, **kw).status_code
    except requests.RequestException:
        status = 0
    return status, time.monotonic() - started


#: The timeouts the frozen server runs with (seconds), and what one request may cost at most:
#: the pool's wait or a new connection (IDP_DB_CONNECT_TIMEOUT), then a round trip that gets
#: no answer (IDP_DB_STATEMENT_TIMEOUT + IDP_DB_CONNECT_TIMEOUT); plus slack for a busy machine.
FROZEN_CONNECT, FROZEN_STATEMENT = 2, 2
FROZEN_BOUND = FROZEN_CONNECT + FROZEN_CONNECT + FROZEN_STATEMENT + FROZEN_CONNECT + 3


def test_v8_a_frozen_database_costs_a_request_its_timeouts_then_503_while_healthz_answers(
    own_postgres, tmp_path
):
    pg = own_postgres
    app = create_app({"instance_path": str(tmp_path / "instance"), "database_url": pg.url})
    upgrade_database(app)
    with app.app_context():
        db = get_session()
        realm = create_realm(db, "frozen", "Frozen Corp")
        new = create_client(db, realm, "RP", ["http://127.0.0.1:9/cb"])
        db.commit()
        auth = (new.client.client_id, new.client_secret)
    app.extensions["idp.engine"].dispose()

    env = {
        "IDP_DB_CONNECT_TIMEOUT": str(FROZEN_CONNECT),
        "IDP_DB_STATEMENT_TIMEOUT": str(FROZEN_STATEMENT),
    }
    with _idp_serve(tmp_path, pg.url, **env) as base:
        issuer = f"{base}/realms/frozen"
        token_url = f"{issuer}/{PROTOCOL['token']}"
        grant = {"grant_type": "client_credentials"}
        cached = {
            "jwks": f"{issuer}/protocol/openid-connect/certs",
            "discovery": f"{issuer}/.well-known/openid-configuration",
        }
        for url in cached.values():
            assert requests.get(url, timeout=10).status_code == 200
        assert requests.post(token_url, data=grant, auth=auth, timeout=10).status_code == 200
        assert requests.get(f"{base}/readyz", timeout=10).status_code == 200

        _signal_cluster(pg, signal.SIGSTOP)
        frozen_at = time.monotonic()
        try:
            # More requests that need the database than the server has threads.
            db_bound: list[tuple[str, int, float]] = []

            def one(what: str, method: str, url: str, **kw: Any) -> None:
                status, took = _timed(method, url, **kw)
                db_bound.append((what, status, took))

            hung = [
                threading.Thread(
                    target=one,
                    args=("token", "POST", token_url),
                    kwargs={"data": grant, "auth": auth},
                )
                for _ in range(6)
            ]
            hung.append(threading.Thread(target=one, args=("readyz", "GET", f"{base}/readyz")))
            for thread in hung:
                thread.start()
            # While every connection waits: /healthz at once, the cached documents soon.
            health: list[tuple[int, float]] = []
            documents: list[tuple[str, int, float]] = []
            while time.monotonic() - frozen_at < 14:
                health.append(_timed("GET", f"{base}/healthz"))
                for what, url in cached.items():
                    documents.append((what, *_timed("GET", url)))
                time.sleep(0.3)
            for thread in hung:
                thread.join(timeout=60)
            # A request sent now, well into the freeze, costs no more either.
            late = _timed("POST", token_url, data=grant, auth=auth)
        finally:
            _signal_cluster(pg, signal.SIGCONT)

        assert health and all(status == 200 for status, _ in health), health
        assert max(took for _, took in health) < 2, health  # ~1 s: db_pool.POOL_STUCK_AFTER
        assert all(status == 200 for _, status, _ in documents), documents
        assert max(took for _, _, took in documents) < FROZEN_CONNECT + 1.5, documents
        assert len(db_bound) == 7, db_bound
        assert all(status == 503 for _, status, _ in db_bound), db_bound
        assert max(took for _, _, took in db_bound) < FROZEN_BOUND, db_bound
        assert late[0] == 503 and late[1] < FROZEN_BOUND, late

        # Thawed: everything works again, without a restart.
        deadline = time.monotonic() + 20
        while requests.get(f"{base}/readyz", timeout=30).status_code != 200:
            assert time.monotonic() < deadline, "the provider did not recover"
            time.sleep(0.2)
        for _ in range(4):
            resp = requests.post(token_url, data=grant, auth=auth, timeout=30)
            assert resp.status_code == 200, resp.text
