"""Apache httpd with mod_auth_openidc (Debian's ``libapache2-mod-auth-openidc``) as a relying
party with OpenID Connect Front-Channel Logout (issue 17): its front-channel logout URI is its
redirect URI with ``?logout=get``, where mod_auth_openidc ends the session of the cookie it
gets, or else the one the ``sid`` and ``iss`` parameters name. ``/app/whoami`` is a page
behind its sign-in (a CGI script printing the claims Apache passes on).
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

import requests

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
OIDCRedirectURI {redirect_uri}
OIDCCryptoPassphrase {passphrase}
OIDCScope "openid email profile"
OIDCPKCEMethod S256
OIDCRemoteUserClaim email
ScriptAlias /app/ {root}/cgi/
<Location /app/>
  AuthType openid-connect
  Require valid-user
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
class ApacheApp:
    url: str
    root: Path
    conf: Path
    client_id: str
    redirect_uri: str

    @property
    def frontchannel_logout_uri(self) -> str:
        return f"{self.redirect_uri}?logout=get"

    def log(self) -> str:
        path = self.root / "error.log"
        return path.read_text() if path.exists() else ""

    def stop(self) -> None:
        subprocess.run([APACHE, "-f", str(self.conf), "-k", "stop"], timeout=30, check=False)
        deadline = time.monotonic() + 10
        while (self.root / "httpd.pid").exists() and time.monotonic() < deadline:
            time.sleep(0.05)
        shutil.rmtree(self.root, ignore_errors=True)


def available() -> bool:
    return os.access(APACHE, os.X_OK) and (MODULES / "mod_auth_openidc.so").exists()


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
        return port


def start_apache_app(realm: Any, *, session_required: bool = True) -> ApacheApp:
    """Apache on 127.0.0.1 (a free port), registered in ``realm`` (a
    ``tests.conftest.TestRealm``) with its front-channel logout URI (``iss`` and ``sid``
    added when ``session_required``)."""
    # The tree must be readable by Apache's unprivileged children (pytest's tmp_path is not).
    root = Path(tempfile.mkdtemp(prefix="idp-apache-front-"))
    root.chmod(0o755)
    (root / "cgi").mkdir(mode=0o755)
    script = root / "cgi" / "whoami"
    script.write_text(WHOAMI)
    script.chmod(0o755)
    port = _free_port()
    url = f"http://127.0.0.1:{port}"
    redirect_uri = f"{url}/app/redirect_uri"
    client_id, client_secret = realm.client(
        redirect_uri=redirect_uri,
        post_logout=f"{url}/",
        frontchannel_logout_uri=f"{redirect_uri}?logout=get",
        frontchannel_logout_session_required=session_required,
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
            redirect_uri=redirect_uri,
            passphrase=os.urandom(24).hex(),
        )
    )
    subprocess.run([APACHE, "-f", str(conf), "-k", "start"], check=True, timeout=30)
    app = ApacheApp(url, root, conf, client_id, redirect_uri)
    deadline = time.monotonic() + 10
    while True:
        try:
            requests.get(f"{url}/", timeout=1)
            return app
        except requests.ConnectionError:
            if time.monotonic() > deadline:
                app.stop()
                raise
            time.sleep(0.05)
