"""Test helpers: a form-following HTTP browser and code arithmetic.

The browser speaks real HTTP to the live server (requests), keeps cookies, follows redirects
on the provider and stops at the first redirect that leaves it (the relying party)."""

from __future__ import annotations

import subprocess
import time
from dataclasses import dataclass, field
from html.parser import HTMLParser
from pathlib import Path
from typing import Any
from urllib.parse import parse_qs, urljoin, urlsplit

import pyotp
import requests

from idp import clock


class _Forms(HTMLParser):
    def __init__(self) -> None:
        super().__init__()
        self.forms: list[dict[str, Any]] = []
        self._form: dict[str, Any] | None = None
        self.links: list[tuple[str, str]] = []
        self._a: str | None = None
        self._text: list[str] = []

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        a = dict(attrs)
        if tag == "form":
            self._form = {
                "action": a.get("action") or "",
                "method": (a.get("method") or "get").lower(),
                "fields": [],
            }
            self.forms.append(self._form)
        elif tag == "input" and self._form is not None:
            self._form["fields"].append((a.get("name"), a.get("value") or "", a.get("type")))
        elif tag == "a":
            self._a = a.get("href")
            self._text = []

    def handle_data(self, data: str) -> None:
        if self._a is not None:
            self._text.append(data)

    def handle_endtag(self, tag: str) -> None:
        if tag == "form":
            self._form = None
        elif tag == "a" and self._a is not None:
            self.links.append(("".join(self._text).strip(), self._a))
            self._a = None


@dataclass
class Page:
    response: requests.Response
    forms: list[dict[str, Any]] = field(default_factory=list)
    links: list[tuple[str, str]] = field(default_factory=list)

    @property
    def status(self) -> int:
        return self.response.status_code

    @property
    def text(self) -> str:
        return self.response.text

    @property
    def url(self) -> str:
        return self.response.url

    def link(self, text: str) -> str:
        for label, href in self.links:
            if label == text:
                return urljoin(self.url, href)
        raise AssertionError(f"no link {text!r} on {self.url}: {self.links}")


class Browser:
    """A cookie-keeping client that stops at redirects leaving ``home``."""

    def __init__(self, home: str) -> None:
        self.home = home
        self.session = requests.Session()
        self.left_to: str | None = None

    def _follow(self, resp: requests.Response) -> Page:
        hops = 0
        while resp.is_redirect and hops < 20:
            target = urljoin(resp.url, resp.headers["Location"])
            if not target.startswith(self.home):
                self.left_to = target
                break
            resp = self.session.get(target, allow_redirects=False, timeout=30)
            hops += 1
        parser = _Forms()
        if "html" in resp.headers.get("Content-Type", ""):
            parser.feed(resp.text)
        return Page(resp, parser.forms, parser.links)

    def get(self, url: str) -> Page:
        self.left_to = None
        return self._follow(self.session.get(url, allow_redirects=False, timeout=30))

    def submit(
        self,
        page: Page,
        data: dict[str, str] | None = None,
        *,
        action: str | None = None,
        raw: list[tuple[str, str]] | None = None,
    ) -> Page:
        """Submit a form of the page with its hidden fields: the last form other than the
        menu's sign-out, or the one whose action contains ``action``. ``raw`` replaces the
        non-CSRF fields with exactly these pairs (to send repeated fields)."""
        self.left_to = None
        forms = [f for f in page.forms if not f["action"].endswith("/account/sign-out")]
        if action is not None:
            forms = [f for f in page.forms if action in f["action"]]
        assert forms, f"no form on {page.url}"
        form = forms[-1]
        fields = [(n, v) for n, v, t in form["fields"] if n and t == "hidden"]
        if raw is not None:
            fields = [(n, v) for n, v in fields if n == "csrf_token"] + raw
        for key, value in (data or {}).items():
            fields = [(n, v) for n, v in fields if n != key] + [(key, value)]
        url = urljoin(page.url, form["action"] or page.url)
        if form["method"] == "post":
            resp = self.session.post(url, data=fields, allow_redirects=False, timeout=30)
        else:
            resp = self.session.get(url, params=fields, allow_redirects=False, timeout=30)
        return self._follow(resp)

    def callback_params(self) -> dict[str, str]:
        assert self.left_to, "the browser did not leave the provider"
        return {k: v[0] for k, v in parse_qs(urlsplit(self.left_to).query).items()}


def totp_code(secret: str, step_offset: int = 0) -> str:
    return pyotp.TOTP(secret).at(clock.timestamp() + 30 * step_offset)


def wait_for_step_room(seconds: float = 4.0) -> None:
    """Sleep into the next 30 s step if fewer than ``seconds`` are left in this one, so a
    test that relies on a code being (or not being) in the window does not race a boundary."""
    left = 30 - time.time() % 30
    if left < seconds:
        time.sleep(left + 0.05)


def current_step() -> int:
    return int(time.time() // 30)


def npm_ci(folder: Path, needed: str) -> None:
    """Install ``folder``'s locked npm packages unless ``needed`` (a path inside
    node_modules) is already there."""
    import shutil
    import subprocess

    if (folder / "node_modules" / needed).exists():
        return
    npm = shutil.which("npm")
    assert npm and shutil.which("node"), "Node.js 20+ and npm are needed for this test"
    subprocess.run(
        [npm, "ci", "--no-audit", "--no-fund"],
        cwd=folder,
        check=True,
        timeout=300,
        capture_output=True,
    )


def run_idp(server: Any, *args: str, stdin: str | None = None) -> subprocess.CompletedProcess[str]:
    """Run the ``idp`` command in a subprocess against the live server's database and
    instance folder, as an operator on the same host would."""
    import os
    import sys
    from pathlib import Path

    settings = server.app.extensions["idp.settings"]
    env = {
        **os.environ,
        "IDP_DATABASE_URL": settings.database_url,
        "IDP_INSTANCE_PATH": settings.instance_path,
        "IDP_BASE_URL": server.url,
    }
    return subprocess.run(  # our own command, fixed arguments
        [str(Path(sys.executable).parent / "idp"), *args],
        input=stdin,
        capture_output=True,
        text=True,
        env=env,
        timeout=60,
        check=False,
    )
