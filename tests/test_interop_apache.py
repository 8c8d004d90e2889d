"""Interop with off-the-shelf relying-party software: Apache httpd with mod_auth_openidc (Debian's
``libapache2-mod-auth-openidc``), the way an operator puts two-factor sign-in in front of an
app that has none. Apache does discovery, PKCE, the code exchange and ID-token validation
(signature against the JWKS, iss, aud, nonce, exp) by its own rules, then passes the claims to
a CGI script that prints them; ``Require claim acr:2`` lets only two-factor sign-ins through.
"""

from __future__ import annotations

import os
import shutil
import socket
import subprocess
import tempfile
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from urllib.parse import urljoin

import pytest
import requests

from tests.helpers import Browser, Page, totp_code

pytestmark = pytest.mark.interop

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
LogLevel warn
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

    def log(self) -> str:
        path = self.root / "error.log"
        return path.read_text() if path.exists() else ""


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def _start(realm, response_mode: str) -> tuple[Apache, Path]:
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
    port = _free_port()
    client_id, client_secret = realm.client(
        redirect_uri=f"http://127.0.0.1:{port}/app/redirect_uri",
        post_logout=f"http://127.0.0.1:{port}/",
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
        )
    )
    subprocess.run([APACHE, "-f", str(conf), "-k", "start"], check=True, timeout=30)
    url = f"http://127.0.0.1:{port}"
    for _ in range(100):
        try:
            requests.get(f"{url}/", timeout=1)
            break
        except requests.ConnectionError:
            time.sleep(0.05)
    return Apache(url, root, response_mode), conf


@pytest.fixture(params=["query", "form_post"])
def apache(request, realm) -> Iterator[Apache]:
    running, conf = _start(realm, request.param)
    try:
        yield running
    finally:
        subprocess.run([APACHE, "-f", str(conf), "-k", "stop"], timeout=30, check=False)
        for _ in range(100):
            if not (running.root / "httpd.pid").exists():
                break
            time.sleep(0.05)
        shutil.rmtree(running.root, ignore_errors=True)


def _claims(text: str) -> dict[str, str]:
    pairs = (line.split("=", 1) for line in text.splitlines() if "=" in line)
    return {key.removeprefix("OIDC_CLAIM_"): value for key, value in pairs}


def _back_to_apache(browser: Browser, apache: Apache, page: Page) -> requests.Response:
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


def _open(browser: Browser, apache: Apache, path: str) -> Page:
    """Ask Apache for a protected page; it sends the browser to the provider's sign-in."""
    first = browser.session.get(f"{apache.url}{path}", allow_redirects=False)
    assert first.status_code == 302, (first.status_code, first.text, apache.log())
    page = browser.get(first.headers["Location"])
    assert page.status == 200, page.text
    return page


def test_apache_mod_auth_openidc_signs_a_user_in_with_password(realm, apache):
    user = realm.user()
    browser = realm.browser()
    page = _open(browser, apache, "/app/whoami")
    page = browser.submit(page, {"email": user.email, "password": user.password})
    resp = _back_to_apache(browser, apache, page)
    assert resp.status_code == 200, (resp.text, apache.log())
    claims = _claims(resp.text)
    assert claims["REMOTE_USER"] == user.email
    assert claims["iss"] == realm.issuer and claims["sub"] == user.sub
    assert claims["amr"] == "pwd" and claims["acr"] == "1"
    # Apache's own rule keeps a password-only sign-in out of the two-factor area (T1: acr 1).
    refused = browser.session.get(f"{apache.url}/mfa/whoami", allow_redirects=False)
    assert refused.status_code in (401, 403), refused.text
    assert user.email not in refused.text


def test_apache_lets_a_two_factor_sign_in_into_the_acr_2_area(realm, apache):
    """SPEC T1 as an RP enforces it: after password and security code the ID token says acr
    "2" and amr pwd+otp+mfa, and ``Require claim acr:2`` lets the user in."""
    user = realm.user(with_totp=True)
    browser = realm.browser()
    page = _open(browser, apache, "/mfa/whoami")
    page = browser.submit(page, {"email": user.email, "password": user.password})
    assert page.status == 200 and "Security code" in page.text, page.text
    page = browser.submit(page, {"code": totp_code(user.totp_secret)})
    resp = _back_to_apache(browser, apache, page)
    assert resp.status_code == 200, (resp.text, apache.log())
    claims = _claims(resp.text)
    assert claims["REMOTE_USER"] == user.email
    assert claims["acr"] == "2"
    assert claims["amr"].split(",") == ["pwd", "otp", "mfa"]
