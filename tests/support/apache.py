"""Apache httpd with mod_auth_openidc (Debian's ``libapache2-mod-auth-openidc``) in front of a
CGI script that prints what the module passes on, as an operator runs it: started as a real
process on a free loopback port, configured for one client of a realm, stopped afterwards.
The interop tests (sign-in, issue 17's back-channel logout) share it.

mod_auth_openidc answers its redirect URI itself: the code (``?code=...``), RP-initiated
logout (``?logout=<url>``, to the provider's end_session_endpoint with the session's
``id_token_hint``) and Back-Channel Logout 1.0 (``POST ?logout=backchannel``, which needs
its server-side session cache, the default ``OIDCSessionType server-cache``).
"""

from __future__ import annotations

import os
import shutil
import socket
import subprocess
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any
from urllib.parse import quote, urljoin

import pytest
import requests

from tests.helpers import Browser, Page

APACHE = "/usr/sbin/apache2"
MODULES = Path("/usr/lib/apache2/modules")

WHOAMI = """#!/bin/sh
echo "Content-Type: text/plain"
echo
env | grep -E '^(OIDC_CLAIM_[a-z_]+|REMOTE_USER)=' | sort
"""

CONFIG = """\
ServerRoot {root}
PidFile {root}/httpd.pid
Listen 127.0.0.1:{port}
ServerName 127.0.0.1
{modules}
ErrorLog {root}/error.log
LogLevel {log_level}
{user}
OIDCProviderMetadataURL {issuer}/.well-known/openid-configuration
OIDCClientID {client_id}
OIDCClientSecret {client_secret}
OIDCRedirectURI http://127.0.0.1:{port}/app/redirect_uri
OIDCCryptoPassphrase {passphrase}
OIDCScope "openid email profile"
OIDCPKCEMethod S256
OIDCResponseMode {response_mode}
OIDCRemoteUserClaim email
OIDCProviderAuthRequestMethod GET
ScriptAlias /app/ {root}/cgi/
ScriptAlias /mfa/ {root}/cgi/
<Location /app/>
  AuthType openid-connect
  Require valid-user
</Location>
<Location /mfa/>
  AuthType openid-connect
  Require claim acr:2
</Location>
"""

NEEDED = [
    ("mpm_prefork_module", "mod_mpm_prefork.so"),
    ("authn_core_module", "mod_authn_core.so"),
    ("authz_core_module", "mod_authz_core.so"),
    ("authz_user_module", "mod_authz_user.so"),
    ("alias_module", "mod_alias.so"),
    ("cgi_module", "mod_cgi.so"),
    ("auth_openidc_module", "mod_auth_openidc.so"),
]


@dataclass
class Apache:
    url: str
    root: Path
    response_mode: str
    conf: Path
    client_id: str
    client_secret: str | None

    @property
    def redirect_uri(self) -> str:
        return f"{self.url}/app/redirect_uri"

    @property
    def backchannel_logout_uri(self) -> str:
        """Where mod_auth_openidc takes logout tokens: its redirect URI, ``logout=backchannel``."""
        return f"{self.redirect_uri}?logout=backchannel"

    @property
    def frontchannel_logout_uri(self) -> str:
        """Where mod_auth_openidc takes front-channel logout: its redirect URI,
        ``logout=get`` (it ends the session of the cookie it gets, or else the one the
        ``iss`` and ``sid`` parameters name)."""
        return f"{self.redirect_uri}?logout=get"

    @property
    def post_logout(self) -> str:
        return f"{self.url}/"

    def logout_url(self) -> str:
        """The module's RP-initiated logout: it ends its session and sends the browser to the
        provider's end_session_endpoint with the ID token as ``id_token_hint``."""
        return f"{self.redirect_uri}?logout={quote(self.post_logout, safe='')}"

    def log(self) -> str:
        path = self.root / "error.log"
        return path.read_text() if path.exists() else ""

    def stop(self) -> None:
        subprocess.run([APACHE, "-f", str(self.conf), "-k", "stop"], timeout=30, check=False)
        deadline = time.monotonic() + 10
        while (self.root / "httpd.pid").exists() and time.monotonic() < deadline:
            time.sleep(0.05)
        shutil.rmtree(self.root, ignore_errors=True)


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
        return port


def start_apache(
    realm: Any,
    *,
    response_mode: str = "query",
    backchannel: bool = False,
    frontchannel: bool = False,
    log_level: str = "warn",
) -> Apache:
    """Register a client of ``realm`` (a ``TestRealm``) for a new Apache and start it; with
    ``backchannel`` the client registers the module's back-channel logout URI, with
    ``frontchannel`` its front-channel logout URI (``iss`` and ``sid`` required)."""
    if not (os.access(APACHE, os.X_OK) and (MODULES / "mod_auth_openidc.so").exists()):
        pytest.fail(
            "Apache with mod_auth_openidc is missing: "
            "apt-get install apache2 libapache2-mod-auth-openidc"
        )
    # The tree must be readable by Apache's unprivileged children (pytest's tmp_path is not).
    root = Path(tempfile.mkdtemp(prefix="idp-apache-"))
    root.chmod(0o755)
    (root / "cgi").mkdir(mode=0o755)
    script = root / "cgi" / "whoami"
    script.write_text(WHOAMI)
    script.chmod(0o755)
    port = free_port()
    url = f"http://127.0.0.1:{port}"
    extra: dict[str, Any] = {}
    if backchannel:
        extra["backchannel_logout_uri"] = f"{url}/app/redirect_uri?logout=backchannel"
    if frontchannel:
        extra["frontchannel_logout_uri"] = f"{url}/app/redirect_uri?logout=get"
        extra["frontchannel_logout_session_required"] = True
    client_id, client_secret = realm.client(
        redirect_uri=f"{url}/app/redirect_uri", post_logout=f"{url}/", **extra
    )
    conf = root / "httpd.conf"
    conf.write_text(
        CONFIG.format(
            root=root,
            port=port,
            modules="\n".join(f"LoadModule {name} {MODULES / so}" for name, so in NEEDED),
            user="User nobody\nGroup nogroup" if os.geteuid() == 0 else "",
            issuer=realm.issuer,
            client_id=client_id,
            client_secret=client_secret,
            passphrase=os.urandom(24).hex(),
            response_mode=response_mode,
            log_level=log_level,
        )
    )
    subprocess.run([APACHE, "-f", str(conf), "-k", "start"], check=True, timeout=30)
    deadline = time.monotonic() + 10
    while True:
        try:
            requests.get(f"{url}/", timeout=1)
            break
        except requests.ConnectionError:
            if time.monotonic() > deadline:
                raise
            time.sleep(0.05)
    return Apache(url, root, response_mode, conf, client_id, client_secret)


def printed_claims(text: str) -> dict[str, str]:
    """The claims the CGI script printed (``OIDC_CLAIM_<name>=value`` lines, and
    ``REMOTE_USER``)."""
    pairs = (line.split("=", 1) for line in text.splitlines() if "=" in line)
    return {key.removeprefix("OIDC_CLAIM_"): value for key, value in pairs}


def back_to_apache(browser: Browser, apache: Apache, page: Page) -> requests.Response:
    """Follow the provider's answer into Apache: a redirect (query mode) or the form-post page
    (submitted as the page's Continue button would), then Apache's own redirects."""
    assert (browser.left_to is None) == (apache.response_mode == "form_post"), page.text
    if browser.left_to is None:
        (form,) = page.forms
        fields = [(n, v) for n, v, kind in form["fields"] if kind == "hidden"]
        assert {n for n, _ in fields} >= {"code", "state", "iss"}, page.text
        resp = browser.session.post(form["action"], data=fields, allow_redirects=False)
    else:
        resp = browser.session.get(browser.left_to, allow_redirects=False)
    for _ in range(5):
        if not resp.is_redirect:
            break
        resp = browser.session.get(urljoin(resp.url, resp.headers["Location"]))
    return resp


def open_protected(browser: Browser, apache: Apache, path: str) -> Page:
    """Ask Apache for a protected page; it sends the browser to the provider's sign-in."""
    first = browser.session.get(f"{apache.url}{path}", allow_redirects=False)
    assert first.status_code == 302, (first.status_code, first.text, apache.log())
    page = browser.get(first.headers["Location"])
    assert page.status == 200, page.text
    return page
