"""The instance `make bench-compare` measures: PostgreSQL database ``bench_idp`` (created and
dropped by the bench, never the ``test`` database), production settings as the README's
"Running in production" gives them, a realm ``bench`` with a confidential client and many
users; and the processes under test, started and stopped by pid."""

from __future__ import annotations

import base64
import contextlib
import os
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from urllib.parse import urlsplit

ADMIN_URL = os.environ.get("IDP_BENCH_ADMIN_URL", "postgresql://postgres@127.0.0.1:5432/postgres")
DATABASE = os.environ.get("IDP_BENCH_DATABASE", "bench_idp")
PUBLIC_URL = "https://id.example.com"
REALM = "bench"
REDIRECT_URI = "https://app.example.com/cb"
PASSWORD = "bench password 0123"  # noqa: S105 - a throwaway user of the bench database
#: What the TLS proxy of the README's deployment adds (IDP_PROXY_COUNT=1).
PROXY_HEADERS = {"X-Forwarded-Proto": "https", "X-Forwarded-Host": "id.example.com"}


@dataclass
class Instance:
    env: dict[str, str]
    client_id: str
    client_secret: str
    users: list[str] = field(default_factory=list)

    @property
    def basic_auth(self) -> str:
        raw = f"{self.client_id}:{self.client_secret}".encode()
        return "Basic " + base64.b64encode(raw).decode()


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
        return port


def _admin(sql: str) -> None:
    import psycopg

    with psycopg.connect(ADMIN_URL, autocommit=True) as conn:
        conn.execute(sql)


@contextlib.contextmanager
def bench_database() -> Iterator[str]:
    """A fresh database of the bench's own; dropped afterwards."""
    if DATABASE in ("test", "postgres"):
        raise SystemExit(f"refusing to use database {DATABASE!r} for the bench")
    _admin(f'DROP DATABASE IF EXISTS "{DATABASE}" WITH (FORCE)')
    _admin(f'CREATE DATABASE "{DATABASE}"')
    admin = urlsplit(ADMIN_URL)
    try:
        yield f"postgresql+psycopg://{admin.netloc}/{DATABASE}"
    finally:
        _admin(f'DROP DATABASE IF EXISTS "{DATABASE}" WITH (FORCE)')


def prepare(database_url: str, instance_path: str, users: int) -> Instance:
    """The README's production steps (secrets, migrate, realm, client, users) in-process."""
    from cryptography.fernet import Fernet

    from .. import create_app
    from ..config import new_secret
    from ..db import get_session
    from ..migrate import upgrade_database
    from ..models import User
    from ..services.clients import create_client
    from ..services.realms import create_realm
    from ..services.users import create_user

    env = {
        "IDP_ENV": "production",
        "IDP_BASE_URL": PUBLIC_URL,
        "IDP_PROXY_COUNT": "1",
        "IDP_DATABASE_URL": database_url,
        "IDP_INSTANCE_PATH": instance_path,
        "IDP_SECRET_KEY": new_secret(),
        "IDP_DATA_KEYS": Fernet.generate_key().decode(),
        "IDP_CODE_PEPPER": new_secret(),
    }
    overrides = {
        "env": "production",
        "base_url": PUBLIC_URL,
        "proxy_count": 1,
        "database_url": database_url,
        "instance_path": instance_path,
        "secret_key": env["IDP_SECRET_KEY"],
        "data_keys": [env["IDP_DATA_KEYS"]],
        "code_pepper": env["IDP_CODE_PEPPER"],
    }
    app = create_app(overrides)
    upgrade_database(app)
    emails = [f"user{i}@bench.example.com" for i in range(users)]
    with app.app_context():
        db = get_session()
        realm = create_realm(db, REALM)
        new = create_client(db, realm, "bench", [REDIRECT_URI])
        first = create_user(db, realm, emails[0], PASSWORD, email_verified=True)
        for email in emails[1:]:
            # One hash for all: the bench measures verifications, not the set-up.
            user = create_user(db, realm, email, "x" * 8, email_verified=True)
            user.password_hash = first.password_hash
        db.flush()
        assert db.query(User).count() == users
        db.commit()
        client_id, secret = new.client.client_id, new.client_secret
        assert secret is not None  # a confidential client
    app.extensions["idp.engine"].dispose()
    env = {k: v for k, v in os.environ.items() if not k.startswith("IDP_")} | env
    return Instance(env=env, client_id=client_id, client_secret=secret, users=emails)


class Process:
    """A server under test, in its own process group; ``stop()`` ends that group only."""

    def __init__(self, args: list[str], env: dict[str, str], port: int, log: Path) -> None:
        self.args, self.port, self.log = args, port, log
        self._log = log.open("wb")
        self.proc = subprocess.Popen(  # noqa: S603 - our own commands
            args,
            env=env,
            stdout=self._log,
            stderr=subprocess.STDOUT,
            stdin=subprocess.DEVNULL,
            start_new_session=True,
        )

    @property
    def pid(self) -> int:
        return self.proc.pid

    def wait_ready(self, path: str, timeout: float = 60.0) -> None:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self.proc.poll() is not None:
                raise RuntimeError(f"{self.args[0]} exited: see {self.log}")
            request = f"GET {path} HTTP/1.1\r\nHost: 127.0.0.1\r\nConnection: close\r\n\r\n"
            with (
                contextlib.suppress(OSError),
                socket.create_connection(("127.0.0.1", self.port), timeout=2) as sock,
            ):
                sock.sendall(request.encode())
                if sock.recv(12).startswith(b"HTTP/1.1 200"):
                    return
            time.sleep(0.1)
        raise RuntimeError(f"{' '.join(self.args)} did not answer {path}: see {self.log}")

    def stop(self) -> None:
        if self.proc.poll() is None:
            with contextlib.suppress(ProcessLookupError):
                os.killpg(self.proc.pid, signal.SIGTERM)
            try:
                self.proc.wait(timeout=15)
            except subprocess.TimeoutExpired:
                with contextlib.suppress(ProcessLookupError):
                    os.killpg(self.proc.pid, signal.SIGKILL)
                self.proc.wait(timeout=5)
        self._log.close()


def idp_command() -> str:
    return str(Path(sys.executable).parent / "idp")
