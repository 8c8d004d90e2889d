"""Benchmarks that print figures (`make bench`): password hashing, discovery, JWKS and the
token endpoint (client_credentials), in-process with Flask's test client on SQLite."""

from __future__ import annotations

import tempfile
import time
from collections.abc import Callable

from .. import create_app
from ..db import get_session
from ..migrate import upgrade_database
from ..services import passwords
from ..services.clients import create_client
from ..services.realms import create_realm


def _rate(name: str, fn: Callable[[], object], seconds: float = 2.0) -> None:
    fn()
    count, start = 0, time.perf_counter()
    while time.perf_counter() - start < seconds:
        fn()
        count += 1
    elapsed = time.perf_counter() - start
    print(f"{name:<40} {count / elapsed:10.1f} /s   {1000 * elapsed / count:8.2f} ms each")


def main() -> None:
    with tempfile.TemporaryDirectory() as tmp:
        app = create_app({"instance_path": tmp, "base_url": "http://127.0.0.1:5000"})
        upgrade_database(app)
        with app.app_context():
            db = get_session()
            realm = create_realm(db, "bench")
            new = create_client(db, realm, "bench", ["http://127.0.0.1:9/cb"])
            db.commit()
            secret = new.client_secret
            client_id = new.client.client_id
            hashed = passwords.hash_password("benchmark password")
            _rate(
                "argon2id verify (configured cost)",
                lambda: passwords.verify_password(hashed, "benchmark password"),
            )
        web = app.test_client()
        base = "/realms/bench"
        _rate("GET discovery", lambda: web.get(f"{base}/.well-known/openid-configuration"))
        _rate("GET jwks", lambda: web.get(f"{base}/protocol/openid-connect/certs"))
        _rate(
            "POST token (client_credentials)",
            lambda: web.post(
                f"{base}/protocol/openid-connect/token",
                data={"grant_type": "client_credentials"},
                auth=(client_id, secret),
            ),
        )


if __name__ == "__main__":
    main()
