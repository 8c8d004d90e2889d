"""The outbox sender under load and in production (issue 9, "Sending"): two senders deliver
each message exactly once (SQLite and PostgreSQL, threads and processes); ``idp serve``
delivers by its sender thread, or leaves it to ``idp mail send-pending`` with
``IDP_MAIL_SENDER=0``; a data-key rotation keeps queued mail readable; a hanging SMTP server
never slows a page.

Mail goes to real SMTP servers (aiosmtpd) on loopback."""

from __future__ import annotations

import contextlib
import json
import os
import socket
import subprocess
import threading
import time
from collections import Counter
from collections.abc import Iterator
from pathlib import Path
from types import SimpleNamespace
from typing import Any

import pytest
from cryptography.fernet import Fernet
from sqlalchemy import create_engine, select

from idp import create_app
from idp.cli import upgrade_database
from idp.db import get_session
from idp.mail.sender import SendResult, send_pending
from idp.models import OutboxMessage, Realm
from idp.services.accounts import reset_password
from idp.services.audit import OPERATOR
from idp.services.mail import enqueue_mail
from idp.services.realms import create_realm
from idp.services.users import create_user, find_user_by_email
from tests.helpers import Browser, run_idp
from tests.support.password_change import NEW_PASSPHRASE as NEW
from tests.support.password_change import change_password as _change
from tests.support.password_change import password_page as _password_page
from tests.support.serving import IDP
from tests.support.serving import serve_idp as _serve
from tests.support.signin import account_sign_in
from tests.support.smtp import SmtpServer

pytestmark = pytest.mark.slow

N = 50


def _queue_many(app: Any, realm: Any, n: int = N) -> dict[str, int]:
    """``n`` messages to ``n`` addresses of the realm, in one transaction: address -> id."""
    with app.app_context():
        db = get_session()
        row = db.get(Realm, realm.id)
        messages = [
            enqueue_mail(
                db,
                row,
                template="password_changed",
                to=f"m{i}-{realm.name}@example.com",
                params={"client_address": "192.0.2.7"},
            )
            for i in range(n)
        ]
        db.commit()
        return {m.recipient: m.id for m in messages}


def _rows(app: Any, ids: list[int]) -> list[OutboxMessage]:
    with app.app_context():
        db = get_session()
        rows = db.scalars(select(OutboxMessage).where(OutboxMessage.id.in_(ids))).all()
        db.expunge_all()
        return list(rows)


@pytest.fixture
def slow_smtp(server: Any, mailbox: Any) -> Iterator[SmtpServer]:
    """A fresh SMTP server that takes 20 ms per message (so concurrent senders overlap), the
    live server's mail pointed at it, and nothing else due in the outbox."""
    mailbox.deliver()  # earlier tests' mail is out of the way
    smtp = SmtpServer()
    smtp.handler.delay = 0.02
    server.app.extensions["idp.settings"].smtp_port = smtp.port  # the mailbox fixture restores
    yield smtp
    smtp.stop()


def _assert_each_arrived_once(smtp: SmtpServer, addresses: dict[str, int], app: Any) -> None:
    arrivals = Counter(a.lower() for r in smtp.all() for a in r.envelope_to)
    counts = {address: arrivals[address.lower()] for address in addresses}
    assert set(counts.values()) == {1}, {a: c for a, c in counts.items() if c != 1}
    ids = Counter(str(r.message["Message-ID"]) for r in smtp.all())
    assert max(ids.values()) == 1, "one Message-ID arrived twice"
    rows = _rows(app, list(addresses.values()))
    assert {(r.status, r.attempts) for r in rows} == {("sent", 1)}


def test_two_sender_threads_deliver_each_message_exactly_once(app, realm, slow_smtp):
    """Issue 9: two senders never send one message twice (a claim is one conditional UPDATE;
    on PostgreSQL the candidate is picked FOR UPDATE SKIP LOCKED)."""
    addresses = _queue_many(app, realm)
    start = threading.Barrier(2)
    results: list[SendResult | BaseException] = [SendResult(), SendResult()]

    def worker(i: int) -> None:
        start.wait()
        try:
            results[i] = send_pending(app, limit=N)
        except BaseException as exc:  # reported by the assertion below
            results[i] = exc

    threads = [threading.Thread(target=worker, args=(i,)) for i in range(2)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(timeout=120)
    assert all(isinstance(r, SendResult) for r in results), results
    _assert_each_arrived_once(slow_smtp, addresses, app)
    # Both took part (each message takes the server 20 ms, so they overlapped).
    assert all(r.sent > 0 for r in results), results
    assert sum(r.sent for r in results) == N


def test_two_send_pending_processes_deliver_each_message_exactly_once(
    app, realm, server, slow_smtp
):
    """Two ``idp mail send-pending`` (cron on two hosts) at once."""
    addresses = _queue_many(app, realm)
    settings = server.app.extensions["idp.settings"]
    env = {
        **os.environ,
        "IDP_DATABASE_URL": settings.database_url,
        "IDP_INSTANCE_PATH": settings.instance_path,
        "IDP_BASE_URL": server.url,
        "IDP_SMTP_HOST": "127.0.0.1",
        "IDP_SMTP_PORT": str(slow_smtp.port),
    }
    procs = [
        subprocess.Popen(  # our own command
            [IDP, "mail", "send-pending", "--json"],
            env=env,
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
        )
        for _ in range(2)
    ]
    outputs = [p.communicate(timeout=120) for p in procs]
    for proc, (_out, err) in zip(procs, outputs, strict=True):
        assert proc.returncode == 0, err
    sent = [json.loads(out)["sent"] for out, _ in outputs]
    assert sum(sent) == N, sent
    _assert_each_arrived_once(slow_smtp, addresses, app)


# -- idp serve: the sender thread, or cron ---------------------------------------------------
def _env(tmp_path: Path, **extra: str) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("IDP_")}
    return env | {
        "IDP_INSTANCE_PATH": str(tmp_path / "instance"),
        "IDP_DATABASE_URL": f"sqlite:///{tmp_path / 'serve.sqlite3'}",
        **extra,
    }


def _idp(env: dict[str, str], *args: str, stdin: str | None = None) -> str:
    done = subprocess.run(  # our own command
        [IDP, *args], env=env, input=stdin, capture_output=True, text=True, timeout=60
    )
    assert done.returncode == 0, done.stderr
    return done.stdout


USER = "mailer@example.com"
PASSWORD = "correct horse battery staple"


def _instance(tmp_path: Path, **extra: str) -> dict[str, str]:
    """A fresh instance with realm ``mail`` and one user (made in this process, which is
    quicker than three ``idp`` commands); the settings ``idp serve`` gets."""
    env = _env(tmp_path, **extra)
    app = create_app(
        {"instance_path": env["IDP_INSTANCE_PATH"], "database_url": env["IDP_DATABASE_URL"]}
    )
    upgrade_database(app)
    with app.app_context():
        db = get_session()
        create_user(db, create_realm(db, "mail", "Mail test"), USER, PASSWORD)
        db.commit()
    app.extensions["idp.engine"].dispose()
    return env


def _serve_env(env: dict[str, str]) -> dict[str, str]:
    """What ``_serve`` takes as keyword settings (it sets the instance and database itself)."""
    return {k: v for k, v in env.items() if k.startswith("IDP_") and k not in _SERVE_OWN}


_SERVE_OWN = {"IDP_INSTANCE_PATH", "IDP_DATABASE_URL"}


def _set_password(env: dict[str, str]) -> None:
    """The operator sets the user's password (``idp user set-password``, in this process):
    the user gets a "password changed" message."""
    app = create_app(
        {"instance_path": env["IDP_INSTANCE_PATH"], "database_url": env["IDP_DATABASE_URL"]}
    )
    with app.app_context():
        db = get_session()
        realm = db.scalar(select(Realm).where(Realm.name == "mail"))
        user = find_user_by_email(db, realm, USER)
        reset_password(db, user, PASSWORD, actor=OPERATOR, client_address=None)
        db.commit()
    app.extensions["idp.engine"].dispose()


def test_idp_serve_delivers_by_its_sender_thread(tmp_path, smtp_server):
    env = _instance(tmp_path, IDP_SMTP_HOST="127.0.0.1", IDP_SMTP_PORT=str(smtp_server.port))
    before = len(smtp_server.to(USER))
    with _serve(tmp_path, "--workers=1", **_serve_env(env)):
        _set_password(env)  # queued by another process; nobody runs send-pending
        arrived = smtp_server.wait_for(USER, before + 1, timeout=20)
    assert len(arrived) == before + 1
    assert "password" in arrived[-1].subject


def test_idp_serve_without_sender_leaves_mail_to_send_pending(tmp_path, smtp_server):
    env = _instance(
        tmp_path,
        IDP_SMTP_HOST="127.0.0.1",
        IDP_SMTP_PORT=str(smtp_server.port),
        IDP_MAIL_SENDER="0",
    )
    before = len(smtp_server.to(USER))
    with _serve(tmp_path, "--workers=1", **_serve_env(env)):
        _set_password(env)
        # Several of the sender's polls (2 s) go by: nothing is sent.
        assert len(smtp_server.wait_for(USER, before + 1, timeout=6)) == before
        out = _idp(env, "mail", "send-pending", "--json")
    assert json.loads(out) == {"sent": 1, "retrying": 0, "failed": 0}
    assert len(smtp_server.to(USER)) == before + 1


# -- data-key rotation -----------------------------------------------------------------------
def test_rotate_data_key_keeps_queued_mail_readable(app, realm, server, mailbox):
    """``idp keys rotate-data-key`` re-encrypts a queued message's parameters (which may hold
    a link's secret) and drops the old key: the message still renders and arrives."""
    mailbox.deliver()
    user = realm.user()
    with app.app_context():
        db = get_session()
        row = enqueue_mail(
            db,
            db.get(Realm, realm.id),
            template="password_changed",
            to=user.email,
            params={"client_address": "192.0.2.8", "reset_path": "/rotated-secret-path"},
        )
        db.commit()
        message_id, before = row.id, row.payload
    secrets_file = Path(app.extensions["idp.settings"].instance_path) / "secrets.json"
    old_keys = json.loads(secrets_file.read_text())["data_keys"]
    result = run_idp(server, "keys", "rotate-data-key")
    assert result.returncode == 0, result.stderr
    assert json.loads(secrets_file.read_text())["data_keys"][0] not in old_keys
    after = _rows(app, [message_id])[0].payload
    assert after and after != before
    with pytest.raises(Exception):  # noqa: B017 - cryptography's InvalidToken
        Fernet(old_keys[0].encode()).decrypt(after.encode())
    mail = mailbox.one(user.email)
    assert "/rotated-secret-path" in mail.text and "192.0.2.8" in mail.text


# -- sending never blocks or fails a page ----------------------------------------------------
@contextlib.contextmanager
def _silent_smtp() -> Iterator[int]:
    """A server that accepts connections and never says a word (a hung mail relay)."""
    listener = socket.socket()
    listener.bind(("127.0.0.1", 0))
    listener.listen(16)
    held: list[socket.socket] = []
    stop = threading.Event()

    def accept() -> None:
        listener.settimeout(0.2)
        while not stop.is_set():
            with contextlib.suppress(OSError):
                held.append(listener.accept()[0])

    thread = threading.Thread(target=accept, daemon=True)
    thread.start()
    try:
        yield listener.getsockname()[1]
    finally:
        stop.set()
        thread.join(timeout=5)
        for conn in held:
            conn.close()
        listener.close()


def test_hung_smtp_server_never_slows_a_page(tmp_path):
    """The user changes the password (which queues mail) on a server whose sender thread is
    stuck on an SMTP server that never answers: the page comes back at once, as usual, and
    the attempt is recorded as failed, to retry."""
    with _silent_smtp() as port:
        env = _instance(
            tmp_path, IDP_SMTP_HOST="127.0.0.1", IDP_SMTP_PORT=str(port), IDP_SMTP_TIMEOUT="5"
        )
        _set_password(env)  # the sender will be stuck on this one
        with _serve(tmp_path, "--workers=1", **_serve_env(env)) as (base, _pid):
            realm = SimpleNamespace(url=lambda path: f"{base}/realms/mail/{path.lstrip('/')}")
            user = SimpleNamespace(email=USER, password=PASSWORD)
            browser = Browser(base)
            time.sleep(2.5)  # the sender thread has polled and hangs on the first message
            account_sign_in(realm, browser, user)
            page = _password_page(realm, browser)
            started = time.monotonic()
            done = _change(browser, page, PASSWORD, NEW)
            elapsed = time.monotonic() - started
            assert done.status == 200 and "Your password is changed" in done.text, done.text
            assert elapsed < 2.5, f"the page took {elapsed:.1f} s"
            # The sender did try, and recorded the timeout on the message, to retry it.
            engine = create_engine(env["IDP_DATABASE_URL"])
            deadline = time.monotonic() + 20
            errors: list[str | None] = []
            while time.monotonic() < deadline:
                with engine.connect() as conn:
                    errors = list(conn.scalars(select(OutboxMessage.last_error)))
                if all(errors):
                    break
                time.sleep(0.5)
            engine.dispose()
    assert len(errors) == 2 and all("timed out" in (e or "") for e in errors), errors
