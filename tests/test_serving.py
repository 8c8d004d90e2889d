"""The production server (``idp serve``, granian): workers, limits, slow clients, and the
bounded memory of password hashing. Speed is measured by ``make bench-compare``, not here."""

from __future__ import annotations

import contextlib
import socket
import subprocess
import sys
import threading
import time
from pathlib import Path

import pytest
import requests

from idp.bench.load import process_tree
from tests.support.serving import serve_idp as _serve

pytestmark = pytest.mark.slow


def test_serve_runs_one_worker_per_setting_and_answers(tmp_path):
    """IDP_WORKERS sets the worker processes (the default is one per core), and a stop
    (SIGTERM) ends them all."""
    with _serve(tmp_path, IDP_WORKERS="2") as (url, pid):
        # Both workers have booted (granian ignores a stop that arrives while a worker is
        # still importing the app, and kills it after the shutdown timeout).
        deadline = time.monotonic() + 30
        while (tmp_path / "serve.log").read_text().count("Started worker-") < 2:
            assert time.monotonic() < deadline, "the workers did not start"
            time.sleep(0.1)
        children = process_tree(pid)[1:]
        assert len(children) == 2
        answer = requests.get(f"{url}/healthz", timeout=5)
        assert answer.status_code == 200 and answer.text == "ok\n"
        stopping = time.monotonic()
    assert time.monotonic() - stopping < 10
    assert all(not Path(f"/proc/{child}").exists() for child in children)


def test_serve_survives_a_slow_client_holding_many_connections(tmp_path):
    """Slowloris with nothing in front: one client holds 150 connections, each sending a
    header byte every 2 s. One worker with two request threads keeps answering others within
    a second or two, and the header timeout closes the slow connections."""
    slow: list[socket.socket] = []
    stop = threading.Event()

    def trickle() -> None:
        while not stop.wait(2.0):
            for sock in slow:
                with contextlib.suppress(OSError):
                    sock.send(b"x")

    with _serve(tmp_path, "--workers=1", "--threads=2", "--header-timeout=6") as (url, _):
        port = int(url.rsplit(":", 1)[1])
        for _ in range(150):
            sock = socket.create_connection(("127.0.0.1", port), timeout=5)
            sock.sendall(b"GET /healthz HTTP/1.1\r\nHost: 127.0.0.1\r\nX-Slow: ")
            slow.append(sock)
        feeder = threading.Thread(target=trickle, daemon=True)
        feeder.start()
        try:
            for _ in range(4):
                started = time.monotonic()
                answer = requests.get(f"{url}/healthz", timeout=5)
                assert answer.status_code == 200
                assert time.monotonic() - started < 2.0
                time.sleep(1.0)
            # The header timeout (6 s from connecting) has ended every slow connection.
            time.sleep(max(0.0, 8.0 - 4 * 1.0))
            closed = 0
            for sock in slow:
                sock.settimeout(0.5)
                try:
                    closed += sock.recv(1024) == b"" or sock.recv(1024) == b""
                except (TimeoutError, OSError) as exc:
                    closed += not isinstance(exc, TimeoutError)
            assert closed == len(slow)
        finally:
            stop.set()
            feeder.join(timeout=5)
            for sock in slow:
                sock.close()


def test_serve_refuses_oversized_headers_and_bodies_without_a_500(tmp_path):
    """The request limits: headers above IDP_MAX_HEADER_BYTES and form bodies above the
    app's 64 KiB are refused with a 4xx (or a closed connection), never a 500."""
    with _serve(tmp_path, "--workers=1", IDP_MAX_HEADER_BYTES="16384") as (url, _):
        try:
            big = requests.get(f"{url}/healthz", headers={"X-Big": "a" * 40_000}, timeout=5)
            assert 400 <= big.status_code < 500
        except requests.ConnectionError:
            pass  # closed before an answer: refused all the same
        body = requests.post(f"{url}/healthz", data={"x": "a" * 200_000}, timeout=5)
        assert 400 <= body.status_code < 500
        assert requests.get(f"{url}/healthz", timeout=5).status_code == 200


_HASH_FROM_MANY_THREADS = """
import threading
from idp import create_app
from idp.services import passwords

def rss():
    with open("/proc/self/status") as status:
        return int(status.read().split("VmRSS:")[1].split()[0]) // 1024

app = create_app({"instance_path": %(tmp)r})
with app.app_context():
    hashed = passwords.hash_password("a password")
before = rss()
names = set()

def work():
    with app.app_context():
        for _ in range(3):
            assert passwords.verify_password(hashed, "a password")
        names.add(passwords._on_hashing_thread(lambda: threading.current_thread().name))

threads = [threading.Thread(target=work) for _ in range(8)]
for t in threads:
    t.start()
for t in threads:
    t.join()
print(rss() - before, sorted(names))
"""


def test_password_hashing_memory_is_bounded_per_process(tmp_path):
    """Eight request threads verifying passwords grow a process by about one argon2 block
    (19 MiB), not eight: every hash of a process runs on its one hashing thread."""
    done = subprocess.run(
        [sys.executable, "-c", _HASH_FROM_MANY_THREADS % {"tmp": str(tmp_path)}],
        capture_output=True,
        text=True,
        timeout=120,
        check=True,
        cwd=Path(__file__).resolve().parent.parent,
    )
    grown, names = done.stdout.split(" ", 1)
    assert names.strip() == "['argon2_0']"
    assert int(grown) < 2 * 19, done.stdout
