"""The example relying party (clients/flask_rp.py) and ``make run``'s banner (issue 8,
"Connecting an app"): the banner prints the exact command that starts the example against
this provider, and that command, run as printed by a shell, signs a user in and out over
real HTTP, with the provider on a port other than 5000. Without its settings, or against an
issuer that does not answer, the example refuses to start instead of talking to whatever
serves port 5000."""

from __future__ import annotations

import os
import re
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
RP_URL = "http://127.0.0.1:8000"  # where the demo client's redirect URI points


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def _port_taken(port: int) -> bool:
    with socket.socket() as sock:
        return sock.connect_ex(("127.0.0.1", port)) == 0


def _env(**extra: str) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith(("IDP_", "RP_"))}
    return env | extra


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


def _stop(proc: subprocess.Popen) -> str:
    if proc.poll() is None:
        os.killpg(proc.pid, signal.SIGTERM)
    out, _ = proc.communicate(timeout=20)
    return out


def _read_banner(proc: subprocess.Popen) -> list[str]:
    """The lines ``idp dev`` prints before it serves, up to its closing note."""
    lines: list[str] = []
    for line in proc.stdout:
        lines.append(line.rstrip("\n"))
        if "never use them in production" in line:
            return lines
    raise AssertionError("idp dev ended before its banner:\n" + "\n".join(lines))


@pytest.fixture
def dev_provider(tmp_path: Path) -> Iterator[tuple[str, list[str]]]:
    """``idp dev`` (what ``make run`` runs) in the checkout, on a port of its own (as with
    ``IDP_PORT=5001 make run``); yields its base URL and its banner."""
    port = _free_port()
    proc = subprocess.Popen(
        [IDP, "dev"],
        cwd=ROOT,
        env=_env(IDP_PORT=str(port), IDP_INSTANCE_PATH=str(tmp_path / "instance")),
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        stdin=subprocess.DEVNULL,
        text=True,
        start_new_session=True,
    )
    try:
        banner = _read_banner(proc)
        base = f"http://127.0.0.1:{port}"
        _wait_for(f"{base}/healthz", proc)
        yield base, banner
    finally:
        _stop(proc)


def test_banner_command_starts_the_example_app_that_signs_in_against_this_provider(
    dev_provider: tuple[str, list[str]],
) -> None:
    base, banner = dev_provider
    if _port_taken(8000):
        pytest.skip("port 8000 (the demo client's redirect URI) is in use on this machine")
    text = "\n".join(banner)
    # The default base URL names localhost, not 127.0.0.1 (issue 10: browsers refuse
    # WebAuthn on an IP-address origin).
    issuer = f"{base.replace('127.0.0.1', 'localhost')}/realms/main"
    assert f"Issuer:          {issuer}" in text
    (admin_password,) = re.findall(r"Demo admin:\s+admin@example\.com / (\S+)", text)
    (index,) = [i for i, line in enumerate(banner) if line.strip().startswith("Example app:")]
    command = banner[index + 1].strip()
    assert f"RP_ISSUER={issuer} " in command and "clients/flask_rp.py" in command
    # Another name for the same host is another issuer: refused at start-up, not at sign-in.
    wrong = subprocess.run(  # noqa: S602 - the printed command line with another issuer
        command.replace(
            f"RP_ISSUER={issuer}", f"RP_ISSUER={issuer.replace('localhost', '127.0.0.1')}"
        ),
        shell=True,
        cwd=ROOT,
        env=_env(),
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert wrong.returncode != 0 and f"names the issuer '{issuer}'" in wrong.stderr, wrong.stderr
    # The command exactly as printed, by a shell in the checkout (where `make run` runs).
    rp = subprocess.Popen(  # noqa: S602 - the printed command line, as a developer pastes it
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
    try:
        _wait_for(f"{RP_URL}/healthz", rp)
        browser = Browser("http://")
        page = browser.get(f"{RP_URL}/login")
        assert page.url.startswith(f"{issuer}/login/"), page.url  # the provider on its port
        home = browser.submit(page, {"email": "admin@example.com", "password": admin_password})
        assert home.url == f"{RP_URL}/", home.url
        assert "Signed in as admin@example.com" in home.text
        assert "[&#39;pwd&#39;]" in home.text  # amr, from the verified ID token
        assert "email_verified</th><td>True" in home.text
        # Single sign-out (issue 17): the user signs out at the provider, on its account
        # page; `idp dev`'s sender POSTs a logout token to the example app's back-channel
        # URI (registered for the demo client), and the app forgets its session.
        account = browser.get(f"{issuer}/account/")
        assert "Account settings" in account.text, account.text
        browser.submit(account, action="/account/sign-out")
        deadline = time.monotonic() + 30
        while "Signed in as" in browser.get(f"{RP_URL}/").text:
            assert time.monotonic() < deadline, "the example app was not told"
            time.sleep(0.5)
        page = browser.get(f"{RP_URL}/login")
        assert page.url.startswith(f"{issuer}/login/"), page.url  # signed out there too
        home = browser.submit(page, {"email": "admin@example.com", "password": admin_password})
        assert "Signed in as admin@example.com" in home.text
        # RP-initiated logout ends the provider's session and comes back to the app.
        out = browser.get(f"{RP_URL}/logout")
        if out.url.startswith(issuer):  # a confirmation page, if the provider shows one
            out = browser.submit(out)
        assert out.url == f"{RP_URL}/" and "Sign in" in out.text
        again = browser.get(f"{RP_URL}/login")
        assert again.url.startswith(f"{issuer}/login/")  # the password again: signed out
    finally:
        log = _stop(rp)
    assert "Traceback" not in log, log


def test_example_app_refuses_to_start_without_its_settings() -> None:
    done = subprocess.run(
        [sys.executable, str(ROOT / "clients" / "flask_rp.py")],
        env=_env(RP_CLIENT_SECRET="x"),
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert done.returncode != 0
    assert "RP_ISSUER is not set" in done.stderr and "Traceback" not in done.stderr


def test_example_app_refuses_an_issuer_that_does_not_answer() -> None:
    """A wrong issuer (nothing there, or another provider) is said at start-up."""
    issuer = f"http://127.0.0.1:{_free_port()}/realms/main"
    done = subprocess.run(
        [sys.executable, str(ROOT / "clients" / "flask_rp.py")],
        env=_env(RP_ISSUER=issuer, RP_CLIENT_SECRET="x", RP_PORT=str(_free_port())),
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert done.returncode != 0
    assert f"cannot read {issuer}/.well-known/openid-configuration" in done.stderr
    assert "Traceback" not in done.stderr
