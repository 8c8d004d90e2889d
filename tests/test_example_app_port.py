"""The example app on another port (issue 15, "First use"): ``RP_PORT=N make run`` registers
the example app's redirect URI on port N for the demo client and prints the command that
starts it there, and that command, run as printed, signs in through the callback instead of
"redirect_uri is not registered". The banner also prints the exact ``idp client add`` for a
client of the example app's own on another port. An example app started on a port the
provider does not know refuses to start and says what to do, rather than fail at sign-in."""

from __future__ import annotations

import os
import re
import shlex
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import pytest
import requests

from tests.helpers import Browser

pytestmark = pytest.mark.slow

ROOT = Path(__file__).resolve().parent.parent
IDP = str(Path(sys.executable).parent / "idp")


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def _env(**extra: str) -> dict[str, str]:
    """A developer's shell (PYTHONPATH passes), without the provider's or the app's settings."""
    env = {k: v for k, v in os.environ.items() if not k.startswith(("IDP_", "RP_"))}
    return env | extra


def _stop(proc: subprocess.Popen) -> str:
    if proc.poll() is None:
        os.killpg(proc.pid, signal.SIGTERM)
    out, _ = proc.communicate(timeout=20)
    return out


def _start(command: str) -> subprocess.Popen:
    return subprocess.Popen(  # noqa: S602 - a printed command line, as a developer pastes it
        command,
        shell=True,
        cwd=ROOT,
        env=_env(),
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        stdin=subprocess.DEVNULL,
        text=True,
        start_new_session=True,
    )


def _wait_for(url: str, proc: subprocess.Popen, seconds: float = 30) -> None:
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            raise AssertionError(f"{proc.args!r} ended early:\n{proc.stdout.read()}")
        try:
            if requests.get(url, timeout=2).status_code == 200:
                return
        except requests.ConnectionError:
            pass
        time.sleep(0.1)
    raise AssertionError(f"{url} did not answer")


class DevProvider:
    def __init__(self, base: str, banner: list[str], rp_port: int) -> None:
        self.base, self.banner, self.rp_port = base, banner, rp_port
        self.text = "\n".join(banner)
        self.issuer = f"{base.replace('127.0.0.1', 'localhost')}/realms/main"
        (self.admin_password,) = re.findall(r"Demo admin:\s+admin@example\.com / (\S+)", self.text)
        (self.secret,) = re.findall(r"Demo client:.*client_secret=(\S+)", self.text)

    def line_after(self, label: str) -> str:
        (index,) = [i for i, line in enumerate(self.banner) if line.strip().startswith(label)]
        return self.banner[index]

    def command_after(self, label: str) -> str:
        """The first command line (indented by four) after the line that starts with label."""
        (index,) = [i for i, line in enumerate(self.banner) if line.strip().startswith(label)]
        return next(
            line.strip()
            for line in self.banner[index + 1 :]
            if line.startswith("    ") and not line.startswith("     ")
        )


@pytest.fixture
def dev_provider(tmp_path: Path) -> Iterator[DevProvider]:
    """``RP_PORT=N make run``: ``idp dev`` in the checkout with the example app's port."""
    port, rp_port = _free_port(), _free_port()
    proc = subprocess.Popen(
        [IDP, "dev"],
        cwd=ROOT,
        env=_env(
            IDP_PORT=str(port), IDP_INSTANCE_PATH=str(tmp_path / "instance"), RP_PORT=str(rp_port)
        ),
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        stdin=subprocess.DEVNULL,
        text=True,
        start_new_session=True,
    )
    try:
        banner: list[str] = []
        for line in proc.stdout:
            banner.append(line.rstrip("\n"))
            if "never use them in production" in line:
                break
        else:
            raise AssertionError("idp dev ended before its banner:\n" + "\n".join(banner))
        base = f"http://127.0.0.1:{port}"
        _wait_for(f"{base}/healthz", proc)
        yield DevProvider(base, banner, rp_port)
    finally:
        _stop(proc)


def _signs_in(rp_url: str, provider: DevProvider) -> None:
    browser = Browser("http://")
    page = browser.get(f"{rp_url}/login")
    assert page.url.startswith(f"{provider.issuer}/login/"), (page.url, page.text[:500])
    home = browser.submit(page, {"email": "admin@example.com", "password": provider.admin_password})
    assert home.url == f"{rp_url}/", home.url  # through the callback, back home
    assert "Signed in as admin@example.com" in home.text


def test_the_printed_command_for_another_port_signs_in_through_the_callback(
    dev_provider: DevProvider,
) -> None:
    rp_url = f"http://127.0.0.1:{dev_provider.rp_port}"
    assert f"redirect_uri={rp_url}/callback" in dev_provider.text
    assert "redirect_uri=http://127.0.0.1:8000/callback" in dev_provider.text  # still
    assert dev_provider.line_after("Example app:").split()[2] == f"{rp_url}/"
    command = dev_provider.command_after("Example app:")
    assert f"RP_PORT={dev_provider.rp_port} " in command, command
    rp = _start(command)
    try:
        _wait_for(f"{rp_url}/healthz", rp)
        _signs_in(rp_url, dev_provider)
    finally:
        log = _stop(rp)
    assert "Traceback" not in log, log


def test_the_printed_client_add_registers_the_example_app_on_another_port(
    dev_provider: DevProvider,
) -> None:
    command = dev_provider.command_after("Another port:")
    (port,) = re.findall(r"--redirect-uri http://127\.0\.0\.1:(\d+)/callback", command)
    assert f"RP_PORT={port} make run" in dev_provider.line_after("Another port:")
    added = subprocess.run(  # noqa: S602 - the printed command line
        command, shell=True, cwd=ROOT, env=_env(), capture_output=True, text=True, timeout=60
    )
    assert added.returncode == 0, added.stderr
    (client_id,) = re.findall(r"client_id: (\S+)", added.stdout)
    (secret,) = re.findall(r"client_secret: (\S+)", added.stdout)
    with socket.socket() as sock:
        if sock.connect_ex(("127.0.0.1", int(port))) == 0:
            pytest.skip(f"port {port} (the printed example) is in use on this machine")
    rp = _start(
        " ".join(
            [
                f"RP_ISSUER={dev_provider.issuer}",
                f"RP_CLIENT_ID={shlex.quote(client_id)}",
                f"RP_CLIENT_SECRET={shlex.quote(secret)}",
                f"RP_PORT={port}",
                shlex.quote(sys.executable),
                "clients/flask_rp.py",
            ]
        )
    )
    try:
        _wait_for(f"http://127.0.0.1:{port}/healthz", rp)
        _signs_in(f"http://127.0.0.1:{port}", dev_provider)
    finally:
        _stop(rp)


def test_the_example_app_on_an_unknown_port_refuses_to_start_and_says_why(
    dev_provider: DevProvider,
) -> None:
    other = _free_port()
    done = subprocess.run(
        [sys.executable, str(ROOT / "clients" / "flask_rp.py")],
        env=_env(
            RP_ISSUER=dev_provider.issuer, RP_CLIENT_SECRET=dev_provider.secret, RP_PORT=str(other)
        ),
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert done.returncode != 0 and "Traceback" not in done.stderr, done.stderr
    assert f"does not accept the redirect URI http://127.0.0.1:{other}/callback" in done.stderr
    assert f"RP_PORT={other} make run" in done.stderr, done.stderr
    with socket.socket() as sock:  # it did not start
        assert sock.connect_ex(("127.0.0.1", other)) != 0
