"""The server's log stays one format: every line the app writes to stderr is one JSON object,
before and after a worker's first unhandled exception (issue 15, "Logs stay one format").
``idp serve`` runs for real; a deployment bug (a dropped table) makes requests fail with 500."""

from __future__ import annotations

import contextlib
import json
import os
import re
import socket
import sqlite3
import subprocess
import sys
import time
from pathlib import Path

import pytest
import requests

from idp import create_app
from idp.db import get_session
from idp.migrate import upgrade_database
from idp.services.clients import create_client
from idp.services.realms import create_realm

pytestmark = pytest.mark.slow

IDP = str(Path(sys.executable).parent / "idp")
#: granian's own lines (``[INFO] Starting granian ...``): not the app's.
GRANIAN_LINE = re.compile(r"^\[(INFO|WARNING|ERROR)\] ")


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def test_every_line_the_app_logs_is_json_before_and_after_unhandled_errors(tmp_path):
    db_path = tmp_path / "serve.sqlite3"
    instance = tmp_path / "instance"
    app = create_app({"instance_path": str(instance), "database_url": f"sqlite:///{db_path}"})
    upgrade_database(app)
    with app.app_context():
        db = get_session()
        realm = create_realm(db, "logs")
        new = create_client(db, realm, "RP", ["http://127.0.0.1:9/cb"])
        db.commit()
        auth = (new.client.client_id, new.client_secret)
    app.extensions["idp.engine"].dispose()

    port = _free_port()
    environ = {k: v for k, v in os.environ.items() if not k.startswith("IDP_")}
    environ |= {
        "IDP_INSTANCE_PATH": str(instance),
        "IDP_DATABASE_URL": f"sqlite:///{db_path}",
        "IDP_PORT": str(port),
        "IDP_MAIL_SENDER": "0",
    }
    log_path = tmp_path / "serve.log"
    url = f"http://127.0.0.1:{port}"
    token_url = f"{url}/realms/logs/protocol/openid-connect/token"
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
                    if requests.get(f"{url}/healthz", timeout=2).status_code == 200:
                        break
                assert proc.poll() is None and time.monotonic() < deadline, log_path.read_text()
                time.sleep(0.1)
            grant = {"grant_type": "client_credentials"}
            assert requests.post(token_url, data=grant, auth=auth, timeout=10).status_code == 200
            # A deployment bug: every token request now fails inside the app (500).
            with contextlib.closing(sqlite3.connect(db_path)) as conn:
                conn.execute("PRAGMA foreign_keys=OFF")
                conn.execute("DROP TABLE token")
                conn.commit()
            for _ in range(3):
                resp = requests.post(token_url, data=grant, auth=auth, timeout=10)
                assert resp.status_code == 500, resp.text
                assert "Traceback" not in resp.text
            # An answer that is fine after the failures: nothing more is logged for it.
            assert requests.get(f"{url}/healthz", timeout=10).status_code == 200
        finally:
            proc.terminate()
            proc.wait(timeout=45)

    lines = [line for line in log_path.read_text().splitlines() if line.strip()]
    ours = [line for line in lines if not GRANIAN_LINE.match(line)]
    records = []
    for line in ours:
        try:
            records.append(json.loads(line))
        except ValueError:
            raise AssertionError(f"not JSON: {line!r}\n" + "\n".join(lines)) from None
        assert isinstance(records[-1], dict), line
    failed = [r for r in records if r.get("event") == "request.failed"]
    assert [r["status"] for r in failed] == [500, 500, 500], records
    # The traceback, once for the three (once a minute per error class), inside its line.
    tracebacks = [r for r in records if "traceback" in r]
    assert len(tracebacks) == 1, records
    assert tracebacks[0]["traceback"].startswith("Traceback (most recent call last)")
    assert tracebacks[0]["level"] == "ERROR" and tracebacks[0]["logger"] == "idp.request"
