"""``idp serve`` (the production server) started as a subprocess on a fresh SQLite instance."""

from __future__ import annotations

import contextlib
import os
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import requests

IDP = str(Path(sys.executable).parent / "idp")


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
        return port


@contextlib.contextmanager
def serve_idp(tmp_path: Path, *options: str, **env: str) -> Iterator[tuple[str, int]]:
    """``idp serve`` on a fresh SQLite instance (made by ``idp db upgrade`` first, as the
    image's entry command does: ``idp serve`` makes no installation); yields its URL and pid
    once it answers."""
    port = free_port()
    environ = {k: v for k, v in os.environ.items() if not k.startswith("IDP_")}
    environ |= {
        "IDP_INSTANCE_PATH": str(tmp_path / "instance"),
        "IDP_DATABASE_URL": f"sqlite:///{tmp_path / 'serve.sqlite3'}",
        "IDP_PORT": str(port),
        **env,
    }
    made = subprocess.run(  # our own command
        [IDP, "db", "upgrade"], env=environ, capture_output=True, text=True, timeout=120
    )
    assert made.returncode == 0, made.stderr
    log = (tmp_path / "serve.log").open("wb")
    proc = subprocess.Popen(
        [IDP, "serve", *options],
        env=environ,
        stdout=log,
        stderr=subprocess.STDOUT,
        stdin=subprocess.DEVNULL,
        start_new_session=True,
    )
    url = f"http://127.0.0.1:{port}"
    try:
        deadline = time.monotonic() + 30
        while True:
            with contextlib.suppress(requests.ConnectionError):
                if requests.get(f"{url}/healthz", timeout=2).status_code == 200:
                    break
            assert proc.poll() is None and time.monotonic() < deadline, "idp serve did not start"
            time.sleep(0.1)
        yield url, proc.pid
    finally:
        proc.terminate()
        try:
            proc.wait(timeout=45)
        except subprocess.TimeoutExpired:
            os.killpg(proc.pid, 9)
            proc.wait(timeout=10)
            raise AssertionError(
                "idp serve did not stop on SIGTERM:\n" + (tmp_path / "serve.log").read_text()
            ) from None
        finally:
            log.close()
